/**
 * Temporal Cloud Actions counted from real workflow histories, by the billing rules of Temporal's
 * "Temporal Cloud Actions" page (docs.temporal.io/cloud/actions):
 *
 * - Workflow started (client start, Continue-As-New, child start): WorkflowExecutionStarted, once
 *   per run. A Signal-With-Start is one Action in total, start and signal together.
 * - Activity started or retried: every attempt. History keeps one ActivityTaskScheduled per
 *   activity and writes its ActivityTaskStarted (with the final `attempt`) when it closes, so an
 *   activity counts `attempt` Actions; one not started yet counts 1.
 * - Local Activities: all RecordMarkers of one Workflow Task count as one Action.
 * - Timer started (including the implicit timer of `condition(fn, timeout)`): TimerStarted.
 * - Search Attribute upsert: one per UpsertWorkflowSearchAttributes command; attributes given at
 *   start are free, and so is `TemporalChangeVersion` (written by `patched()`).
 * - Signal sent, from a client or a workflow: one per signal. A workflow-to-workflow signal shows
 *   twice (SignalExternalWorkflowExecutionInitiated at the sender, WorkflowExecutionSignaled with
 *   `externalWorkflowExecution` at the receiver); it is counted once, at the sender, so that sums
 *   over a parent and its children stay right.
 * - Update received by the worker: accepted or rejected. Accepted ones are in history
 *   (WorkflowExecutionUpdateAccepted); a validator's rejection writes nothing, so those can only be
 *   counted by the caller (`extra` of `sumActions`).
 * - Start Child Workflow: two Actions, the parent's StartChildWorkflowExecutionInitiated and the
 *   child's own WorkflowExecutionStarted (counted in the child's history).
 * - Workflow Execution Options updated; Nexus operation scheduled and cancelled: one each.
 *
 * Not Actions: workflow tasks, activity completions, timer firings, cancelling an external
 * workflow or a child (RequestCancelExternalWorkflowExecutionInitiated), replays. Billed but not
 * in history (so not counted here): Queries, Activity Heartbeats, rejected Updates, workflow resets.
 */
import proto from '@temporalio/proto';

type IHistory = proto.temporal.api.history.v1.IHistory;
type IHistoryEvent = proto.temporal.api.history.v1.IHistoryEvent;
const { EventType } = proto.temporal.api.enums.v1;

export type ActionKind =
  | 'workflowStarted'
  | 'activity'
  | 'activityRetry'
  | 'localActivityTask'
  | 'timer'
  | 'searchAttributeUpsert'
  | 'signal'
  | 'signalWithStart'
  | 'update'
  | 'childWorkflowStart'
  | 'optionsUpdated'
  | 'nexusOperation';

export interface ActionCount {
  /** history events */
  events: number;
  /** billable Actions */
  actions: number;
  /** Actions by kind (kinds with none are left out) */
  byKind: Partial<Record<ActionKind, number>>;
}

/** Only events whose time falls in [from, to) (ms since the epoch) are counted. */
export interface TimeWindow {
  from?: number;
  to?: number;
}

/** The event type's short name (`ActivityTaskScheduled`), from a proto enum number or a JSON name. */
export function eventTypeName(event: IHistoryEvent): string {
  const raw = event.eventType as unknown;
  const name = typeof raw === 'string' ? raw : (EventType[(raw as number) ?? 0] ?? String(raw));
  return name.replace(/^EVENT_TYPE_/, '').toLowerCase().replace(/(^|_)([a-z])/g, (_, __, c: string) => c.toUpperCase());
}

/** Longs, strings and numbers (ids and timestamps come as any of them) to a number. */
const num = (v: unknown): number => (v == null ? 0 : Number(typeof v === 'object' ? String(v) : v));

