/**
 * The machinery every phase of an enrollment run shares: the state, the events waiting to be
 * handled, transitions, activity calls with readable summaries, and `attention`, the way a failure
 * waits for a person instead of failing the workflow.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  condition,
  proxyActivities,
  setCurrentDetails,
  TimeoutFailure,
  upsertSearchAttributes,
  type ActivityOptions,
} from '@temporalio/workflow';
import { transientReasons, type AttentionReason } from '../../domain/attention.js';
import type { EnrollmentEvent } from '../../domain/events.js';
import { EnrollmentMachine, isManaged, type EnrollmentStatus } from '../../domain/lifecycle.js';
import type { EnrollmentActivities } from '../activity-types.js';
import type { EnrollmentWorkflowInput } from '../messages.js';
import { AttentionReasonKey, EnrollmentStatusKey, EnrollmentTypeKey, OwnershipKey } from '../search-attributes.js';
import { describeRun } from './details.js';
import { shownAttention, type Attention, type EnrollmentState } from './state.js';

const backoff = { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '5 minutes' };
/**
 * Mail, SMS, APNs and Apps and Books: the providers' own timeouts come first. Ten attempts (about
 * twenty minutes) bound what an outage costs; after that the enrollment shows `attention` and
 * retries on a growing timer instead.
 */
const externalOptions: ActivityOptions = { startToCloseTimeout: '1 minute', retry: { ...backoff, maximumAttempts: 10 } };
/**
 * Database-only steps take milliseconds. A short timeout bounds how long an enrollment waits when
 * the worker running one dies (its completion never arrives): seconds, not a minute.
 */
const recordOptions: ActivityOptions = { startToCloseTimeout: '15 seconds', retry: backoff };
const external = proxyActivities<EnrollmentActivities>(externalOptions);
const records = proxyActivities<EnrollmentActivities>(recordOptions);

type Acts = EnrollmentActivities;
type ActivityName = keyof Acts;
const databaseOnly = new Set<ActivityName>([
  'issueInvite',
  'recordTransition',
  'recordAttention',
  'reportFailure',
  'queueInitialCommands',
  'releaseCommand',
  'queueRemoval',
  'markInactive',
  'lastContact',
  'cleanUpEnrollment',
  'applyPolicies',
  'agentConfig',
  'identityStatus',
  'renewIdentity',
]);

/** Thrown out of a step waiting in `attention` when an event (cancel, disenroll, CheckOut) ends its phase. */
export class Superseded extends Error {}

/**
 * Events that end the phase a blocked step belongs to: they are handled instead of waiting on. Only
 * those the phase itself handles (a cancel means nothing once enrolled, a CheckOut nothing before).
 */
function supersedes(status: EnrollmentStatus, event: EnrollmentEvent): boolean {
  if (isManaged(status)) return event.type === 'disenroll_requested' || event.type === 'checked_out';
  if (status === 'disenrolling') return event.type === 'checked_out' || event.type === 'removal_confirmed';
  return event.type === 'cancel_requested';
}

/** Longest wait between automatic retries of a transient cause. */
const MAX_AUTO_RETRY_MS = 86_400_000;
const FIRST_AUTO_RETRY_MS = 3_600_000;

export class EnrollmentRun {
  readonly machine: EnrollmentMachine;
  /** events waiting to be handled, in arrival order */
  readonly events: EnrollmentEvent[];
  #shown: { status: string; reason: string | null; type: string; ownership: string } | undefined;

  constructor(
    readonly input: EnrollmentWorkflowInput,
    readonly state: EnrollmentState,
    readonly workflowId: string,
  ) {
    this.machine = new EnrollmentMachine({ status: state.status, seq: state.seq });
    this.events = state.pending.splice(0);
  }

  get status(): EnrollmentStatus {
    return this.machine.status;
  }

  key(step: string) {
    return { enrollmentId: this.input.enrollmentId, idempotencyKey: `${this.workflowId}:${step}` };
  }

  /** A key for a step that may happen many times: unique across runs (the counter is carried). */
  nextKey(step: string) {
    this.state.step += 1;
    return this.key(`${step}:${this.state.step}`);
  }

  /**
   * Calls an activity with a one-line summary for the Temporal UI. `attempts` bounds a step whose
   * failure is only reported (a notification), so a dead mail server costs seconds, not minutes.
   */
  call<K extends ActivityName>(name: K, summary: string, input: Parameters<Acts[K]>[0], attempts?: number): Promise<Awaited<ReturnType<Acts[K]>>> {
    const proxy = (databaseOnly.has(name) ? records : external)[name] as unknown as {
      executeWithOptions(o: ActivityOptions, a: [Parameters<Acts[K]>[0]]): Promise<Awaited<ReturnType<Acts[K]>>>;
    };
    const options = databaseOnly.has(name) ? recordOptions : externalOptions;
    return proxy.executeWithOptions({ ...options, ...(attempts ? { retry: { ...options.retry, maximumAttempts: attempts } } : {}), summary }, [input]);
  }

  async moveTo(to: EnrollmentStatus, reason?: string): Promise<void> {
    const t = this.machine.moveTo(to, reason);
    this.state.status = t.to;
    this.state.seq = t.seq;
    await this.call('recordTransition', `record ${t.from} → ${t.to}`, {
      ...this.key(`transition:${t.seq}`),
      from: t.from,
      to: t.to,
      ...(t.reason ? { reason: t.reason } : {}),
    });
    this.publish();
  }

