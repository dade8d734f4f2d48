/**
 * The worker as its own process (`npm run worker`), killed with SIGKILL mid-enrollment and started
 * again: the enrollment completes and nothing is lost. Needs a PostgreSQL server both processes can
 * reach (DATABASE_URL, as in CI); PGlite serves one process only.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseInvite, SimulatedDevice } from '../../scripts/simulator/device.js';
import { eventually, startTestStack, type TestStack } from '../support/stack.js';

const root = new URL('../../', import.meta.url).pathname;
let stack: TestStack;
const json = async (res: Response): Promise<any> => res.json();

function startWorkerProcess(): ChildProcess {
  const caFile = join(mkdtempSync(join(tmpdir(), 'tandem-ca-')), 'apns-ca.pem');
  writeFileSync(caFile, stack.apnsCaPem);
  const child = spawn(process.execPath, ['--import', 'tsx', 'worker/main.ts'], {
    cwd: root,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      LOG_LEVEL: 'warn',
      DATABASE_URL: stack.database.url,
      TEMPORAL_ADDRESS: stack.env.TEMPORAL_ADDRESS,
      TEMPORAL_TASK_QUEUE: stack.env.TEMPORAL_TASK_QUEUE,
      TANDEM_MASTER_KEY: stack.env.TANDEM_MASTER_KEY,
      PUBLIC_URL: stack.env.PUBLIC_URL,
      SMTP_URL: stack.env.SMTP_URL,
      TANDEM_ORGANIZATION: 'Acme',
      APNS_ORIGIN: stack.apns.origin,
      // The local APNs server's certificate comes from a test CA.
      NODE_EXTRA_CA_CERTS: caFile,
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  return child;
}

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

    worker.kill('SIGKILL');
    await new Promise((r) => worker.once('exit', r));
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
      worker.kill('SIGTERM');
      await new Promise((r) => worker.once('exit', r));
    }
  });
});