export function eventTimeMs(event: IHistoryEvent): number {
  const t = event.eventTime as { seconds?: unknown; nanos?: number | null } | string | null | undefined;
  if (!t) return 0;
  if (typeof t === 'string') return Date.parse(t);
  return num(t.seconds) * 1000 + Math.floor((t.nanos ?? 0) / 1e6);
}

const LOCAL_ACTIVITY_MARKERS = new Set(['core_local_activity', 'LocalActivity']);
const FREE_SEARCH_ATTRIBUTES = new Set(['TemporalChangeVersion']);

/** Counts one run's history. */
export function countActions(history: IHistory, window: TimeWindow = {}): ActionCount {
  const events = history.events ?? [];
  const inWindow = (e: IHistoryEvent) => {
    if (window.from === undefined && window.to === undefined) return true;
    const t = eventTimeMs(e);
    return (window.from === undefined || t >= window.from) && (window.to === undefined || t < window.to);
  };
  const attemptsByScheduledId = new Map<number, number>();
  for (const e of events) {
    const started = e.activityTaskStartedEventAttributes;
    if (started) attemptsByScheduledId.set(num(started.scheduledEventId), Math.max(1, num(started.attempt)));
  }
  const byKind: Partial<Record<ActionKind, number>> = {};
  const add = (kind: ActionKind, n = 1) => {
    if (n > 0) byKind[kind] = (byKind[kind] ?? 0) + n;
  };
  const localActivityTasks = new Set<number>();
  let counted = 0;
  for (const [i, e] of events.entries()) {
    if (!inWindow(e)) continue;
    counted += 1;
    switch (eventTypeName(e)) {
      case 'WorkflowExecutionStarted':
        add('workflowStarted');
        break;
      case 'ActivityTaskScheduled': {
        const attempts = attemptsByScheduledId.get(num(e.eventId)) ?? 1;
        add('activity');
        add('activityRetry', attempts - 1);
        break;
      }
      case 'MarkerRecorded': {
        const marker = e.markerRecordedEventAttributes;
        if (marker?.markerName && LOCAL_ACTIVITY_MARKERS.has(marker.markerName)) localActivityTasks.add(num(marker.workflowTaskCompletedEventId));
        break;
      }
      case 'TimerStarted':
        add('timer');
        break;
      case 'UpsertWorkflowSearchAttributes': {
        const names = Object.keys(e.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields ?? {});
        if (names.length === 0 || names.some((n) => !FREE_SEARCH_ATTRIBUTES.has(n))) add('searchAttributeUpsert');
        break;
      }
      case 'WorkflowExecutionSignaled': {
        // Sent by a workflow: counted at the sender. Written with the start (Signal-With-Start): one Action with it.
        if (e.workflowExecutionSignaledEventAttributes?.externalWorkflowExecution?.workflowId) break;
        const previous = events[i - 1];
        if (i === 1 && previous && eventTypeName(previous) === 'WorkflowExecutionStarted') add('signalWithStart', 0);
        else add('signal');
        break;
      }
      case 'SignalExternalWorkflowExecutionInitiated':
        add('signal');
        break;
      case 'WorkflowExecutionUpdateAccepted':
      case 'WorkflowExecutionUpdateRejected':
        add('update');
        break;
      case 'StartChildWorkflowExecutionInitiated':
        add('childWorkflowStart');
        break;
      case 'WorkflowExecutionOptionsUpdated':
        add('optionsUpdated');
        break;
      case 'NexusOperationScheduled':
      case 'NexusOperationCancelRequested':
        add('nexusOperation');
        break;
    }
  }
  add('localActivityTask', localActivityTasks.size);
  const actions = Object.values(byKind).reduce((a, b) => a + b, 0);
  return { events: counted, actions, byKind };
}

