/**
 * The enrollment workflow over years, on Temporal's time-skipping test server: three years of an
 * enrolled device (monthly contact checks, weekly policy changes, 50 admin actions, an app waiting
 * six months for licences, the device identity renewed) keep every run under 2,000 events, carry
 * their state through continue-as-new, and stay findable by EnrollmentStatus. Then every failure
 * that needs a person: `attention`, and a way out with nothing lost.
 *
 * The activities are in-memory stand-ins that act like Postgres, the device and the providers would
 * (a renewal is installed when the device is pushed, a retried step finds the cause fixed); the
 * workflow code is the real bundle the worker runs.
 */
import { randomUUID } from 'node:crypto';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure, defaultPayloadConverter } from '@temporalio/common';
import proto, { type temporal } from '@temporalio/proto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Context } from '@temporalio/activity';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { resolveTemporalTestServer } from '../../scripts/temporal-test-server.js';
import { tandemSearchAttributes } from '../../workflows/search-attributes.js';
import type { AppActivities, EnrollmentActivities } from '../../workflows/activity-types.js';
import type { EnrollmentLifecycleArgs, enrollmentLifecycleWorkflow } from '../../workflows/enrollment/workflow.js';
import {
  adminActionUpdate,
  appEventSignal,
  appDeploymentWorkflowId,
  enrollmentEventSignal,
  enrollmentStatusQuery,
  enrollmentWorkflowId,
  type EnrollmentEvent,
  type EnrollmentWorkflowInput,
} from '../../workflows/messages.js';
import { countActions } from '../../scripts/temporal-actions.js';

type History = temporal.api.history.v1.IHistory;
const { temporal: protos } = proto;
const DAY = 86_400_000;
const AGENT = { adamId: '1434567890', bundleId: 'com.acme.agent' };

const server = resolveTemporalTestServer();
let env: TestWorkflowEnvironment;

/**
 * Each describe block gets its own time-skipping server: a clock three years ahead, and a gRPC
 * connection that has sent thousands of calls, are not what the next block should start from.
 */
function ownTimeSkippingServer() {
  beforeAll(async () => {
    env = await TestWorkflowEnvironment.createTimeSkipping({ server: { executable: { type: 'existing-path', path: server! } } });
    // The workflow upserts Tandem's search attributes: register them as on a production cluster.
    await env.connection.operatorService.addSearchAttributes({
      namespace: env.namespace ?? 'default',
      searchAttributes: Object.fromEntries(tandemSearchAttributes.map((key) => [key.name, protos.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD])),
    });
  });
  afterAll(() => env?.teardown());
}

/** The server's (skipped) clock as an activity sees it: when the current attempt was scheduled. */
const serverNow = () => Context.current().info.currentAttemptScheduledTimestampMs;

type Failing = Partial<Record<keyof EnrollmentActivities, () => never>>;

/**
 * Activities that behave like Tandem's own would against Postgres, the device and the providers.
 * `failing[name]` makes an activity fail the way the real one does until the test removes it.
 */
