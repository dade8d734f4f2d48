/**
 * Tandem's own entry points (`npm run api`, `npm run worker`) as separate processes against a test
 * stack's database and Temporal, for fault tests that kill them with SIGKILL.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestStack } from './stack.js';

const root = new URL('../../', import.meta.url).pathname;

export type Entry = 'api/main.ts' | 'worker/main.ts';

export function spawnTandem(entry: Entry, stack: TestStack, overrides: Record<string, string> = {}): ChildProcess {
  const caDir = mkdtempSync(join(tmpdir(), 'tandem-ca-'));
  const caFile = join(caDir, 'apns-ca.pem');
  writeFileSync(caFile, stack.apnsCaPem);
  const child = spawn(process.execPath, ['--import', 'tsx', entry], {
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
      ...overrides,
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  child.once('exit', () => rmSync(caDir, { recursive: true, force: true }));
  return child;
}

/** SIGKILL (or another signal) and wait until the process is gone. */
export async function killProcess(child: ChildProcess, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill(signal);
  await exited;
}
