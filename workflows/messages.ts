/**
 * Workflow message and input definitions shared by the workflow bundle and its callers (API,
 * worker, tests). Imports nothing but @temporalio/workflow and plain types.
 */
import { defineQuery, defineSignal } from '@temporalio/workflow';
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
}

/** Events from the portal, devices and admins. They arrive through the Postgres outbox. */
export type EnrollmentEvent =
  | { type: 'portal_authenticated' }
  | { type: 'profile_issued'; enrollmentType: EnrollmentKind; ownership: 'personal' | 'corporate' }
  | { type: 'device_authenticated' }
  | { type: 'token_updated' }
  | { type: 'checked_out' }
  | { type: 'resend_requested' }
  | { type: 'cancel_requested'; reason: string };

export const enrollmentEventSignal = defineSignal<[EnrollmentEvent]>('enrollmentEvent');

export interface EnrollmentSnapshot {
  enrollmentId: string;
  status: EnrollmentStatus;
  enrollmentType: EnrollmentKind | null;
  invitesSent: number;
}

export const enrollmentStatusQuery = defineQuery<EnrollmentSnapshot>('enrollmentStatus');

export const enrollmentWorkflowId = (enrollmentId: string) => `enrollment/${enrollmentId}`;