/** Adds counts up (e.g. every run of a workflow and its children), plus Actions known from outside history. */
export function sumActions(counts: ActionCount[], extra: Partial<Record<ActionKind, number>> = {}): ActionCount {
  const byKind: Partial<Record<ActionKind, number>> = {};
  let events = 0;
  for (const c of counts) {
    events += c.events;
    for (const [k, v] of Object.entries(c.byKind) as [ActionKind, number][]) byKind[k] = (byKind[k] ?? 0) + v;
  }
  for (const [k, v] of Object.entries(extra) as [ActionKind, number][]) byKind[k] = (byKind[k] ?? 0) + v;
  return { events, actions: Object.values(byKind).reduce((a, b) => a + b, 0), byKind };
}

/** The little of a Temporal client this needs: one run's history. */
export type FetchHistory = (workflowId: string, runId?: string) => Promise<IHistory>;

export interface RunHistory {
  workflowId: string;
  runId: string;
  history: IHistory;
}

/**
 * Every run of one chain, first to last. Given a run id (e.g. a child's, from
 * ChildWorkflowExecutionStarted), the chain starts there; otherwise at the latest run's
 * `firstExecutionRunId`. It goes on along ContinuedAsNew's `newExecutionRunId`.
 */
export async function fetchRuns(fetch: FetchHistory, workflowId: string, firstRunId?: string): Promise<RunHistory[]> {
  let runId = firstRunId;
  let history: IHistory;
  if (runId) history = await fetch(workflowId, runId);
  else {
    const latest = await fetch(workflowId);
    runId = latest.events?.[0]?.workflowExecutionStartedEventAttributes?.firstExecutionRunId || undefined;
    history = runId ? await fetch(workflowId, runId) : latest;
  }
  const runs: RunHistory[] = [];
  for (;;) {
    runs.push({ workflowId, runId: runId ?? '', history });
    const next = history.events?.find((e) => e.workflowExecutionContinuedAsNewEventAttributes)?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId;
    if (!next) break;
    if (runs.length >= 10_000) throw new Error(`${workflowId}: more than 10000 runs`);
    runId = next;
    history = await fetch(workflowId, next);
  }
  return runs;
}

export interface LifecycleCount extends ActionCount {
  /** workflow ids walked (the root and every child, recursively) */
  workflows: string[];
  runs: number;
  /** the most events any single run holds */
  maxEventsPerRun: number;
}

/**
 * Every run of a workflow's whole lifecycle: each run of its id and, recursively, each run of
 * every child it started (in any run).
 */
export async function fetchLifecycle(fetch: FetchHistory, rootWorkflowId: string): Promise<RunHistory[]> {
  const seen = new Set<string>();
  const runs: RunHistory[] = [];
  const queue: { workflowId: string; runId?: string }[] = [{ workflowId: rootWorkflowId }];
  while (queue.length) {
    const { workflowId, runId } = queue.shift()!;
    for (const run of await fetchRuns(fetch, workflowId, runId)) {
      if (seen.has(`${workflowId}/${run.runId}`)) continue;
      seen.add(`${workflowId}/${run.runId}`);
      runs.push(run);
      // Children that started (a failed start has no history of its own); an id reused by a later
      // child is a chain of its own, so children are followed by run id.
      for (const e of run.history.events ?? []) {
        const child = e.childWorkflowExecutionStartedEventAttributes?.workflowExecution;
        if (child?.workflowId && child.runId && !seen.has(`${child.workflowId}/${child.runId}`)) queue.push({ workflowId: child.workflowId, runId: child.runId });
      }
    }
  }
  return runs;
}

/** Sums runs (`window` keeps only the events of a time window: an Action counts at the event that incurs it). */
export function countRuns(runs: RunHistory[], window: TimeWindow = {}): LifecycleCount {
  return {
    ...sumActions(runs.map((r) => countActions(r.history, window))),
    workflows: [...new Set(runs.map((r) => r.workflowId))],
    runs: runs.length,
    maxEventsPerRun: Math.max(0, ...runs.map((r) => r.history.events?.length ?? 0)),
  };
}

