/**
 * Workflow message and input definitions shared by the workflow bundle and its callers (API,
 * worker, tests). Imports nothing but @temporalio/workflow and plain types.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { EnrollmentEvent } from '../domain/events.js';
import type { DisplayStatus } from '../domain/lifecycle.js';
import type { EnrollmentKind, InviteChannel, Ownership } from '../domain/kinds.js';

export type { EnrollmentEvent } from '../domain/events.js';
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
  agent?: AgentDurations;
  /** a run continues as new past this many history events (tests lower it) */
  historyEventBudget?: number;
}

export interface AgentDurations {
  pollInitialMs: number;
  pollMaxMs: number;
  approvalWindowMs: number;
  reminderEveryMs: number;
}

/** Defaults for the durations histories recorded before they were inputs. */
export const lifecycleDefaults = { removalWindowMs: 86_400_000, unreachableGraceMs: 7 * 86_400_000, inactiveAfterMs: 30 * 86_400_000 };
export const agentDefaults: AgentDurations = { pollInitialMs: 20_000, pollMaxMs: 600_000, approvalWindowMs: 7 * 86_400_000, reminderEveryMs: 86_400_000 };

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
export interface AgentDeploymentInput extends AgentDurations {
  enrollmentId: string;
  adamId: string;
  bundleId: string;
}

export type AgentEvent = { type: 'sync' } | { type: 'licences_available' };
export const agentEventSignal = defineSignal<[AgentEvent]>('agentEvent');
