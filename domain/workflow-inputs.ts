/**
 * The inputs the workflows start with: ids, choices and business durations, never personal data.
 * Plain values, so the database layer (which writes them to the outbox) and the workflows share them.
 */
import type { EnrollmentKind, InviteChannel, Ownership } from './kinds.js';

/** Everything a workflow needs to run: ids, choices and business durations, never personal data. */
export interface EnrollmentWorkflowInput {
  enrollmentId: string;
  /** null while the user has still to choose (ownership `user_choice`) */
  enrollmentType: EnrollmentKind | null;
  ownership: Ownership;
  channel: InviteChannel;
  /** ISO time at which the invite's credentials stop working */
  inviteExpiresAt: string;
  /** reminders, as offsets from the first invite (production: 1 and 3 days) */
  reminderAfterMs: number[];
  /** how long the device has, once the profile is issued, to complete enrollment */
  installWindowMs: number;
  /** disenrollment: how long to wait for the device to confirm removal (production: 1 day) */
  removalWindowMs?: number;
  /** how long a device APNs calls Unregistered (410) stays inactive before it is disenrolled (7 days) */
  unreachableGraceMs?: number;
  /** no contact for this long marks the device inactive (30 days) */
  inactiveAfterMs?: number;
  /** the agent app's deployment: status polling and how long the user has to approve the install */
  agent?: AppDeploymentDurations;
  /** a run continues as new past this many history events (tests lower it) */
  historyEventBudget?: number;
}

export interface AppDeploymentDurations {
  /** agentDeploymentWorkflow (older deployments): status polling */
  pollInitialMs: number;
  pollMaxMs: number;
  /** how long the user has to answer the install prompt (7 days) */
  approvalWindowMs: number;
  /** reminder mails while the prompt waits (daily) */
  reminderEveryMs: number;
  /** appDeploymentWorkflow: the first re-check of an unanswered prompt (10 minutes), doubling... */
  recheckInitialMs?: number;
  /** ...up to this (1 day) */
  recheckMaxMs?: number;
  /** at most this many re-checks per install attempt (11: a week's prompt stays within its action budget) */
  maxRechecks?: number;
  /** waiting for licences: the first reconciling re-check (1 hour), doubling up to `recheckMaxMs` */
  licenceRecheckInitialMs?: number;
  /** continue-as-new once a run's history reaches this many events (1,000) */
  historyBudget?: number;
}

/** Defaults for the durations histories recorded before they were inputs. */
export const lifecycleDefaults = { removalWindowMs: 86_400_000, unreachableGraceMs: 7 * 86_400_000, inactiveAfterMs: 30 * 86_400_000 };
export const agentDefaults: AppDeploymentDurations = { pollInitialMs: 20_000, pollMaxMs: 600_000, approvalWindowMs: 7 * 86_400_000, reminderEveryMs: 86_400_000 };
/** appDeploymentWorkflow's defaults for the durations an older caller does not pass. */
export const appDeploymentDefaults: Required<Omit<AppDeploymentDurations, 'pollInitialMs' | 'pollMaxMs'>> = {
  approvalWindowMs: 7 * 86_400_000,
  reminderEveryMs: 86_400_000,
  recheckInitialMs: 10 * 60_000,
  recheckMaxMs: 86_400_000,
  maxRechecks: 11,
  licenceRecheckInitialMs: 3_600_000,
  historyBudget: 1_000,
};