function fakeWorld(opts: { agent?: boolean; identityLifeMs?: number; installsRenewal?: boolean } = {}) {
  const world = {
    client: undefined as Client | undefined,
    workflowId: '',
    failing: {} as Failing,
    calls: {} as Record<string, number>,
    attention: [] as (string | null)[],
    reports: [] as string[],
    transitions: [] as string[],
    identity: { issuedAt: 0, expiresAt: 0, pending: false },
    identityLifeMs: opts.identityLifeMs ?? 730 * DAY,
    installsRenewal: opts.installsRenewal ?? true,
    licences: false,
    installs: [] as string[],
    licenceChecks: 0,
    /** app deployment workflow ids this enrollment started */
    children: [] as string[],
    appStatuses: [] as string[],
    released: [] as string[],
  };
  const called = (name: string) => {
    world.calls[name] = (world.calls[name] ?? 0) + 1;
    const fail = world.failing[name as keyof EnrollmentActivities];
    if (fail) fail();
  };
  const newIdentity = () => {
    const now = serverNow();
    world.identity = { issuedAt: now, expiresAt: now + world.identityLifeMs, pending: false };
  };
  const enrollment: EnrollmentActivities = {
    async issueInvite() {
      called('issueInvite');
      return { inviteId: randomUUID(), expiresAt: new Date(serverNow() + 7 * DAY).toISOString() };
    },
    async deliverInvite() {
      called('deliverInvite');
      return { channel: 'email', messageId: randomUUID() };
    },
    async recordTransition({ to }) {
      called('recordTransition');
      world.transitions.push(to);
      if (to === 'authenticated') newIdentity();
    },
    async queueInitialCommands() {
      called('queueInitialCommands');
      return { commandUuids: [randomUUID(), randomUUID()] };
    },
    async releaseCommand() {
      called('releaseCommand');
    },
    async queueRemoval() {
      called('queueRemoval');
      return { commandUuid: randomUUID() };
    },
    async markInactive() {
      called('markInactive');
    },
    async lastContact() {
      called('lastContact');
      // The device checks in every few hours.
      return { lastSeenAt: new Date(serverNow() - 3_600_000).toISOString() };
    },
    async cleanUpEnrollment() {
      called('cleanUpEnrollment');
    },
    async notifyDisenrolled() {
      called('notifyDisenrolled');
      return { sent: true };
    },
    async applyPolicies() {
      called('applyPolicies');
      return { queued: 1, apps: [] };
    },
    async agentConfig() {
      called('agentConfig');
      if (opts.agent) world.children.push(appDeploymentWorkflowId(world.workflowId.slice('enrollment/'.length), AGENT.adamId));
      return opts.agent ? AGENT : null;
    },
    async releaseLicences() {
      called('releaseLicences');
      return { released: 1 };
    },
    async pushDevice() {
      called('pushDevice');
      // The device checks in when pushed: a pending renewal is installed and its first request binds it.
      if (world.identity.pending && world.installsRenewal) {
        newIdentity();
        await world.client!.workflow.getHandle(world.workflowId).signal(enrollmentEventSignal, { type: 'identity_renewed' });
      }
      return { outcome: 'delivered' };
    },
    async recordAttention({ reason }) {
      called('recordAttention');
      world.attention.push(reason);
    },
    async reportFailure({ step }) {
      called('reportFailure');
      world.reports.push(step);
    },
    async identityStatus() {
      called('identityStatus');
      const { issuedAt, expiresAt, pending } = world.identity;
      return {
        issuedAt: new Date(issuedAt).toISOString(),
        expiresAt: new Date(expiresAt).toISOString(),
        renewAt: new Date(issuedAt + 0.8 * (expiresAt - issuedAt)).toISOString(),
        pendingRenewal: pending,
      };
    },
    async renewIdentity() {
      called('renewIdentity');
      world.identity.pending = true;
      return { commandUuid: randomUUID(), expiresAt: new Date(serverNow() + world.identityLifeMs).toISOString() };
    },
  };
  const apps: AppActivities = {
    async licenseApp() {
      world.licenceChecks += 1;
      return world.licences ? { outcome: 'assigned' } : { outcome: 'waiting_for_licences', detail: 'no licences left' };
    },
    async installApp({ idempotencyKey }) {
      world.installs.push(idempotencyKey);
      return { commandUuid: `CMD-${world.installs.length}` };
    },
    async recheckApp() {},
    async recordAppStatus({ status }) {
      world.appStatuses.push(status);
    },
  };
  return { world, activities: { ...enrollment, ...apps } };
}

async function withWorker<T>(fake: ReturnType<typeof fakeWorld>, fn: (taskQueue: string) => Promise<T>): Promise<T> {
  const taskQueue = `lifecycle-long-${randomUUID()}`;
  fake.world.client = env.client;
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: { codePath: inject('workflowBundlePath') },
    activities: fake.activities,
  });
  return worker.runUntil(() => fn(taskQueue));
}

