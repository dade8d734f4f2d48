/**
 * The "settled" test helper (test/support/workflow-settled.ts) on hand-written histories: what it
 * must not call settled is what would let a negative check pass too early.
 */
import { describe, expect, it } from 'vitest';
import { unsettledReason } from '../support/workflow-settled.js';

const now = Date.parse('2030-01-01T00:00:00Z');
const at = (ms: number) => ({ seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 });
let id = 0;
const ev = (attrs: Record<string, unknown>, time = now) => ({ eventId: ++id, eventTime: at(time), ...attrs });
const taskDone = () => [ev({ workflowTaskScheduledEventAttributes: {} }), ev({ workflowTaskStartedEventAttributes: {} }), ev({ workflowTaskCompletedEventAttributes: {} })];

describe('unsettledReason', () => {
  it('is settled when the last workflow task completed and nothing is scheduled soon', () => {
    const timer = ev({ timerStartedEventAttributes: { timerId: '1', startToFireTimeout: { seconds: 3 * 86_400 } } });
    expect(unsettledReason([...taskDone(), timer] as never, now, 60_000)).toBeUndefined();
  });

  it('is not settled while a workflow task is pending', () => {
    const events = [...taskDone(), ev({ workflowExecutionSignaledEventAttributes: {} }), ev({ workflowTaskScheduledEventAttributes: {} })];
    expect(unsettledReason(events as never, now, 60_000)).toBe('a workflow task is pending');
  });

  it('is not settled while an activity runs or retries, and is once it closes', () => {
    const scheduled = ev({ activityTaskScheduledEventAttributes: { activityType: { name: 'deliverInvite' } } });
    const open = [...taskDone().slice(0, 3), scheduled];
    expect(unsettledReason(open as never, now, 60_000)).toBe('activity deliverInvite is still running');
    const closed = [...open, ev({ activityTaskCompletedEventAttributes: { scheduledEventId: scheduled.eventId } }), ...taskDone()];
    expect(unsettledReason(closed as never, now, 60_000)).toBeUndefined();
  });

  it('is not settled while a timer fires soon, and is once it fired or was cancelled', () => {
    const soon = ev({ timerStartedEventAttributes: { timerId: '7', startToFireTimeout: { seconds: 2 } } }, now - 500);
    const waiting = [...taskDone(), soon];
    expect(unsettledReason(waiting as never, now, 60_000)).toBe('timer 7 fires in 1500 ms');
    expect(unsettledReason([...waiting, ev({ timerFiredEventAttributes: { timerId: '7' } }), ...taskDone()] as never, now, 60_000)).toBeUndefined();
    expect(unsettledReason([...waiting, ev({ timerCanceledEventAttributes: { timerId: '7' } }), ...taskDone()] as never, now, 60_000)).toBeUndefined();
  });
});
