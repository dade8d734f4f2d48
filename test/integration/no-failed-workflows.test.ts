/**
 * The e2e suites' final check (test/support/no-failed-workflows.ts) can fail: on a task queue of
 * its own, workflows that fail, are terminated and time out are each named with their reason,
 * while completed ones and ids a test ends on purpose are not.
 */
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { assertNoFailedWorkflows, workflowsEndedBadly } from '../support/no-failed-workflows.js';
import { eventually } from '../support/stack.js';

const taskQueue = `ending-badly-${randomBytes(6).toString('hex')}`;
const id = (name: string) => `${taskQueue}/${name}`;
let connection: Connection;
let client: Client;

beforeAll(async () => {
  connection = await Connection.connect({ address: inject('temporalAddress') });
  client = new Client({ connection });
});
afterAll(() => connection?.close());

describe('no failed workflows (the e2e suites\' final check)', { timeout: 60_000 }, () => {
  it('names each workflow that failed, was terminated or timed out, and why', async () => {
    const native = await NativeConnection.connect({ address: inject('temporalAddress') });
    const worker = await Worker.create({ connection: native, taskQueue, workflowsPath: fileURLToPath(new URL('../support/workflows/ending-badly.ts', import.meta.url)) });
    try {
      await worker.runUntil(async () => {
        await expect(client.workflow.execute('failingWorkflow', { taskQueue, workflowId: id('fails') })).rejects.toBeInstanceOf(WorkflowFailedError);
        expect(await client.workflow.execute('finishingWorkflow', { taskQueue, workflowId: id('finishes') })).toBe('done');
        const terminated = await client.workflow.start('waitingWorkflow', { taskQueue, workflowId: id('terminated') });
        await terminated.terminate('stuck in a test');
        const onPurpose = await client.workflow.start('waitingWorkflow', { taskQueue, workflowId: id('terminated-on-purpose') });
        await onPurpose.terminate('the test ends it');
        const timesOut = await client.workflow.start('waitingWorkflow', { taskQueue, workflowId: id('times-out'), workflowExecutionTimeout: '1s' });
        await expect(timesOut.result()).rejects.toBeInstanceOf(WorkflowFailedError);
      });
    } finally {
      await native.close();
    }

    const except = [id('terminated-on-purpose')];
    // Visibility catches up a moment after the workflows close.
    const bad = await eventually(async () => {
      const found = await workflowsEndedBadly(client, { taskQueue, except });
      return found.length >= 3 ? found : undefined;
    });
    expect(bad.map((w) => [w.workflowId, w.status]).sort()).toEqual([
      [id('fails'), 'FAILED'],
      [id('terminated'), 'TERMINATED'],
      [id('times-out'), 'TIMED_OUT'],
    ]);
    expect(bad.find((w) => w.status === 'FAILED')?.message).toBe('the licence server said no');
    expect(bad.find((w) => w.status === 'TERMINATED')?.message).toMatch(/^terminated: stuck in a test/);

    const thrown = await assertNoFailedWorkflows(client, { taskQueue, except }).then(() => undefined, (err: Error) => err);
    expect(thrown?.message).toContain(`3 workflow(s) on task queue ${taskQueue} ended FAILED/TERMINATED/TIMED_OUT`);
    expect(thrown?.message).toContain(`${id('fails')} (failingWorkflow`);
    expect(thrown?.message).not.toContain(id('finishes'));
    expect(thrown?.message).not.toContain(id('terminated-on-purpose'));

    // Excused by id, one by one, the check passes.
    await expect(assertNoFailedWorkflows(client, { taskQueue, except: [...except, id('fails'), id('terminated'), id('times-out')] })).resolves.toBeUndefined();
  });
});
