/**
 * Workflow message and input definitions shared by the workflow bundle and its callers (API,
 * worker, tests). Imports nothing but @temporalio/workflow and plain types.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { AppEvent, EnrollmentEvent } from '../domain/events.js';
import type { DisplayStatus } from '../domain/lifecycle.js';
import type { EnrollmentKind, InviteChannel, Ownership } from '../domain/kinds.js';

export type { AppEvent, EnrollmentEvent } from '../domain/events.js';
export type { EnrollmentKind, InviteChannel, Ownership } from '../domain/kinds.js';
export { appDeploymentWorkflowId, enrollmentWorkflowId } from '../domain/workflow-ids.js';

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

export const enrollmentEventSignal = defineSignal<[EnrollmentEvent]>('enrollmentEvent');

export interface EnrollmentSnapshot {
  enrollmentId: string;
  status: DisplayStatus;
  enrollmentType: EnrollmentKind | null;
  invitesSent: number;
}

export const enrollmentStatusQuery = defineQuery<EnrollmentSnapshot>('enrollmentStatus');


/**
 * An admin action whose command the API has staged (sealed in Postgres, never in this history).
 * The Update's validator applies the enrollment type's rules; its handler releases the command
 * to the device and pushes.
 */
export interface AdminActionRequest {
  commandUuid: string;
  requestType: string;
  /** from the device's own answers (SecurityInfo / DeviceInformation); user-enrolled devices never are */
  supervised: boolean;
}

export interface AdminActionAccepted {
  commandUuid: string;
  status: 'queued';
}

export const adminActionUpdate = defineUpdate<AdminActionAccepted, [AdminActionRequest]>('adminAction');

/** An app's deployment through Apps and Books (the agent app, or any other), a child of the enrollment workflow. */
export interface AppDeploymentBaseInput extends AppDeploymentDurations {
  enrollmentId: string;
  adamId: string;
  bundleId: string;
}

/** Every app deployment's signal (both workflow types), by workflow id, never by run id. */
export const appEventSignal = defineSignal<[AppEvent]>('agentEvent'); // the name recorded in histories

/** appDeploymentWorkflow's input: ids, durations and, after continue-as-new, the state it carries. */
export interface AppDeploymentInput extends AppDeploymentBaseInput {
  carried?: AppDeploymentState;
}

/** Everything one run hands the next at continue-as-new. */
export interface AppDeploymentState {
  /** this deployment's own prefix for idempotency keys (a later deployment of the same app has another) */
  keyPrefix: string;
  /** install attempts begun */
  attempt: number;
  /** status records and re-checks made, for idempotency keys */
  steps: number;
  stage: AppDeploymentStage;
  /** signals received and not yet handled */
  pending: AppEvent[];
  /** runs so far (1 in the first) */
  run: number;
}

export type AppDeploymentStage =
  | { name: 'license' }
  | { name: 'waiting_for_licences'; checks: number; nextCheckAt: number }
  | {
      name: 'awaiting_device';
      installCommandUuid: string;
      startedAt: number;
      rechecks: number;
      nextCheckAt: number;
      lastReminderAt: number;
      /** the device's latest answer for this attempt */
      deviceStatus: string | null;
    }
  /** a person must act: the admin's sync (or, for `resumeOn` licences_available, new licences or a token) */
  | { name: 'waiting_for_sync'; status: string; resumeOnLicences: boolean };
