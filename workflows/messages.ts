/**
 * Workflow message and input definitions shared by the workflow bundle and its callers (API,
 * worker, tests). Imports nothing but @temporalio/workflow and plain types.
 */
import { defineQuery } from '@temporalio/workflow';
import type { EnrollmentStatus } from './enrollment-machine.js';

export type EnrollmentKind = 'user' | 'device';

/** Everything a workflow needs to run: ids and business durations, never personal data. */
export interface EnrollmentWorkflowInput {
  enrollmentId: string;
  /** null while the user has still to choose (ownership `user_choice`) */
  enrollmentType: EnrollmentKind | null;
  /** ISO time at which the invite's credentials stop working */
  inviteExpiresAt: string;
}

export interface EnrollmentSnapshot {
  enrollmentId: string;
  status: EnrollmentStatus;
}

export const enrollmentStatusQuery = defineQuery<EnrollmentSnapshot>('enrollmentStatus');

export const enrollmentWorkflowId = (enrollmentId: string) => `enrollment/${enrollmentId}`;
