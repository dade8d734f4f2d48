/** The activity surface the enrollment workflow calls. Implemented in activities/, type-only here. */
import type { EnrollmentStatus } from './enrollment-machine.js';

/** Every activity input carries `<workflowId>:<step>`: a retried activity has one effect. */
interface Keyed {
  enrollmentId: string;
  idempotencyKey: string;
}

export interface RecordTransitionInput extends Keyed {
  from: EnrollmentStatus;
  to: EnrollmentStatus;
  reason?: string;
}

export interface DeliverInviteInput extends Keyed {
  reminder: boolean;
}

export type PushOutcome = 'delivered' | 'unregistered' | 'no_token' | 'rejected';

export interface EnrollmentActivities {
  /** New one-time password and credentials (revoking any earlier ones). */
  issueInvite(input: Keyed): Promise<{ inviteId: string; expiresAt: string }>;
  /** Sends the live invite by the enrollment's channel (email or SMS). */
  deliverInvite(input: DeliverInviteInput): Promise<{ channel: string; messageId: string }>;
  recordTransition(input: RecordTransitionInput): Promise<void>;
  /** Queues the first queries for a newly enrolled device (only those its enrollment type allows). */
  queueInitialCommands(input: Keyed): Promise<{ commandUuids: string[] }>;
  /** An APNs MDM push so the device checks in. */
  pushDevice(input: Keyed): Promise<{ outcome: PushOutcome }>;
}
