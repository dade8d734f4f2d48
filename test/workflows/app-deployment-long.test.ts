/**
 * The app deployment over months, on Temporal's time-skipping test server: a week-long unanswered
 * install prompt stays within its action budget, and six months waiting for licences stay under
 * 2,000 events per run (continuing as new with its state intact). The activities are in-memory
 * stand-ins that record what the workflow asked; the workflow code is the real bundle.
 */
import { randomUUID } from 'node:crypto';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import type { temporal } from '@temporalio/proto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { resolveTemporalTestServer } from '../../scripts/temporal-test-server.js';
import { keepHistory } from '../support/history-fixtures.js';
import type { AppActivities, LicenceOutcome } from '../../workflows/activity-types.js';
import type { appDeploymentWorkflow } from '../../workflows/app-deployment.js';
import { agentDefaults, appEventSignal, appDeploymentWorkflowId, type AppDeploymentInput } from '../../workflows/messages.js';

type History = temporal.api.history.v1.IHistory;
const DAY = 86_400_000;

/**
 * Temporal actions in one run's history (workflow start, activities, timers, signals, updates,
 * child starts, search-attribute upserts). A local stand-in until test/support/temporal-actions.ts lands.
 */
function countActions(history: History): number {
  return (history.events ?? []).filter(
    (e) =>
      e.workflowExecutionStartedEventAttributes ||
      e.activityTaskScheduledEventAttributes ||
      e.timerStartedEventAttributes ||
      e.workflowExecutionSignaledEventAttributes ||
      e.workflowExecutionUpdateAcceptedEventAttributes ||
      e.startChildWorkflowExecutionInitiatedEventAttributes ||
      e.upsertWorkflowSearchAttributesEventAttributes,
  ).length;
}

/** Every run of a workflow id, oldest first, each with its history and input. */
async function runsOf(client: Client, workflowId: string): Promise<{ history: History; input: AppDeploymentInput }[]> {
  const runs: { history: History; input: AppDeploymentInput }[] = [];
  let runId: string | undefined;
  for (;;) {
    const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
    const started = history.events![0]!.workflowExecutionStartedEventAttributes!;
    runs.unshift({ history, input: defaultPayloadConverter.fromPayload(started.input!.payloads![0]!) });
    runId = started.continuedExecutionRunId || undefined;
    if (!runId) return runs;
  }
}

/** In-memory activities: what the workflow asked for, and the answers a test chooses. */
function fakeActivities() {
  const seen = { licenceChecks: [] as string[], installs: [] as string[], rechecks: 0, reminders: 0, statuses: [] as string[] };
  let licences = false;
  let installed: ((commandUuid: string) => void) | undefined;
  const activities: AppActivities = {
    async licenseApp({ idempotencyKey }): Promise<LicenceOutcome> {
      seen.licenceChecks.push(idempotencyKey);
      return licences ? { outcome: 'assigned' } : { outcome: 'waiting_for_licences', detail: 'no licences left' };
    },
    async installApp({ idempotencyKey }) {
      const commandUuid = `CMD-${seen.installs.length + 1}`;
      seen.installs.push(idempotencyKey);
      installed?.(commandUuid);
      return { commandUuid };
    },
    async recheckApp({ remind }) {
      seen.rechecks += 1;
      if (remind) seen.reminders += 1;
    },
    async recordAppStatus({ status }) {
      seen.statuses.push(status);
    },
  };
  return {
    activities,
    seen,
    buyLicences: () => void (licences = true),
    /** resolves with the CommandUUID of the next InstallApplication queued */
    nextInstall: () => new Promise<string>((resolve) => (installed = resolve)),
  };
}

const server = resolveTemporalTestServer();
let env: TestWorkflowEnvironment;

beforeAll(async () => {
  if (!server) return;
  env = await TestWorkflowEnvironment.createTimeSkipping({ server: { executable: { type: 'existing-path', path: server } } });
});
afterAll(() => env?.teardown());

async function withWorker<T>(fake: ReturnType<typeof fakeActivities>, fn: (taskQueue: string) => Promise<T>): Promise<T> {
  const taskQueue = `app-long-${randomUUID()}`;
  const worker = await Worker.create({ connection: env.nativeConnection, taskQueue, workflowBundle: { codePath: inject('workflowBundlePath') }, activities: fake.activities });
  return worker.runUntil(() => fn(taskQueue));
}