function inputFor(enrollmentId: string, overrides: Partial<EnrollmentWorkflowInput> = {}): EnrollmentWorkflowInput {
  return {
    enrollmentId,
    enrollmentType: 'user',
    ownership: 'personal',
    channel: 'email',
    inviteExpiresAt: new Date(Date.now() + 365 * DAY).toISOString(),
    reminderAfterMs: [],
    installWindowMs: 7 * DAY,
    ...overrides,
  };
}

async function start(fake: ReturnType<typeof fakeWorld>, taskQueue: string, overrides: Partial<EnrollmentWorkflowInput> = {}) {
  const enrollmentId = randomUUID();
  fake.world.workflowId = enrollmentWorkflowId(enrollmentId);
  const input = inputFor(enrollmentId, { inviteExpiresAt: new Date((await env.currentTimeMs()) + 30 * DAY).toISOString(), ...overrides });
  return env.client.workflow.start<typeof enrollmentLifecycleWorkflow>('enrollmentLifecycleWorkflow', {
    taskQueue,
    workflowId: fake.world.workflowId,
    args: [{ input }],
  });
}

const signal = (handle: WorkflowHandle, event: EnrollmentEvent) => handle.signal(enrollmentEventSignal, event);

/** Waits (in real time) until the condition holds; the skipped clock does not move meanwhile. */
async function until<T>(what: string, read: () => Promise<T> | T, ok: (v: T) => boolean, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await read();
    if (ok(value)) return value;
    if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The current run's status and attention as operators see them (query and search attributes). */
async function shown(handle: WorkflowHandle) {
  const current = env.client.workflow.getHandle(handle.workflowId);
  const [snapshot, description] = await Promise.all([current.query(enrollmentStatusQuery), current.describe()]);
  const attrs = description.searchAttributes as Record<string, unknown[] | undefined>;
  return { status: snapshot.status, searchStatus: attrs.EnrollmentStatus?.[0], reason: attrs.AttentionReason?.[0] ?? null };
}

async function enroll(handle: WorkflowHandle) {
  await signal(handle, { type: 'portal_authenticated' });
  await signal(handle, { type: 'profile_issued', enrollmentType: 'user', ownership: 'personal' });
  await signal(handle, { type: 'device_authenticated' });
  await signal(handle, { type: 'token_updated' });
  await until('enrolled', () => shown(handle), (s) => s.status === 'enrolled');
}

/** Every run of a workflow id, oldest first, each with its history and the state it was handed. */
async function runsOf(workflowId: string): Promise<{ history: History; args: EnrollmentLifecycleArgs }[]> {
  const runs: { history: History; args: EnrollmentLifecycleArgs }[] = [];
  let runId: string | undefined;
  for (;;) {
    const history = await env.client.workflow.getHandle(workflowId, runId).fetchHistory();
    const started = history.events![0]!.workflowExecutionStartedEventAttributes!;
    runs.unshift({ history, args: defaultPayloadConverter.fromPayload(started.input!.payloads![0]!) });
    runId = started.continuedExecutionRunId || undefined;
    if (!runId) return runs;
  }
}

describe.skipIf(!server)('an enrollment over years (time-skipping)', { timeout: 600_000 }, () => {
  ownTimeSkippingServer();
  it('three years enrolled: every run under 2,000 events, state intact across continue-as-new, still listed by EnrollmentStatus', async () => {
    const fake = fakeWorld({ agent: true });
    const { world } = fake;
    await withWorker(fake, async (taskQueue) => {
      const handle = await start(fake, taskQueue);
      await enroll(handle);
      const appId = appDeploymentWorkflowId(handle.workflowId.slice('enrollment/'.length), AGENT.adamId);
      await until('agent waiting for licences', () => world.licenceChecks, (n) => n > 0);

      let actions = 0;
      for (let week = 1; week <= 156; week++) {
        await env.sleep(7 * DAY);
        if (process.env.DEBUG_LONG) process.stderr.write(`week ${week} ${new Date().toISOString()}\n`);
        await signal(handle, { type: 'policies_changed' });
        if (week % 3 === 0 && actions < 50) {
          actions += 1;
          const current = env.client.workflow.getHandle(handle.workflowId);
          const accepted = await current.executeUpdate(adminActionUpdate, { args: [{ commandUuid: randomUUID(), requestType: 'ProfileList', supervised: false }] });
          expect(accepted.status).toBe('queued');
        }
        if (week === 26) {
          // Six months later the licences are bought; the device approves the install.
          world.licences = true;
          await signal(handle, { type: 'licences_available' });
          await until('install queued', () => world.installs.length, (n) => n === 1);
          const app = env.client.workflow.getHandle(appId);
          await app.signal(appEventSignal, { type: 'device_status', status: 'Managed', installCommandUuid: 'CMD-1' });
          expect(await app.result()).toEqual({ status: 'installed' });
        }
      }
      expect(actions).toBe(50);
      await until('policies applied', () => world.calls.applyPolicies ?? 0, (n) => n === 157);

      const runs = await runsOf(handle.workflowId);
      const sizes = runs.map((r) => r.history.events!.length);
      console.info(`three years enrolled: ${runs.length} runs of ${sizes.join(', ')} events; ${runs.reduce((n, r) => n + countActions(r.history).actions, 0)} actions`);
      expect(runs.length).toBeGreaterThan(1);
      for (const size of sizes) expect(size).toBeLessThan(2_000);
      // Each run starts where the previous one stopped.
      const carried = runs.slice(1).map((r) => r.args.state!);
      carried.forEach((state, i) => {
        expect(state.run).toBe(i + 1); // the run that handed it over
        expect(state.status).toBe('enrolled');
        expect(state.managed.apps).toEqual([AGENT]);
        if (i > 0) expect(state.managed.policyRounds).toBeGreaterThan(carried[i - 1]!.managed.policyRounds);
      });
      // Monthly contact checks ran all along; the identity was renewed before it expired, once.
      expect(world.calls.lastContact).toBeGreaterThanOrEqual(36);
      expect(world.calls.renewIdentity).toBe(1);
      expect(world.identity.expiresAt).toBeGreaterThan(await env.currentTimeMs());
      expect(world.calls.issueInvite).toBe(1);
      expect(world.calls.releaseCommand).toBe(50);
      expect(world.installs).toHaveLength(1);
      expect(await shown(handle)).toEqual({ status: 'enrolled', searchStatus: 'enrolled', reason: null });
      await env.client.workflow.getHandle(handle.workflowId).terminate('three years are up'); // nothing left running for the teardown

    });
  });

});

describe.skipIf(!server)('the device identity over its life (time-skipping)', { timeout: 240_000 }, () => {
  ownTimeSkippingServer();

  it('renews a one-hour identity before it expires; an identity the device never installs shows attention, cleared by the renewal', async () => {
    const fake = fakeWorld({ identityLifeMs: 3_600_000, installsRenewal: false });
    const { world } = fake;
    await withWorker(fake, async (taskQueue) => {
      const handle = await start(fake, taskQueue);
      await enroll(handle);
      await env.sleep(49 * 60_000); // past 80% of the hour
      await until('renewal issued', () => world.calls.renewIdentity ?? 0, (n) => n === 1);
      await env.sleep(6 * 60_000); // past 90%: the device has not installed it
      const waiting = await until('attention', () => shown(handle), (s) => s.status === 'attention' && s.searchStatus === 'attention');
      expect(waiting).toEqual({ status: 'attention', searchStatus: 'attention', reason: 'identity_expiring' });
      expect(world.attention).toEqual(['identity_expiring']);
      // The device comes back online and installs it: attention clears, the new identity is scheduled.
      world.installsRenewal = true;
      await env.sleep(2 * 60_000);
      await until('renewed', () => shown(handle), (s) => s.status === 'enrolled');
      expect(world.attention).toEqual(['identity_expiring', null]);
      expect(world.identity.expiresAt - world.identity.issuedAt).toBe(3_600_000);
      await env.sleep(50 * 60_000); // the renewed identity is renewed in its turn
      await until('second renewal', () => world.calls.renewIdentity ?? 0, (n) => n === 2);
    });
  });
});

/**
 * Known flake, to fix next: on a loaded machine the Java test server answers the SDK's keepalive
 * pings with GOAWAY ("excess pings") and a call can hang for minutes. These blocks pass when run
 * alone; CI runs them only with TANDEM_ATTENTION_TIME_SKIPPING=1 until the connection is tuned.
 */
const attentionBlocks = !!server && (process.env.CI !== 'true' || process.env.TANDEM_ATTENTION_TIME_SKIPPING === '1');

describe.skipIf(!attentionBlocks)('failures that need a person: attention, then a way out (time-skipping)', { timeout: 240_000 }, () => {
  ownTimeSkippingServer();

  const nonRetryable = (type: string, message: string) => () => {
    throw ApplicationFailure.nonRetryable(message, type);
  };

  it.each([
    ['InviteUndeliverable', 'invite_undeliverable', '550 5.1.1 mailbox unavailable'],
    ['SmsNotConfigured', 'sms_not_configured', 'no SMS provider is configured'],
  ])('the invite: %s → attention %s, retried, nothing lost', async (type, reason, message) => {
    const fake = fakeWorld();
    const { world } = fake;
    world.failing.deliverInvite = nonRetryable(type, message);
    await withWorker(fake, async (taskQueue) => {
      const handle = await start(fake, taskQueue);
      expect(await until('attention', () => shown(handle), (s) => s.status === 'attention' && s.searchStatus === 'attention')).toEqual({ status: 'attention', searchStatus: 'attention', reason });
      // The user opens the portal meanwhile (an earlier link): the event waits, it is not dropped.
      await signal(handle, { type: 'portal_authenticated' });
      await env.sleep(3 * DAY);
      expect(world.calls.deliverInvite).toBe(1); // waits for a person, no retry loop
      delete world.failing.deliverInvite;
      await signal(handle, { type: 'retry', cause: 'admin' });
      await until('resumed', () => shown(handle), (s) => s.status === 'portal_authenticated');
      expect(world.calls.deliverInvite).toBe(2);
      expect(world.calls.issueInvite).toBe(1);
      expect(world.attention).toEqual([reason, null]);
      expect(world.transitions).toEqual(['invited', 'portal_authenticated']);
    });
  });

  it.each([
    ['ApnsNotConfigured', 'apns_not_configured'],
    ['ApnsRejected', 'apns_rejected'],
  ])('APNs: %s → attention %s; admin actions still queue; a new push certificate resumes it', async (type, reason) => {
    const fake = fakeWorld();
    const { world } = fake;
    await withWorker(fake, async (taskQueue) => {
      const handle = await start(fake, taskQueue);
      world.failing.pushDevice = nonRetryable(type, 'APNs rejected the push: 400 BadTopic');
      await signal(handle, { type: 'portal_authenticated' });
      await signal(handle, { type: 'profile_issued', enrollmentType: 'user', ownership: 'personal' });
      await signal(handle, { type: 'device_authenticated' });
      await signal(handle, { type: 'token_updated' });
      expect(await until('attention', () => shown(handle), (s) => s.status === 'attention' && s.searchStatus === 'attention')).toEqual({ status: 'attention', searchStatus: 'attention', reason });
      // An admin action is accepted and queued while the push waits; a policy change waits its turn.
      const accepted = await handle.executeUpdate(adminActionUpdate, { args: [{ commandUuid: randomUUID(), requestType: 'ProfileList', supervised: false }] });
      expect(accepted.status).toBe('queued');
      await signal(handle, { type: 'policies_changed' });
      delete world.failing.pushDevice;
      await signal(handle, { type: 'retry', cause: 'push_certificate' });
      await until('resumed', () => shown(handle), (s) => s.status === 'enrolled' && s.searchStatus === 'enrolled');
      await until('policies and the action pushed', () => world.calls.applyPolicies ?? 0, (n) => n === 2);
      expect(world.calls.releaseCommand).toBe(1);
      expect(world.attention).toEqual([reason, null]);
      expect(world.transitions).toEqual(['invited', 'portal_authenticated', 'profile_issued', 'authenticated', 'enrolled']);
    });
  });

  it('an Apps and Books token expired: attention while the app waits, cleared when it recovers', async () => {
    const fake = fakeWorld();
    const { world } = fake;
    await withWorker(fake, async (taskQueue) => {
      const handle = await start(fake, taskQueue);
      await enroll(handle);
      await signal(handle, { type: 'app_attention', adamId: AGENT.adamId, reason: 'vpp_token_invalid' });
      expect(await until('attention', () => shown(handle), (s) => s.status === 'attention' && s.searchStatus === 'attention')).toEqual({ status: 'attention', searchStatus: 'attention', reason: 'vpp_token_invalid' });
      await signal(handle, { type: 'app_attention_cleared', adamId: AGENT.adamId });
      await until('cleared', () => shown(handle), (s) => s.status === 'enrolled' && s.reason === null);
      expect(world.attention).toEqual(['vpp_token_invalid', null]);
    });
  });

  it('a cancel while the invite waits in attention ends it cleanly', async () => {
    const fake = fakeWorld();
    const { world } = fake;
    world.failing.deliverInvite = nonRetryable('InviteUndeliverable', '550 mailbox unavailable');
    await withWorker(fake, async (taskQueue) => {
      const handle = await start(fake, taskQueue);
      await until('attention', () => shown(handle), (s) => s.status === 'attention' && s.searchStatus === 'attention');
      await signal(handle, { type: 'cancel_requested', reason: 'cancelled by an administrator' });
      expect((await handle.result()).status).toBe('cancelled');
      expect(world.attention).toEqual(['invite_undeliverable', null]);
    });
  });

  it('CheckOut while the mail server is down: disenrolled at once, the notice reported, not waited on', async () => {
    const fake = fakeWorld();
    const { world } = fake;
    world.failing.notifyDisenrolled = () => {
      throw ApplicationFailure.retryable('connect ECONNREFUSED', 'Error');
    };
    await withWorker(fake, async (taskQueue) => {
      const handle = await start(fake, taskQueue);
      await enroll(handle);
      await signal(handle, { type: 'checked_out' });
      await until('disenrolled recorded', () => world.transitions, (t) => t.includes('disenrolled'));
      expect(world.calls.notifyDisenrolled ?? 0).toBeLessThanOrEqual(1); // the state came first
      expect((await handle.result()).status).toBe('disenrolled'); // waiting on the result lets the clock run through the retries
      expect(world.reports).toEqual(['disenrollment notice']);
      expect(world.calls.releaseLicences).toBe(1);
    });
  });
});

describe.skipIf(!attentionBlocks)('a provider that stays unreachable (time-skipping)', { timeout: 240_000 }, () => {
  // Its own server: the activity's retries back off on the server's clock, with nothing else on it.
  ownTimeSkippingServer();

  it('mail provider unreachable for hours: attention delivery_unavailable, retried by itself', async () => {
    const fake = fakeWorld();
    const { world } = fake;
    world.failing.deliverInvite = () => {
      throw ApplicationFailure.retryable('connect ECONNREFUSED', 'Error');
    };
    await withWorker(fake, async (taskQueue) => {
      const handle = await start(fake, taskQueue);
      // The activity's retries back off (1 s doubling to 5 min): let the skipped clock run through them.
      await env.sleep(30 * 60_000);
      expect((await until('attention', () => shown(handle), (s) => s.status === 'attention' && s.searchStatus === 'attention')).reason).toBe('delivery_unavailable');
      expect(world.calls.deliverInvite).toBe(10); // the activity's bounded attempts
      delete world.failing.deliverInvite;
      await env.sleep(2 * 3_600_000);
      await until('resumed', () => shown(handle), (s) => s.status === 'invited');
      expect(world.calls.deliverInvite).toBe(11);
    });
  });
});