/** A workflow's whole lifecycle (every run, every child), counted. */
export async function countLifecycle(fetch: FetchHistory, rootWorkflowId: string, window: TimeWindow = {}): Promise<LifecycleCount> {
  return countRuns(await fetchLifecycle(fetch, rootWorkflowId), window);
}

/** Protobuf durations ({ seconds, nanos }), JSON ("1.5s") or plain numbers of seconds, in ms. */
function durationMs(d: unknown): number {
  if (d == null) return 0;
  if (typeof d === 'string') return Number.parseFloat(d) * 1000;
  if (typeof d === 'number') return d * 1000;
  const { seconds, nanos } = d as { seconds?: unknown; nanos?: number | null };
  return num(seconds) * 1000 + (nanos ?? 0) / 1e6;
}

export interface ClockFidelity {
  /**
   * Share of the window in which the workflows were working (a workflow task or an activity between
   * scheduled and closed) or a timer was late (between when it was due and when it fired): time
   * that production, whose waits are minutes to days, barely has. Near 0: the run waited like
   * production; high: a scaled clock ran too fast for the work and fewer waits fitted.
   */
  overheadFraction: number;
  /** Σ requested durations of the timers started in the window, over the window */
  timerCoverage: number;
  /** how late, on average, the timers that fired in the window fired (ms) */
  meanTimerLatenessMs: number;
}

/** How faithfully a run on a scaled clock waited, from its histories (see ClockFidelity). */
export function clockFidelity(runs: RunHistory[], { from, to }: Required<TimeWindow>): ClockFidelity {
  const intervals: [number, number][] = [];
  let requestedTimerMs = 0;
  const lateness: number[] = [];
  for (const { history } of runs) {
    const open = new Map<number, number>();
    const timers = new Map<number, number>();
    for (const e of history.events ?? []) {
      const name = eventTypeName(e);
      const t = eventTimeMs(e);
      if (name === 'WorkflowTaskScheduled' || name === 'ActivityTaskScheduled') open.set(num(e.eventId), t);
      if (e.timerStartedEventAttributes) {
        const requested = durationMs(e.timerStartedEventAttributes.startToFireTimeout);
        timers.set(num(e.eventId), t + requested);
        if (t >= from && t < to) requestedTimerMs += requested;
      }
      const fired = e.timerFiredEventAttributes;
      if (fired && timers.has(num(fired.startedEventId))) {
        const due = timers.get(num(fired.startedEventId))!;
        intervals.push([due, t]);
        if (t >= from && t < to) lateness.push(Math.max(0, t - due));
      }
      const closes =
        e.workflowTaskCompletedEventAttributes ?? e.workflowTaskFailedEventAttributes ?? e.workflowTaskTimedOutEventAttributes ??
        e.activityTaskCompletedEventAttributes ?? e.activityTaskFailedEventAttributes ?? e.activityTaskTimedOutEventAttributes ?? e.activityTaskCanceledEventAttributes;
      const scheduledId = num((closes as { scheduledEventId?: unknown } | undefined)?.scheduledEventId);
      if (closes && open.has(scheduledId)) {
        intervals.push([open.get(scheduledId)!, t]);
        open.delete(scheduledId);
      }
    }
  }
  const clipped = intervals.map(([a, b]) => [Math.max(a, from), Math.min(b, to)] as [number, number]).filter(([a, b]) => b > a).sort((x, y) => x[0] - y[0]);
  let covered = 0;
  let end = -Infinity;
  for (const [a, b] of clipped) {
    if (b <= end) continue;
    covered += b - Math.max(a, end);
    end = b;
  }
  const length = to - from;
  return {
    overheadFraction: length > 0 ? covered / length : 0,
    timerCoverage: length > 0 ? requestedTimerMs / length : 0,
    meanTimerLatenessMs: lateness.length ? lateness.reduce((a, b) => a + b, 0) / lateness.length : 0,
  };
}