/** What the enrollment workflow passes today: the production durations, nothing newer. */
const input = (enrollmentId: string): AppDeploymentInput => ({ enrollmentId, adamId: '1434567890', bundleId: 'com.acme.agent', ...agentDefaults });
const start = (taskQueue: string, enrollmentId: string): Promise<WorkflowHandle<typeof appDeploymentWorkflow>> =>
  env.client.workflow.start<typeof appDeploymentWorkflow>('appDeploymentWorkflow', { taskQueue, workflowId: appDeploymentWorkflowId(enrollmentId, '1434567890'), args: [input(enrollmentId)] });

describe.skipIf(!server)('app deployment over months (time-skipping)', { timeout: 240_000 }, () => {
  it('an install prompt left unanswered for 7 days costs at most 30 actions, with daily reminders, then waits for a sync', async () => {
    const fake = fakeActivities();
    fake.buyLicences();
    await withWorker(fake, async (taskQueue) => {
      const installQueued = fake.nextInstall();
      const handle = await start(taskQueue, randomUUID());
      const commandUuid = await installQueued;
      // The device acknowledges InstallApplication with State Prompting; the relay signals it once.
      await handle.signal(appEventSignal, { type: 'device_status', status: 'Prompting', installCommandUuid: commandUuid });
      await env.sleep(8 * DAY);
      expect(fake.seen.statuses).toEqual(['not_approved']);
      const [run] = await runsOf(env.client, handle.workflowId);
      const actions = countActions(run!.history);
      expect(actions).toBeLessThanOrEqual(30);
      expect(run!.history.events!.length).toBeLessThan(2_000);
      // Re-checks back off (10 minutes doubling to a day) and stop at their bound; reminders ride along.
      expect(fake.seen.rechecks).toBe(11);
      expect(fake.seen.reminders).toBeGreaterThanOrEqual(4);
      console.info(`7-day unanswered prompt: ${actions} actions, ${run!.history.events!.length} events, ${fake.seen.rechecks} re-checks, ${fake.seen.reminders} reminders`);

      // Nothing more happens by itself; disenrollment cancels it, and it ends cleanly.
      await env.sleep(30 * DAY);
      expect(fake.seen.rechecks).toBe(11);
      await handle.cancel();
      expect(await handle.result()).toEqual({ status: 'cancelled' });
      expect(fake.seen.statuses).toEqual(['not_approved', 'cancelled']);
      await keepHistory(env.client, handle.workflowId, 'app-deployment-unanswered-week-then-cancelled');
    });
  });

  it('waits six months for licences: every run under 2,000 events, state carried through continue-as-new, then installs', async () => {
    const fake = fakeActivities();
    await withWorker(fake, async (taskQueue) => {
      const handle = await start(taskQueue, randomUUID());
      await env.sleep(182 * DAY);
      fake.buyLicences();
      const installQueued = fake.nextInstall();
      await handle.signal(appEventSignal, { type: 'licences_available' });
      const commandUuid = await installQueued;
      await handle.signal(appEventSignal, { type: 'device_status', status: 'Managed', installCommandUuid: commandUuid });
      expect(await handle.result()).toEqual({ status: 'installed' });

      const runs = await runsOf(env.client, handle.workflowId);
      expect(runs.length).toBeGreaterThanOrEqual(2);
      for (const run of runs) expect(run.history.events!.length).toBeLessThan(2_000);
      // Each later run starts from the state the previous one carried: same deployment, same attempt,
      // the licence re-checks counted on, the durations kept.
      const first = runs[0]!.input;
      expect(first.carried).toBeUndefined();
      const carried = runs.slice(1).map((r) => r.input.carried!);
      carried.forEach((c, i) => {
        expect(c.run).toBe(i + 2);
        expect(c.attempt).toBe(1);
        expect(c.stage.name).toBe('waiting_for_licences');
        expect(c.keyPrefix).toBe(carried[0]!.keyPrefix);
        if (i > 0) expect(c.steps).toBeGreaterThan(carried[i - 1]!.steps);
      });
      for (const r of runs) expect(r.input).toMatchObject({ approvalWindowMs: agentDefaults.approvalWindowMs, adamId: '1434567890' });
      // Daily reconciling re-checks after a short ramp (1 hour doubling), not hourly ones: ~190, not ~4,400.
      expect(fake.seen.licenceChecks.length).toBeGreaterThan(170);
      expect(fake.seen.licenceChecks.length).toBeLessThan(200);
      expect(new Set(fake.seen.licenceChecks).size).toBe(fake.seen.licenceChecks.length); // no idempotency key reused across runs
      expect(fake.seen.installs).toHaveLength(1);
      console.info(`six months waiting for licences: ${runs.length} runs of ${runs.map((r) => r.history.events!.length).join(', ')} events; ${fake.seen.licenceChecks.length} licence checks`);
    });
  });
});
