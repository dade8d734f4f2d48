/**
 * Before a test asserts that something did *not* happen, it waits for proof that the workflow
 * responsible has nothing left to do soon, instead of sleeping: its last workflow task has
 * completed (it is blocked on a signal, a timer or a child), no activity is scheduled or retrying,
 * and no timer it holds fires within `quietForMs`. From then on only a signal, an update or a
 * distant timer can make it act again.
 */
import type { Client } from '@temporalio/client';
import type { temporal } from '@temporalio/proto';
import { tsToMs } from '@temporalio/common/lib/time.js';
import { eventually } from './stack.js';

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

export interface SettledWorkflow {
  events: HistoryEvent[];
  /** How many times each activity type was scheduled, over the whole history. */
  activitiesScheduled: (activityType: string) => number;
}

const num = (v: unknown) => Number(v ?? 0);

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
    const firesAt = tsToMs(e.eventTime) + num(timer.startToFireTimeout?.seconds) * 1000 + Math.floor(num(timer.startToFireTimeout?.nanos) / 1e6);
    if (firesAt - now < quietForMs) return `timer ${timer.timerId} fires in ${firesAt - now} ms`;
  }
  return undefined;
}

/** Waits until the workflow has settled (see the module comment) and returns its history. */
export async function untilSettled(client: Client, workflowId: string, { quietForMs = 60_000, timeoutMs = 30_000 } = {}): Promise<SettledWorkflow> {
  let reason = 'not checked yet';
  try {
    return await eventually(
      async () => {
        const events = (await client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
        reason = unsettledReason(events, Date.now(), quietForMs) ?? '';
        if (reason) return undefined;
        return {
          events,
          activitiesScheduled: (type: string) => events.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === type).length,
        };
      },
      { timeoutMs, intervalMs: 150 },
    );
  } catch (err) {
    throw new Error(`workflow ${workflowId} did not settle: ${reason}`, { cause: err });
  }
}
