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
  pollInitialMs: number;
  pollMaxMs: number;
  approvalWindowMs: number;
  reminderEveryMs: number;
}

/** Defaults for the durations histories recorded before they were inputs. */
export const lifecycleDefaults = { removalWindowMs: 86_400_000, unreachableGraceMs: 7 * 86_400_000, inactiveAfterMs: 30 * 86_400_000 };
export const agentDefaults: AgentDurations = { pollInitialMs: 20_000, pollMaxMs: 600_000, approvalWindowMs: 7 * 86_400_000, reminderEveryMs: 86_400_000 };

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
  /** the device signed its first request with its renewed identity; the old one is revoked */
  | { type: 'identity_renewed' }
  /** the device answered the renewal's InstallProfile with an error (the old identity still works) */
  | { type: 'identity_renewal_failed'; reason: string };

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

export type AgentEvent = { type: 'sync' } | { type: 'licences_available' };
export const agentEventSignal = defineSignal<[AgentEvent]>('agentEvent');
/** One deployment per app and enrollment: the agent app and any other Apps and Books app. */
export const appDeploymentWorkflowId = (enrollmentId: string, adamId: string) => `app/${enrollmentId}/${adamId}`;
