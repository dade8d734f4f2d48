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
export { agentDefaults, appDeploymentDefaults, lifecycleDefaults, type AppDeploymentDurations, type EnrollmentWorkflowInput } from '../domain/workflow-inputs.js';
import type { AppDeploymentDurations } from '../domain/workflow-inputs.js';

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
