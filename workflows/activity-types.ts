/** The activity surface the enrollment workflow calls. Implemented in activities/, type-only here. */
import type { EnrollmentStatus } from './enrollment-machine.js';

export interface IssueInviteInput {
  enrollmentId: string;
  /** `<workflowId>:<step>`: a retried activity issues the same invite once */
  idempotencyKey: string;
}

export interface RecordTransitionInput {
  enrollmentId: string;
  from: EnrollmentStatus;
  to: EnrollmentStatus;
  reason?: string;
  idempotencyKey: string;
}

export interface EnrollmentActivities {
  issueInvite(input: IssueInviteInput): Promise<{ inviteId: string; expiresAt: string }>;
  recordTransition(input: RecordTransitionInput): Promise<void>;
}
