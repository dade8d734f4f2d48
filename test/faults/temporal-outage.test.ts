/**
 * The Temporal server itself stops for 30 s in the middle of an enrollment (its own dev server,
 * stopped with SIGTERM and started again on the same port and SQLite state). Meanwhile device
 * endpoints answer from Postgres and the admin API keeps accepting invites; when Temporal returns,
 * the outbox delivers every event and the enrollment completes. Nothing is lost.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseInvite, SimulatedDevice } from '../../scripts/simulator/device.js';
import { startPrivateTemporal, type PrivateTemporal } from '../support/private-temporal.js';
import { eventually, startTestStack, type TestStack } from '../support/stack.js';

const cliPath = inject('temporalCliPath');
const OUTAGE_MS = 30_000;
let temporal: PrivateTemporal;
let stack: TestStack;
const json = async (res: Response): Promise<any> => res.json();

beforeAll(async () => {
  if (!cliPath) return;
  temporal = await startPrivateTemporal(cliPath);
  stack = await startTestStack({ TEMPORAL_ADDRESS: temporal.address });
});
afterAll(async () => {
  await stack?.stop();
  await temporal?.dispose();
});

async function invite(name: string) {
  const email = `${name}.${Date.now()}@example.com`;
  const res = await stack.admin('/api/v1/enrollments', {
    method: 'POST',
    body: JSON.stringify({ user: { name: 'Outage User', email }, channel: 'email', ownership: 'personal', authMode: 'open', managedAppleId: `${name}.${Date.now()}@acme.example` }),
  });
  expect(res.status).toBe(201);
  return { id: ((await json(res)) as { id: string }).id, email };
}
const statusOf = async (id: string) => (await json(await stack.admin(`/api/v1/enrollments/${id}`))).status as string;

describe.skipIf(!cliPath)('Temporal server stopped for 30 s', () => {
  it('devices are answered from Postgres, and every event reaches its workflow when Temporal returns', { timeout: 150_000 }, async () => {
    const first = await invite('outage');
    const { enrollmentUrl, username } = parseInvite((await stack.smtp.waitFor((m) => m.to.includes(first.email), 30_000)).text);
    const device = new SimulatedDevice();
    device.installProfile(await device.enrollThroughPortal(enrollmentUrl, { username }));
    await eventually(async () => ((await statusOf(first.id)) === 'profile_issued' ? true : undefined), { timeoutMs: 30_000 });

    await temporal.stop();
    const stoppedAt = Date.now();
    // The device goes on as a real one would: every request is answered from Postgres.
    await device.authenticate();
    await device.tokenUpdate();
    expect(await device.processCommands()).toEqual([]);
    // Admins keep working: a new invite is accepted (its start waits in the outbox).
    const second = await invite('during-outage');
    const ready = await fetch(`${stack.baseUrl}/readyz`);
    expect(ready.status).toBe(503);
    expect(ready.headers.get('retry-after')).toBeTruthy();
    const waiting = await stack.database.db.selectFrom('outbox').select(['kind', 'workflow_id']).where('delivered_at', 'is', null).execute();
    expect(waiting.map((r) => r.kind).sort()).toEqual(['signal_enrollment', 'signal_enrollment', 'start_enrollment']);
    expect(await statusOf(first.id)).toBe('profile_issued');

    await new Promise((r) => setTimeout(r, Math.max(0, OUTAGE_MS - (Date.now() - stoppedAt))));
    const startingAt = Date.now();
    await temporal.start();
    const restartedAt = Date.now();
    process.stderr.write(`fault: temporal stopped for ${startingAt - stoppedAt} ms; the restarted server answered after ${restartedAt - startingAt} ms\n`);

    await eventually(async () => ((await statusOf(first.id)) === 'enrolled' ? true : undefined), { timeoutMs: 90_000, intervalMs: 250 });
    process.stderr.write(`fault: temporal-outage recovered in ${Date.now() - restartedAt} ms\n`);
    await stack.smtp.waitFor((m) => m.to.includes(second.email), 60_000);
    expect(await statusOf(second.id)).toBe('invited');

    const timeline = (await json(await stack.admin(`/api/v1/enrollments/${first.id}`))).timeline.map((t: any) => t.to);
    expect(timeline).toEqual(['invited', 'portal_authenticated', 'profile_issued', 'authenticated', 'enrolled']);
    const undelivered = await stack.database.db.selectFrom('outbox').select('id').where('delivered_at', 'is', null).execute();
    expect(undelivered).toEqual([]);
    // The device events reached the workflow: it pushed the device with the token it was given.
    await stack.apns.waitFor((p) => p.token === device.pushToken.toString('hex'), 30_000);
  });
});
