/**
 * The enrollment lifecycle in one place: statuses, the transitions between them, and the
 * predicates every layer asks ("may this enrollment receive commands?"). Imports nothing.
 */
export const enrollmentStatuses = [
  'created', // row written, workflow start pending in the outbox
  'invited', // credentials issued and sent
  'portal_authenticated', // the user signed in to the enrollment portal (or accepted the terms of an open invite)
  'profile_issued', // the enrollment profile was downloaded
  'authenticated', // the device sent Authenticate
  'enrolled', // the device sent its first TokenUpdate
  'inactive', // APNs no longer knows the device (410), or it stopped checking in
  'disenrolling', // RemoveProfile sent; waiting for the device

  'disenrolled',
  'expired',
  'cancelled',
] as const;
export type EnrollmentStatus = (typeof enrollmentStatuses)[number];

/**
 * What admins and operators see: the lifecycle status, or `attention` while something needs a
 * person (the lifecycle status is kept underneath and resumes when the cause is fixed).
 */
export type DisplayStatus = EnrollmentStatus | 'attention';

const allowed: Record<EnrollmentStatus, readonly EnrollmentStatus[]> = {
  // An account-driven enrollment the user starts from Settings has no invite: created -> portal_authenticated.
  created: ['invited', 'portal_authenticated', 'expired', 'cancelled'],
  invited: ['portal_authenticated', 'expired', 'cancelled'],
  portal_authenticated: ['profile_issued', 'expired', 'cancelled'],
  profile_issued: ['authenticated', 'expired', 'cancelled'],
  authenticated: ['enrolled', 'expired', 'cancelled'],
  enrolled: ['inactive', 'disenrolling', 'disenrolled'],
  inactive: ['enrolled', 'disenrolling', 'disenrolled'],
  disenrolling: ['disenrolled'],
  disenrolled: [],
  expired: [],
  cancelled: [],
};

export const finalStatuses: readonly EnrollmentStatus[] = ['disenrolled', 'expired', 'cancelled'];

/** States in which the invite's credentials still open the portal. */
export const inviteOpenStatuses: readonly EnrollmentStatus[] = ['invited', 'portal_authenticated'];

/** Enrolled, reachable or not: the device holds the profile and may receive commands. */
export const managedStatuses: readonly EnrollmentStatus[] = ['enrolled', 'inactive'];
export const isManaged = (status: string): boolean => (managedStatuses as readonly string[]).includes(status);
export const isFinal = (status: string): boolean => (finalStatuses as readonly string[]).includes(status);

export interface TransitionRecord {
  from: EnrollmentStatus;
  to: EnrollmentStatus;
  reason?: string;
  /** position in this enrollment's history; part of each transition's idempotency key */
  seq: number;
}

export class InvalidTransitionError extends Error {
  constructor(from: EnrollmentStatus, to: EnrollmentStatus) {
    super(`an enrollment cannot move from ${from} to ${to}`);
    this.name = 'InvalidTransitionError';
  }
}

/** The state machine as a plain class: workflows wire it to Temporal, unit tests drive it directly. */
export class EnrollmentMachine {
  #status: EnrollmentStatus;
  #seq: number;

  /** A machine resumes where a previous workflow run left it (continue-as-new). */
  constructor(from: { status: EnrollmentStatus; seq: number } = { status: 'created', seq: 0 }) {
    this.#status = from.status;
    this.#seq = from.seq;
  }

  get status(): EnrollmentStatus {
    return this.#status;
  }

  get seq(): number {
    return this.#seq;
  }

  get isFinal(): boolean {
    return isFinal(this.#status);
  }

  canMoveTo(to: EnrollmentStatus): boolean {
    return allowed[this.#status].includes(to);
  }

  /** Applies a transition and returns what must be recorded; throws if the move is not allowed. */
  moveTo(to: EnrollmentStatus, reason?: string): TransitionRecord {
    if (!this.canMoveTo(to)) throw new InvalidTransitionError(this.#status, to);
    const record: TransitionRecord = { from: this.#status, to, seq: ++this.#seq, ...(reason ? { reason } : {}) };
    this.#status = to;
    return record;
  }
}
