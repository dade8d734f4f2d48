/**
 * Faults injected into a running stack, and what must hold: the enrollment still completes and
 * nothing is lost. Each test logs what it injected and how long recovery took, as
 * `fault: <name> recovered in <ms> ms` (read by the issue note's table).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, Connection } from '@temporalio/client';
import { startApi } from '../../api/server.js';
import { createLogger } from '../../config/logger.js';
import { SecretBox } from '../../security/secret-box.js';
import { parseInvite, SimulatedDevice } from '../../scripts/simulator/device.js';
import { eventually, startTestStack, testEnv, type TestStack } from '../support/stack.js';
import { untilSettled } from '../support/workflow-settled.js';

let stack: TestStack;
const json = async (res: Response): Promise<any> => res.json();
const tag = () => Math.random().toString(36).slice(2, 8);
const report = (name: string, started: number) => process.stderr.write(`fault: ${name} recovered in ${Date.now() - started} ms\n`);

beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(() => stack?.stop());

async function invite() {
  const email = `fault.${tag()}@example.com`;
  const res = await stack.admin('/api/v1/enrollments', {
    method: 'POST',
    body: JSON.stringify({ user: { name: 'Fault User', email }, channel: 'email', ownership: 'personal', authMode: 'open', managedAppleId: `fault.${tag()}@acme.example` }),
  });
  expect(res.status).toBe(201);
  return { created: await json(res), email };
}

const statusOf = async (id: string) => (await json(await stack.admin(`/api/v1/enrollments/${id}`))).status as string;

describe('faults', { timeout: 120_000 }, () => {
  it('SMTP refusing mail (421, three times): the invite is delivered later, once', async () => {
    for (let i = 0; i < 3; i++) stack.smtp.failNext(421, 'Service not available, try again later');
    const started = Date.now();
    const { created, email } = await invite();
    const mail = await stack.smtp.waitFor((m) => m.to.includes(email), 60_000);
    report('smtp-down', started);
    expect(mail.text).toContain(created.id);
    // The delivery activity has completed and the workflow waits for nothing soon: a second mail
    // would already be in the sink.
    const settled = await untilSettled(stack.client, created.workflowId);
    expect(settled.activitiesScheduled('deliverInvite')).toBe(1);
    expect(stack.smtp.messages.filter((m) => m.to.includes(email))).toHaveLength(1);
  });

  it('APNs 5xx bursts: the push is retried with backoff until it lands', async () => {
    const { created, email } = await invite();
    const { enrollmentUrl, username } = parseInvite((await stack.smtp.waitFor((m) => m.to.includes(email), 15_000)).text);
    const device = new SimulatedDevice();
    device.installProfile(await device.enrollThroughPortal(enrollmentUrl, { username }));
    await device.authenticate();
    for (let i = 0; i < 3; i++) stack.apns.respondNext(503, { reason: 'ServiceUnavailable' });
    const started = Date.now();
    await device.tokenUpdate();
    const delivered = await stack.apns.waitFor((p) => p.token === device.pushToken.toString('hex') && p.status === 200, 60_000);
    report('apns-5xx-burst', started);
    const attempts = stack.apns.pushes.filter((p) => p.token === device.pushToken.toString('hex'));
    expect(attempts.map((p) => p.status)).toEqual([503, 503, 503, 200]);
    // Backoff: the gaps between attempts grow.
    const gaps = attempts.slice(1).map((p, i) => p.at.getTime() - attempts[i]!.at.getTime());
    expect(gaps[2]!).toBeGreaterThanOrEqual(gaps[0]!);
    expect(delivered.body).toEqual({ mdm: device.pushMagic });
    expect(await statusOf(created.id)).toBe('enrolled');
  });

  it('worker down mid-enrollment: device events wait in Temporal and the enrollment completes after restart', async () => {
    const { created, email } = await invite();
    const { enrollmentUrl, username } = parseInvite((await stack.smtp.waitFor((m) => m.to.includes(email), 15_000)).text);
    await stack.stopWorker();
    const started = Date.now();
    // Everything the device does while no worker runs is answered from Postgres.
    const device = new SimulatedDevice();
    device.installProfile(await device.enrollThroughPortal(enrollmentUrl, { username }));
    await device.authenticate();
    await device.tokenUpdate();
    expect(await statusOf(created.id)).toBe('invited');
    await stack.startWorker();
    await eventually(async () => ((await statusOf(created.id)) === 'enrolled' ? true : undefined), { timeoutMs: 30_000 });
    report('worker-restart', started);
    const timeline = (await json(await stack.admin(`/api/v1/enrollments/${created.id}`))).timeline.map((t: any) => t.to);
    expect(timeline).toEqual(['invited', 'portal_authenticated', 'profile_issued', 'authenticated', 'enrolled']);
  });

  it('API restart during check-ins: the device retries and no event is lost', async () => {
    const { created, email } = await invite();
    const { enrollmentUrl, username } = parseInvite((await stack.smtp.waitFor((m) => m.to.includes(email), 15_000)).text);
    const device = new SimulatedDevice();
    device.installProfile(await device.enrollThroughPortal(enrollmentUrl, { username }));
    await device.authenticate();
    await stack.stopApi();
    const started = Date.now();
    await expect(device.tokenUpdate()).rejects.toThrow(); // connection refused: the device keeps it and retries
    await stack.startApi();
    await device.tokenUpdate();
    await eventually(async () => ((await statusOf(created.id)) === 'enrolled' ? true : undefined), { timeoutMs: 30_000 });
    report('api-restart', started);
  });

  it('database unreachable: the API answers 503 with Retry-After, and /readyz says why', async () => {
    const env = testEnv({ TANDEM_MASTER_KEY: stack.env.TANDEM_MASTER_KEY!, TEMPORAL_TASK_QUEUE: stack.env.TEMPORAL_TASK_QUEUE });
    const { createDb } = await import('../../db/connection.js');
    const dead = createDb({ url: 'postgres://postgres@127.0.0.1:9/none', poolSize: 1 });
    const connection = await Connection.connect({ address: env.TEMPORAL_ADDRESS });
    const api = await startApi({ env, db: dead, box: new SecretBox(env.TANDEM_MASTER_KEY!), temporal: new Client({ connection }), log: createLogger('silent'), relay: { pollIntervalMs: 60_000 } });
    try {
      const res = await fetch(`http://127.0.0.1:${api.port}/api/v1/enrollments`, { headers: { authorization: `Bearer ${stack.adminToken}` } });
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('5');
      expect((await json(res)).error.code).toBe('database_unavailable');
      const ready = await fetch(`http://127.0.0.1:${api.port}/readyz`);
      expect(ready.status).toBe(503);
      expect((await json(ready)).checks.database.ok).toBe(false);
    } finally {
      await api.stop();
      await dead.destroy();
      await connection.close();
    }
  });
});

describe('rate limits', () => {
  it('limit sign-in attempts per client and admin requests per token, with Retry-After, across API instances', async () => {
    const limited = await startTestStack({ RATE_LIMIT_SIGN_IN: '3', RATE_LIMIT_API: '30' });
    // A second API instance on the same database: the budget is shared, not per process.
    const connection = await Connection.connect({ address: limited.env.TEMPORAL_ADDRESS });
    const second = await startApi({ env: { ...limited.env, PORT: 0 }, db: limited.database.db, box: new SecretBox(limited.env.TANDEM_MASTER_KEY!), temporal: new Client({ connection }), log: createLogger('silent'), relay: { pollIntervalMs: 60_000 } });
    const bases = [limited.baseUrl, `http://127.0.0.1:${second.port}`];
    // Windows follow the clock's minutes: start early in one, so the whole test stays inside it.
    const second_ = new Date().getSeconds();
    if (second_ > 40) await new Promise((r) => setTimeout(r, (61 - second_) * 1000));
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) {
        const base = bases[i % 2]!;
        const res = await fetch(`${base}/account-enrollment/sign-in`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded', origin: base },
          body: 'username=nobody%40acme.example&password=x',
        });
        statuses.push(res.status);
        if (res.status === 429) {
          expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
          expect((await json(res)).error.code).toBe('rate_limited');
        }
      }
      expect(statuses).toEqual([400, 400, 400, 429, 429]);
      const apiStatuses: number[] = [];
      for (let i = 0; i < 32; i++) {
        apiStatuses.push((await fetch(`${bases[i % 2]}/api/v1/enrollments`, { headers: { authorization: `Bearer ${limited.adminToken}` } })).status);
      }
      expect(apiStatuses.at(-1)).toBe(429);
      expect(apiStatuses.filter((s) => s === 200).length).toBeLessThanOrEqual(30);
      // Guessing tokens spends the address's budget (the sign-in limit, 3), not a bucket per guess.
      const guesses: number[] = [];
      for (let i = 0; i < 6; i++) guesses.push((await fetch(`${bases[i % 2]}/api/v1/enrollments`, { headers: { authorization: `Bearer tdm_guess_${i}` } })).status);
      expect(guesses).toEqual([401, 401, 401, 429, 429, 429]);
      // A request without any token guesses nothing: 401 first, even from an address out of budget.
      const bare = await fetch(`${bases[0]}/api/v1/enrollments`);
      expect(bare.status).toBe(401);
      expect(bare.headers.get('www-authenticate')).toMatch(/^Bearer/);
      const failureWindows = await limited.database.db.selectFrom('rate_limit_windows').select('subject').where('bucket', '=', 'api-auth-failure').execute();
      expect(failureWindows).toHaveLength(1);
      // What the table keeps identifies no one: subjects are hashes, never the token or the address.
      const windows = await limited.database.db.selectFrom('rate_limit_windows').select(['bucket', 'subject']).execute();
      expect(windows.length).toBeGreaterThan(0);
      for (const w of windows) expect(w.subject).not.toMatch(/Bearer|127\.0\.0\.1/);
    } finally {
      await second.stop();
      await connection.close();
      await limited.stop();
    }
  });

  it('the audit log records admin actions and is queryable', async () => {
    const { created } = await invite();
    const page = await json(await stack.admin(`/api/v1/audit?targetType=enrollment&targetId=${created.id}`));
    expect(page.items.map((e: any) => e.action)).toContain('enrollment.create');
    expect(page.items[0]).toMatchObject({ actor: 'test-admin', targetId: created.id });
  });
});
