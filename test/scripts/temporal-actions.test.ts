/**
 * Temporal Cloud Actions counted from the recorded histories (test/fixtures/histories). The
 * expected figures were computed apart from the code, with jq over the JSON files:
 *   activities  = count of ACTIVITY_TASK_SCHEDULED, retries = Σ (ACTIVITY_TASK_STARTED.attempt − 1)
 *   upserts     = UPSERT_WORKFLOW_SEARCH_ATTRIBUTES whose fields are not only TemporalChangeVersion
 *   signals     = WORKFLOW_EXECUTION_SIGNALED without externalWorkflowExecution, not event 2
 *                 (Signal-With-Start), + SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED
 */
import { readFileSync } from 'node:fs';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils.js';
import type proto from '@temporalio/proto';
import { describe, expect, it } from 'vitest';
import { clockFidelity, countActions, countLifecycle, eventTypeName, fetchRuns, type ActionKind, type FetchHistory } from '../../scripts/temporal-actions.js';

type IHistory = proto.temporal.api.history.v1.IHistory;
const json = (name: string) => JSON.parse(readFileSync(new URL(`../fixtures/histories/${name}.json`, import.meta.url), 'utf8'));
/** As a client's fetchHistory returns it: enums as numbers, ids and times as Longs. */
const fixture = (name: string): IHistory => historyFromJSON(json(name));

const expected: Record<string, { events: number; byKind: Partial<Record<ActionKind, number>> }> = {
  'agent-approved': { events: 196, byKind: { workflowStarted: 1, activity: 26, timer: 7 } },
  'agent-cancelled-by-disenrollment': { events: 93, byKind: { workflowStarted: 1, activity: 12, timer: 3 } },
  'agent-denied-then-synced': { events: 207, byKind: { workflowStarted: 1, activity: 28, timer: 6 } }, // its one signal came from the parent
  'agent-waiting-for-licences': { events: 128, byKind: { workflowStarted: 1, activity: 17, timer: 4 } },
  'enrollment-account-driven': { events: 51, byKind: { workflowStarted: 1, activity: 6, searchAttributeUpsert: 4, signal: 3 } }, // + 1 Signal-With-Start
  'enrollment-admin-action': { events: 116, byKind: { workflowStarted: 1, activity: 13, timer: 3, searchAttributeUpsert: 5, signal: 4, update: 1 } },
  'enrollment-checked-out': { events: 132, byKind: { workflowStarted: 1, activity: 15, timer: 3, searchAttributeUpsert: 6, signal: 5 } },
  'enrollment-device-enrolled': { events: 73, byKind: { workflowStarted: 1, activity: 9, searchAttributeUpsert: 5, signal: 4 } },
  'enrollment-disenrolled-by-admin': { events: 133, byKind: { workflowStarted: 1, activity: 15, timer: 4, searchAttributeUpsert: 7, signal: 6 } },
  'enrollment-disenrolled-unreachable': { events: 141, byKind: { workflowStarted: 1, activity: 18, timer: 1, searchAttributeUpsert: 7, signal: 5 } },
  'enrollment-disenrolled-while-agent-prompts': {
    events: 161,
    byKind: { workflowStarted: 1, activity: 18, activityRetry: 2, timer: 2, searchAttributeUpsert: 7, signal: 6, childWorkflowStart: 1 },
  },
  'enrollment-inactive-then-back': { events: 207, byKind: { workflowStarted: 1, activity: 24, timer: 6, searchAttributeUpsert: 8, signal: 6 } },
  'enrollment-invite-expired': { events: 36, byKind: { workflowStarted: 1, activity: 4, timer: 1, searchAttributeUpsert: 2 } },
  'enrollment-policies-reapplied': { events: 107, byKind: { workflowStarted: 1, activity: 13, timer: 2, searchAttributeUpsert: 5, signal: 5 } },
  'enrollment-push-unregistered': { events: 135, byKind: { workflowStarted: 1, activity: 17, timer: 1, searchAttributeUpsert: 7, signal: 4 } },
  'enrollment-user-enrolled': { events: 80, byKind: { workflowStarted: 1, activity: 9, timer: 2, searchAttributeUpsert: 5, signal: 4 } },
  'enrollment-with-agent': { events: 111, byKind: { workflowStarted: 1, activity: 11, timer: 3, searchAttributeUpsert: 5, signal: 4, childWorkflowStart: 1 } },
};
const total = (byKind: Partial<Record<ActionKind, number>>) => Object.values(byKind).reduce((a, b) => a + b, 0);