  /** Search attributes (only what changed) and the run's current details for the Temporal UI. */
  publish(): void {
    const attention = shownAttention(this.state);
    const next = {
      status: attention ? 'attention' : this.status,
      reason: attention ? String(attention.reason) : null,
      type: this.state.enrollmentType ?? 'undecided',
      ownership: this.state.ownership,
    };
    const prev = this.#shown;
    const changes = [
      ...(prev?.status !== next.status ? [{ key: EnrollmentStatusKey, value: next.status }] : []),
      ...(prev?.reason !== next.reason && (prev || next.reason) ? [{ key: AttentionReasonKey, value: next.reason }] : []),
      ...(prev?.type !== next.type ? [{ key: EnrollmentTypeKey, value: next.type }] : []),
      ...(prev?.ownership !== next.ownership ? [{ key: OwnershipKey, value: next.ownership }] : []),
    ];
    if (changes.length) upsertSearchAttributes(changes);
    this.#shown = next;
    setCurrentDetails(describeRun(this.state, Date.now()));
  }

  /**
   * A new run (continue-as-new) writes its search attributes again: whether a server carries them
   * over is not something an enrollment that must stay findable for years should depend on.
   */
  inherit(): void {
    this.#shown = undefined;
    this.publish();
  }

  /** Shows (or clears) a non-blocking attention condition, recording the change in Postgres and the audit log. */
  async setCondition(slot: 'identity' | { app: string }, attention: Attention | null): Promise<void> {
    const before = shownAttention(this.state);
    if (slot === 'identity') this.state.attention.identity = attention;
    else if (attention) this.state.attention.apps[slot.app] = attention;
    else delete this.state.attention.apps[slot.app];
    await this.recordShownAttention(before);
  }

  async #setStep(attention: Attention | null): Promise<void> {
    const before = shownAttention(this.state);
    this.state.attention.step = attention;
    await this.recordShownAttention(before);
  }

  private async recordShownAttention(before: Attention | null): Promise<void> {
    const after = shownAttention(this.state);
    if (before?.reason !== after?.reason || before?.detail !== after?.detail) {
      await this.call('recordAttention', after ? `attention: ${after.reason}` : 'attention cleared', {
        ...this.nextKey('attention'),
        reason: after ? String(after.reason) : null,
        detail: after?.detail ?? null,
      });
    }
    this.publish();
  }

  /**
   * Runs a step that must succeed. A failure that retrying cannot fix moves the enrollment to
   * `attention` (reason, audit line, search attribute) and waits, holding everything, for a retry
   * (the admin's, a fixed setting's, or a timer's for transient causes). An event that ends the
   * phase (cancel, disenroll, CheckOut) throws `Superseded` so the caller handles it instead.
   */
  async mustSucceed<T>(transient: AttentionReason, attempt: () => Promise<T>): Promise<T> {
    for (let waits = 0; ; waits++) {
      try {
        const result = await attempt();
        if (this.state.attention.step) await this.#setStep(null);
        return result;
      } catch (err) {
        const attention = attentionFor(err, transient, Date.now());
        if (!attention) throw err;
        await this.#setStep(attention);
        const retriesBefore = this.state.retries;
        const auto = transientReasons.includes(attention.reason as AttentionReason) ? Math.min(FIRST_AUTO_RETRY_MS * 2 ** waits, MAX_AUTO_RETRY_MS) : undefined;
        const superseded = () => this.events.some((e) => supersedes(this.status, e));
        await condition(() => this.state.retries > retriesBefore || superseded(), auto);
        if (superseded()) {
          await this.#setStep(null);
          throw new Superseded();
        }
      }
    }
  }

  /** Runs a step whose failure must not hold the lifecycle: it is reported (audit and log), not waited on. */
  async bestEffort<T>(what: string, attempt: () => Promise<T>): Promise<T | undefined> {
    try {
      return await attempt();
    } catch (err) {
      if (!(err instanceof ActivityFailure)) throw err;
      await this.call('reportFailure', `report: ${what} failed`, { ...this.nextKey('report'), step: what, failure: failureDetail(err) });
      return undefined;
    }
  }
}

/** The failure's type and a protocol status (e.g. "ApnsRejected 400 BadTopic"), never its free text (it may name a person). */
function failureDetail(err: ActivityFailure): string {
  const cause = err.cause;
  if (cause instanceof TimeoutFailure) return 'timed out';
  if (!(cause instanceof ApplicationFailure)) return cause?.name ?? 'failed';
  const status = /\b([2-5]\d\d)\b(?:\s+([A-Z][A-Za-z]+))?/.exec(cause.message);
  return [cause.type ?? 'failed', status?.[1], status?.[2]].filter(Boolean).join(' ');
}

const attentionByFailureType: Record<string, AttentionReason> = {
  InviteUndeliverable: 'invite_undeliverable',
  SmsNotConfigured: 'sms_not_configured',
  ApnsNotConfigured: 'apns_not_configured',
  ApnsRejected: 'apns_rejected',
  VppTokenInvalid: 'vpp_token_invalid',
};

/** What an activity failure means for the enrollment; undefined for anything that is not one. */
export function attentionFor(err: unknown, transient: AttentionReason, now: number): Attention | undefined {
  if (!(err instanceof ActivityFailure)) return undefined;
  const cause = err.cause;
  const type = cause instanceof ApplicationFailure ? cause.type ?? undefined : undefined;
  const nonRetryable = cause instanceof ApplicationFailure && cause.nonRetryable;
  const reason = (type && attentionByFailureType[type]) ?? (nonRetryable ? 'step_failed' : transient);
  return { reason, detail: failureDetail(err), since: now };
}
