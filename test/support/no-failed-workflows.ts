/**
 * The end of an e2e suite: no workflow it started (found by its own task queue, children
 * included, as they inherit it) ended Failed, Terminated or TimedOut. Visibility finds them; the
 * status and failure come from each workflow itself (describe and its close event), so a
 * visibility record that lags behind does not hide a failure.
 */
import type { Client } from '@temporalio/client';

const BAD = new Set(['FAILED', 'TERMINATED', 'TIMED_OUT']);

export interface EndedBadly {
  workflowId: string;
  runId: string;
  type: string;
  status: string;
  /** the failure's message, the termination's reason, or the timeout */
  message: string;
}

export interface NoFailedWorkflowsOptions {
  /** the suite's task queue: every workflow it started runs there (omit only on a server of the suite's own) */
  taskQueue?: string;
  /** workflow ids a test ends on purpose (named one by one, never by pattern) */
  except?: Iterable<string>;
}

/** The workflows on this task queue that ended Failed, Terminated or TimedOut (but the excepted ids). */
export async function workflowsEndedBadly(client: Client, { taskQueue, except = [] }: NoFailedWorkflowsOptions): Promise<EndedBadly[]> {
  const excepted = new Set(except);
  const found: EndedBadly[] = [];
  const query = taskQueue === undefined ? undefined : `TaskQueue = '${taskQueue.replace(/'/g, "\\'")}'`;
  for await (const listed of client.workflow.list(query === undefined ? {} : { query })) {
    if (excepted.has(listed.workflowId)) continue;
    const handle = client.workflow.getHandle(listed.workflowId, listed.runId);
    const { status } = await handle.describe();
    if (!BAD.has(status.name)) continue;
    found.push({ workflowId: listed.workflowId, runId: listed.runId, type: listed.type, status: status.name, message: await closingMessage(client, listed.workflowId, listed.runId) });
  }
  return found;
}

async function closingMessage(client: Client, workflowId: string, runId: string): Promise<string> {
  const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
  const last = history.events?.at(-1);
  const failed = last?.workflowExecutionFailedEventAttributes?.failure;
  if (failed) {
    const causes: string[] = [];
    for (let f: typeof failed | null | undefined = failed; f; f = f.cause) causes.push(f.message ?? '');
    return causes.filter(Boolean).join(': caused by: ');
  }
  const terminated = last?.workflowExecutionTerminatedEventAttributes;
  if (terminated) return `terminated: ${terminated.reason || '(no reason given)'}${terminated.identity ? ` by ${terminated.identity}` : ''}`;
  if (last?.workflowExecutionTimedOutEventAttributes) return 'the workflow execution timed out';
  return '(no close event found)';
}

/** Throws, naming each workflow and why, if any workflow on the task queue ended Failed, Terminated or TimedOut. */
export async function assertNoFailedWorkflows(client: Client, options: NoFailedWorkflowsOptions): Promise<void> {
  const bad = await workflowsEndedBadly(client, options);
  if (bad.length === 0) return;
  const lines = bad.map((w) => `  ${w.workflowId} (${w.type}, run ${w.runId}): ${w.status}: ${w.message}`);
  throw new Error(`${bad.length} workflow(s)${options.taskQueue ? ` on task queue ${options.taskQueue}` : ''} ended ${[...new Set(bad.map((w) => w.status))].sort().join('/')}:\n${lines.join('\n')}`);
}