/** A fake server over recorded runs: (workflowId, runId) → history; no run id → the latest run. */
function fakeServer(runs: { workflowId: string; runId: string; history: IHistory }[]): FetchHistory {
  return async (workflowId, runId) => {
    const of = runs.filter((r) => r.workflowId === workflowId);
    const run = runId ? of.find((r) => r.runId === runId) : of.at(-1);
    if (!run) throw new Error(`no such run: ${workflowId} ${runId ?? '(latest)'}`);
    return run.history;
  };
}
const started = (h: IHistory) => h.events![0]!.workflowExecutionStartedEventAttributes!;

describe('Temporal Cloud Actions from a history', () => {
  it.each(Object.entries(expected))('%s', (name, want) => {
    const count = countActions(fixture(name));
    expect(count.events).toBe(want.events);
    expect(count.byKind).toEqual(want.byKind);
    expect(count.actions).toBe(total(want.byKind));
  });

  it('reads the JSON form (event type names as strings) the same as the proto form', () => {
    const raw = json('enrollment-admin-action');
    expect(eventTypeName(raw.events[0])).toBe('WorkflowExecutionStarted');
    expect(countActions(raw)).toEqual(countActions(fixture('enrollment-admin-action')));
  });

  it('counts every attempt of a retried activity', () => {
    const history = fixture('enrollment-disenrolled-while-agent-prompts');
    const retried = history.events!.find((e) => (e.activityTaskStartedEventAttributes?.attempt ?? 1) > 1)!;
    expect(retried.activityTaskStartedEventAttributes!.attempt).toBe(3);
    expect(countActions(history).byKind.activityRetry).toBe(2);
  });

  it('leaves out patched() markers and their TemporalChangeVersion upserts, and cancelling a child', () => {
    const history = fixture('enrollment-disenrolled-while-agent-prompts');
    const names = history.events!.map(eventTypeName);
    expect(names).toContain('MarkerRecorded');
    expect(names).toContain('RequestCancelExternalWorkflowExecutionInitiated');
    expect(names.filter((n) => n === 'UpsertWorkflowSearchAttributes')).toHaveLength(11);
    expect(countActions(history).byKind.searchAttributeUpsert).toBe(7);
  });

  it('counts a signal from a workflow once, at its sender', () => {
    const child = fixture('agent-denied-then-synced');
    expect(child.events!.filter((e) => eventTypeName(e) === 'WorkflowExecutionSignaled')).toHaveLength(1);
    expect(countActions(child).byKind.signal).toBeUndefined();
    const sender = fixture('enrollment-with-agent');
    sender.events!.push({ ...sender.events!.at(-1)!, eventType: 'EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED' as never });
    expect(countActions(sender).byKind.signal).toBe(5);
  });

  it('counts a Signal-With-Start as the start alone', () => {
    const history = fixture('enrollment-account-driven');
    expect(eventTypeName(history.events![1]!)).toBe('WorkflowExecutionSignaled');
    expect(countActions(history).byKind).toMatchObject({ workflowStarted: 1, signal: 3 });
  });

  it('counts the local activities of one workflow task as one Action', () => {
    const history = fixture('enrollment-invite-expired');
    const marker = (task: number) => ({ eventType: 'EVENT_TYPE_MARKER_RECORDED' as never, markerRecordedEventAttributes: { markerName: 'core_local_activity', workflowTaskCompletedEventId: task as never } });
    history.events!.push(marker(4), marker(4), marker(4), marker(10));
    expect(countActions(history).byKind.localActivityTask).toBe(2);
  });

  it('counts only the events of a time window', () => {
    const history = fixture('agent-approved');
    const times = history.events!.map((e) => Number(e.eventTime!.seconds) * 1000 + Math.floor((e.eventTime!.nanos ?? 0) / 1e6));
    const from = times[0]!;
    const mid = times[Math.floor(times.length / 2)]!;
    const firstHalf = countActions(history, { from, to: mid });
    const secondHalf = countActions(history, { from: mid });
    expect(firstHalf.events + secondHalf.events).toBe(196);
    expect(firstHalf.actions + secondHalf.actions).toBe(34);
    expect(firstHalf.byKind.workflowStarted).toBe(1);
    expect(secondHalf.byKind.workflowStarted).toBeUndefined();
  });
});

