/**
 * The worker as its own process (`npm run worker`), killed with SIGKILL mid-enrollment and started
 * again: the enrollment completes and nothing is lost. Needs a PostgreSQL server both processes can
 * reach (DATABASE_URL, as in CI); PGlite serves one process only.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseInvite, SimulatedDevice } from '../../scripts/simulator/device.js';
import { killProcess, spawnTandem } from '../support/processes.js';
import { eventually, startTestStack, type TestStack } from '../support/stack.js';

let stack: TestStack;
const json = async (res: Response): Promise<any> => res.json();
const startWorkerProcess = () => spawnTandem('worker/main.ts', stack);

const databaseUrl = inject('databaseUrl');

beforeAll(async () => {
  if (!databaseUrl) return;
  stack = await startTestStack();
  await stack.stopWorker(); // the worker process below does the work
});
afterAll(() => stack?.stop());

describe.skipIf(!databaseUrl)('worker process killed mid-enrollment', () => {
  it('completes the enrollment after a restart, losing nothing', { timeout: 120_000 }, async () => {
    let worker = startWorkerProcess();
    const email = `kill.${Date.now()}@example.com`;
    const created = await json(
      await stack.admin('/api/v1/enrollments', {
        method: 'POST',
        body: JSON.stringify({ user: { name: 'Kill Test', email }, channel: 'email', ownership: 'personal', authMode: 'open', managedAppleId: `kill.${Date.now()}@acme.example` }),
      }),
    );
    const invite = parseInvite((await stack.smtp.waitFor((m) => m.to.includes(email), 60_000)).text);
    const device = new SimulatedDevice();
    device.installProfile(await device.enrollThroughPortal(invite.enrollmentUrl, { username: invite.username }));
    await device.authenticate();

    await killProcess(worker);
    const killedAt = Date.now();
    await device.tokenUpdate(); // answered from Postgres while no worker runs

    worker = startWorkerProcess();
    try {
      await eventually(async () => ((await json(await stack.admin(`/api/v1/enrollments/${created.id}`))).status === 'enrolled' ? true : undefined), { timeoutMs: 90_000 });
      process.stderr.write(`fault: worker-sigkill recovered in ${Date.now() - killedAt} ms\n`);
      const detail = await json(await stack.admin(`/api/v1/enrollments/${created.id}`));
      expect(detail.timeline.map((t: any) => t.to)).toEqual(['invited', 'portal_authenticated', 'profile_issued', 'authenticated', 'enrolled']);
      await stack.apns.waitFor((p) => p.token === device.pushToken.toString('hex'), 30_000);
    } finally {
      await killProcess(worker, 'SIGTERM');
    }
  });
});
