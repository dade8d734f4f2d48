/**
 * Workflow message and input definitions shared by the workflow bundle and its callers (API,
 * worker, tests). Imports nothing but @temporalio/workflow and plain types.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { EnrollmentStatus } from './enrollment-machine.js';

export type EnrollmentKind = 'user' | 'device';
export type Ownership = 'personal' | 'corporate' | 'user_choice';
/** How the user was invited; `account`: no invite, the user started from Settings (account-driven). */
export type InviteChannel = 'email' | 'sms' | 'account';

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
  agent?: AgentDurations;
}

export interface AgentDurations {
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
export const agentDefaults: AgentDurations = { pollInitialMs: 20_000, pollMaxMs: 600_000, approvalWindowMs: 7 * 86_400_000, reminderEveryMs: 86_400_000 };
/** appDeploymentWorkflow's defaults for the durations an older caller does not pass. */
export const appDeploymentDefaults: Required<Omit<AgentDurations, 'pollInitialMs' | 'pollMaxMs'>> = {
  approvalWindowMs: 7 * 86_400_000,
  reminderEveryMs: 86_400_000,
  recheckInitialMs: 10 * 60_000,
  recheckMaxMs: 86_400_000,
  maxRechecks: 11,
  licenceRecheckInitialMs: 3_600_000,
  historyBudget: 1_000,
};

/** Events from the portal, devices and admins. They arrive through the Postgres outbox. */
export type EnrollmentEvent =
  | { type: 'portal_authenticated' }
  | { type: 'profile_issued'; enrollmentType: EnrollmentKind; ownership: 'personal' | 'corporate' }
  | { type: 'device_authenticated' }
  | { type: 'token_updated' }
  | { type: 'checked_out' }
  | { type: 'disenroll_requested'; reason: string }
  /** the device acknowledged RemoveProfile of its enrollment profile */
  | { type: 'removal_confirmed' }
  /** an inactive device checked in again */
  | { type: 'device_seen' }
  /** a policy reaching this enrollment was created or changed */
  | { type: 'policies_changed' }
  /** the admin's "sync" of the agent app: restart a stalled or denied deployment */
  | { type: 'agent_sync' }
  /** Apps and Books licences were purchased (admin action or ASSET_COUNT notification) */
  | { type: 'licences_available' }
  /** an Apps and Books app to deploy (Install Application action, Required Apps policy) */
  | { type: 'app_install_requested'; adamId: string; bundleId: string }
  | { type: 'resend_requested' }
  | { type: 'cancel_requested'; reason: string }
  /** an app deployment is stuck on something a person must fix (Apps and Books token expired, revoked or missing) */
  | { type: 'app_attention'; adamId: string; reason: AppAttentionReason }
  /** ...and no longer is */
  | { type: 'app_attention_cleared'; adamId: string };

export type AppAttentionReason = 'vpp_token_invalid' | 'vpp_not_configured';

export const enrollmentEventSignal = defineSignal<[EnrollmentEvent]>('enrollmentEvent');

export interface EnrollmentSnapshot {
  enrollmentId: string;
  status: EnrollmentStatus;
  enrollmentType: EnrollmentKind | null;
  invitesSent: number;
}

export const enrollmentStatusQuery = defineQuery<EnrollmentSnapshot>('enrollmentStatus');

export const enrollmentWorkflowId = (enrollmentId: string) => `enrollment/${enrollmentId}`;

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
export interface AgentDeploymentInput extends AgentDurations {
  enrollmentId: string;
  adamId: string;
  bundleId: string;
}

export type AgentEvent =
  /** the admin's "sync" (or a new Apps and Books token): try again */
  | { type: 'sync' }
  | { type: 'licences_available' }
  /**
   * The device's own answer about this app, sent once per change (InstallApplication `State`,
   * ManagedApplicationList `Status`, presence in InstalledApplicationList as `Managed`), for the
   * InstallApplication command of the attempt it answers.
   */
  | { type: 'device_status'; status: string; installCommandUuid: string };
/** Every app deployment's signal (both workflow types), by workflow id, never by run id. */
export const agentEventSignal = defineSignal<[AgentEvent]>('agentEvent');

/** appDeploymentWorkflow's input: ids, durations and, after continue-as-new, the state it carries. */
export interface AppDeploymentInput extends AgentDeploymentInput {
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
  pending: AgentEvent[];
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
/** One deployment per app and enrollment: the agent app and any other Apps and Books app. */
export const appDeploymentWorkflowId = (enrollmentId: string, adamId: string) => `app/${enrollmentId}/${adamId}`;
