/**
 * Before a test asserts that something did *not* happen, it waits for proof that the workflow
 * responsible has nothing left to do soon, instead of sleeping: its last workflow task has
 * completed (it is blocked on a signal, a timer or a child), no activity is scheduled or retrying,
 * and no timer it holds fires within `quietForMs`. From then on only a signal, an update or a
 * distant timer can make it act again.
 */
import type { Client } from '@temporalio/client';
import type { temporal } from '@temporalio/proto';

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

export interface SettledWorkflow {
  events: HistoryEvent[];
  /** How many times each activity type was scheduled, over the whole history. */
  activitiesScheduled: (activityType: string) => number;
}

const num = (v: unknown) => Number(v ?? 0); // proto int64 fields arrive as Long or number
/** A protobuf Timestamp or Duration in milliseconds. */
const ms = (t: { seconds?: unknown; nanos?: unknown } | null | undefined) => num(t?.seconds) * 1000 + Math.floor(num(t?.nanos) / 1e6);

/** Why the history is not settled yet, or undefined when it is. */
export function unsettledReason(events: HistoryEvent[], now: number, quietForMs: number): string | undefined {
  const lastTask = [...events].reverse().find((e) => e.workflowTaskScheduledEventAttributes || e.workflowTaskStartedEventAttributes || e.workflowTaskCompletedEventAttributes || e.workflowTaskFailedEventAttributes || e.workflowTaskTimedOutEventAttributes);
  if (!lastTask?.workflowTaskCompletedEventAttributes) return 'a workflow task is pending';

  const closedActivities = new Set<number>();
  for (const e of events) {
    const closed = e.activityTaskCompletedEventAttributes ?? e.activityTaskFailedEventAttributes ?? e.activityTaskTimedOutEventAttributes ?? e.activityTaskCanceledEventAttributes;
    if (closed) closedActivities.add(num(closed.scheduledEventId));
  }
  const open = events.find((e) => e.activityTaskScheduledEventAttributes && !closedActivities.has(num(e.eventId)));
  if (open) return `activity ${open.activityTaskScheduledEventAttributes!.activityType?.name} is still running`;

  const closedTimers = new Set<string>();
  for (const e of events) {
    const closed = e.timerFiredEventAttributes ?? e.timerCanceledEventAttributes;
    if (closed?.timerId) closedTimers.add(closed.timerId);
  }
  for (const e of events) {
    const timer = e.timerStartedEventAttributes;
    if (!timer || closedTimers.has(timer.timerId!)) continue;
    const firesAt = ms(e.eventTime) + ms(timer.startToFireTimeout);
    if (firesAt - now < quietForMs) return `timer ${timer.timerId} fires in ${firesAt - now} ms`;
  }
  return undefined;
}

/** Waits until the workflow has settled (see the module comment) and returns its history. */
export async function untilSettled(client: Client, workflowId: string, { quietForMs = 60_000, timeoutMs = 30_000 } = {}): Promise<SettledWorkflow> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const events = (await client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
    const reason = unsettledReason(events, Date.now(), quietForMs);
    if (!reason) {
      return {
        events,
        activitiesScheduled: (type: string) => events.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === type).length,
      };
    }
    if (Date.now() > deadline) throw new Error(`workflow ${workflowId} did not settle within ${timeoutMs} ms: ${reason}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}
