/**
 * The API as its own process (`npm run api`), killed with SIGKILL while four devices are checking
 * in. The first process cannot reach Temporal, so every event it accepted is still in the outbox
 * when it dies; a second process, started on the same port, answers the devices' retries and
 * relays what the first one left. Every enrollment completes; nothing is lost. Needs a PostgreSQL
 * server both processes can reach (DATABASE_URL, as in CI).
 */
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseInvite, SimulatedDevice } from '../../scripts/simulator/device.js';
import { killProcess, spawnTandem } from '../support/processes.js';
import { eventually, startTestStack, type TestStack } from '../support/stack.js';

const databaseUrl = inject('databaseUrl');
const DEVICES = 4;
let stack: TestStack;
let api: ChildProcess | undefined;
const json = async (res: Response): Promise<any> => res.json();

beforeAll(async () => {
  if (databaseUrl) stack = await startTestStack();
});
afterAll(async () => {
  if (api) await killProcess(api, 'SIGTERM');
  await stack?.stop();
});

/** The API process on the stack's port (so the profiles' URLs reach it), once it answers. */
async function startApiProcess(temporalAddress: string): Promise<ChildProcess> {
  const child = spawnTandem('api/main.ts', stack, { HOST: '127.0.0.1', PORT: new URL(stack.baseUrl).port, TEMPORAL_ADDRESS: temporalAddress });
  try {
    await eventually(async () => ((await fetch(`${stack.baseUrl}/healthz`)).ok ? true : undefined), { timeoutMs: 60_000, intervalMs: 100 });
  } catch (err) {
    await killProcess(child); // never leave a process holding the port
    throw err;
  }
  return child;
}

/** A device retries until the server takes its message, as iOS does (connection refused, 5xx). */
async function untilAccepted(send: () => Promise<unknown>, failures: { count: number }): Promise<void> {
  const deadline = Date.now() + 90_000;
  for (;;) {
    try {
      await send();
      return;
    } catch (err) {
      failures.count += 1;
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

const pending = () => stack.database.db.selectFrom('outbox').select(['workflow_id', 'payload']).where('delivered_at', 'is', null).execute();

describe.skipIf(!databaseUrl)('API process killed during check-ins', () => {
  it('loses no event: a new process answers the retries and relays what the dead one accepted', { timeout: 180_000 }, async () => {
    const devices: { id: string; device: SimulatedDevice }[] = [];
    for (let i = 0; i < DEVICES; i++) {
      const email = `apikill.${i}.${Date.now()}@example.com`;
      const created = await json(
        await stack.admin('/api/v1/enrollments', {
          method: 'POST',
          body: JSON.stringify({ user: { name: `Kill ${i}`, email }, channel: 'email', ownership: 'personal', authMode: 'open', managedAppleId: `apikill.${i}.${Date.now()}@acme.example` }),
        }),
      );
      const invite = parseInvite((await stack.smtp.waitFor((m) => m.to.includes(email), 30_000)).text);
      const device = new SimulatedDevice();
      device.installProfile(await device.enrollThroughPortal(invite.enrollmentUrl, { username: invite.username }));
      devices.push({ id: created.id, device });
    }

    // Swap the in-process API for a real process that cannot reach Temporal (port 9: nothing there).
    await stack.stopApi();
    api = await startApiProcess('127.0.0.1:9');
    const failures = { count: 0 };
    const checkIns = devices.map(({ device }) => untilAccepted(() => device.authenticate(), failures).then(() => untilAccepted(() => device.tokenUpdate(), failures)));

    // Kill it once every device is authenticated and the first TokenUpdate is in: the rest are in flight.
    await eventually(async () => {
      const types = (await pending()).map((r) => (r.payload as { event?: { type: string } }).event?.type);
      return types.filter((t) => t === 'device_authenticated').length === DEVICES && types.includes('token_updated') ? true : undefined;
    }, { timeoutMs: 60_000, intervalMs: 20 });
    await killProcess(api);
    const killedAt = Date.now();
    const stranded = (await pending()).length;
    expect(stranded).toBeGreaterThan(DEVICES); // accepted by the dead process, never relayed

    api = await startApiProcess(stack.env.TEMPORAL_ADDRESS);
    await Promise.all(checkIns);
    for (const { id } of devices) {
      await eventually(async () => ((await json(await stack.admin(`/api/v1/enrollments/${id}`))).status === 'enrolled' ? true : undefined), { timeoutMs: 60_000, intervalMs: 200 });
    }
    process.stderr.write(`fault: api-sigkill (${stranded} events stranded in the outbox, ${failures.count} device requests refused) recovered in ${Date.now() - killedAt} ms\n`);
    for (const { id } of devices) {
      const detail = await json(await stack.admin(`/api/v1/enrollments/${id}`));
      expect(detail.timeline.map((t: any) => t.to)).toEqual(['invited', 'portal_authenticated', 'profile_issued', 'authenticated', 'enrolled']);
    }
    expect(await pending()).toEqual([]);
  });
});
