/**
 * Everything an enrollment workflow knows, in one serialisable object: it is what a run hands to
 * the next one at continue-as-new. Ids, choices, counters and times only: never personal data.
 */
import type { AttentionReason } from '../../domain/attention.js';
import type { EnrollmentEvent } from '../../domain/events.js';
import type { EnrollmentKind } from '../../domain/kinds.js';
import type { EnrollmentStatus } from '../../domain/lifecycle.js';
import type { EnrollmentWorkflowInput } from '../messages.js';

export interface AppRef {
  adamId: string;
  bundleId: string;
}

export interface Attention {
  reason: AttentionReason | string;
  /** short, non-personal detail (for example "SMTP 550") */
  detail: string;
  /** workflow time (ms) it began */
  since: number;
}

export interface EnrollmentState {
  status: EnrollmentStatus;
  /** transitions recorded so far (each transition's idempotency key) */
  seq: number;
  enrollmentType: EnrollmentKind | null;
  ownership: 'personal' | 'corporate' | 'undecided';
  /** which run of this enrollment this is (1 for the first; +1 at each continue-as-new) */
  run: number;
  /** a counter for idempotency keys of steps that may repeat (pushes, retries, checks) */
  step: number;
  invite: { issued: number; sent: number; remindersSent: number; firstAt: number };
  install: { profileIssuedAt: number };
  managed: {
    nextContactCheckAt: number;
    policyRounds: number;
    inactiveSince: number;
    unregistered: boolean;
    agent: AppRef | null;
    /** every app deployment this enrollment started (child workflows, addressed by id) */
    apps: AppRef[];
    adminPushes: number;
    identity: {
      renewAt: number;
      expiresAt: number;
      renewals: number;
      /** when the pending renewal was last issued or pushed (0: none pending) */
      pendingSince: number;
      /** the device refused the renewal's InstallProfile this many times: issue a new one at the next reminder */
      refusals?: number;
    } | null;
  };
  leaving: { requestedAt: number; reason: string };
  /** a failed step waiting for a person (blocks that step), and conditions that do not block */
  attention: { step: Attention | null; identity: Attention | null; apps: Record<string, Attention> };
  /** the retries the admin (or a fix) asked for; a waiting step resumes when it grows */
  retries: number;
  /** events received but not yet handled when the previous run continued as new */
  pending: EnrollmentEvent[];
  /** an admin action was released and its push is still to be sent */
  pushWanted: boolean;
}

export function initialState(input: EnrollmentWorkflowInput): EnrollmentState {
  return {
    status: 'created',
    seq: 0,
    enrollmentType: input.enrollmentType,
    ownership: input.ownership === 'user_choice' ? 'undecided' : input.ownership,
    run: 1,
    step: 0,
    invite: { issued: 0, sent: 0, remindersSent: 0, firstAt: 0 },
    install: { profileIssuedAt: 0 },
    managed: { nextContactCheckAt: 0, policyRounds: 0, inactiveSince: 0, unregistered: false, agent: null, apps: [], adminPushes: 0, identity: null },
    leaving: { requestedAt: 0, reason: '' },
    attention: { step: null, identity: null, apps: {} },
    retries: 0,
    pending: [],
    pushWanted: false,
  };
}

/** The attention shown to people: a blocked step first, then the identity, then apps. */
export function shownAttention(state: EnrollmentState): Attention | null {
  return state.attention.step ?? state.attention.identity ?? Object.values(state.attention.apps)[0] ?? null;
}