describe('a lifecycle: every run and every child', () => {
  it('sums a parent and the child it started, found by run id', async () => {
    const parent = fixture('enrollment-with-agent');
    const child = fixture('agent-approved');
    const fetch = fakeServer([
      { workflowId: started(parent).workflowId!, runId: started(parent).firstExecutionRunId!, history: parent },
      { workflowId: started(child).workflowId!, runId: started(child).firstExecutionRunId!, history: child },
    ]);
    const lifecycle = await countLifecycle(fetch, started(parent).workflowId!);
    expect(lifecycle.workflows).toEqual([started(parent).workflowId, started(child).workflowId]);
    expect(lifecycle).toMatchObject({ runs: 2, events: 111 + 196, maxEventsPerRun: 196, actions: 25 + 34 });
    // Start Child Workflow is two Actions: the parent's intent and the child's start.
    expect(lifecycle.byKind).toMatchObject({ childWorkflowStart: 1, workflowStarted: 2 });
  });

  it('follows continue-as-new from the first run to the last, whichever run it is asked about', async () => {
    // Three runs of one id, chained as continue-as-new does (copies of real histories).
    const ids = ['run-1', 'run-2', 'run-3'];
    const sources = ['enrollment-device-enrolled', 'enrollment-policies-reapplied', 'enrollment-invite-expired'];
    const runs = sources.map((name, i) => {
      const history = fixture(name);
      Object.assign(started(history), { workflowId: 'enrollment/chain', firstExecutionRunId: 'run-1' });
      if (i < 2) history.events!.push({ eventType: 'EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW' as never, workflowExecutionContinuedAsNewEventAttributes: { newExecutionRunId: ids[i + 1] } });
      return { workflowId: 'enrollment/chain', runId: ids[i]!, history };
    });
    const fetch = fakeServer(runs);
    expect((await fetchRuns(fetch, 'enrollment/chain')).map((r) => r.runId)).toEqual(ids);
    const lifecycle = await countLifecycle(fetch, 'enrollment/chain');
    expect(lifecycle.runs).toBe(3);
    expect(lifecycle.events).toBe(74 + 108 + 36);
    expect(lifecycle.maxEventsPerRun).toBe(108);
    expect(lifecycle.byKind.workflowStarted).toBe(3);
    expect(lifecycle.actions).toBe(19 + 26 + 8);
  });
});

describe('how faithfully a scaled clock waited', () => {
  const at = (ms: number) => ({ seconds: Math.floor(ms / 1000) as never, nanos: (ms % 1000) * 1e6 });
  const event = (eventId: number, ms: number, type: string, attributes: Record<string, unknown> = {}) => ({ eventId: eventId as never, eventTime: at(ms), eventType: `EVENT_TYPE_${type}` as never, ...attributes });
  // A workflow task (0–100 ms), a 1 s timer that fires 400 ms late (100 → 1500), an activity (1500–1600).
  const history: IHistory = {
    events: [
      event(1, 0, 'WORKFLOW_TASK_SCHEDULED'),
      event(2, 100, 'WORKFLOW_TASK_COMPLETED', { workflowTaskCompletedEventAttributes: { scheduledEventId: 1 } }),
      event(3, 100, 'TIMER_STARTED', { timerStartedEventAttributes: { timerId: '1', startToFireTimeout: { seconds: 1, nanos: 0 } } }),
      event(4, 1500, 'TIMER_FIRED', { timerFiredEventAttributes: { timerId: '1', startedEventId: 3 } }),
      event(5, 1500, 'ACTIVITY_TASK_SCHEDULED'),
      event(6, 1600, 'ACTIVITY_TASK_COMPLETED', { activityTaskCompletedEventAttributes: { scheduledEventId: 5 } }),
    ],
  };
  const runs = [{ workflowId: 'w', runId: 'r', history }];

  it('counts work and late timers as overhead, and the requested timer time as coverage', () => {
    expect(clockFidelity(runs, { from: 0, to: 2000 })).toEqual({ overheadFraction: (100 + 400 + 100) / 2000, timerCoverage: 1000 / 2000, meanTimerLatenessMs: 400 });
  });

  it('counts only what falls inside the window', () => {
    expect(clockFidelity(runs, { from: 1000, to: 2000 })).toEqual({ overheadFraction: (400 + 100) / 1000, timerCoverage: 0, meanTimerLatenessMs: 400 });
  });
});
