/**
 * A Temporal dev server of one test file's own, started from the CLI binary with a SQLite file, so
 * a fault test can stop it and start it again (same port, same state) without touching the server
 * every other test file shares.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Connection } from '@temporalio/client';
import { SearchAttributeType } from '@temporalio/common';
import { freePort } from '../../scripts/free-port.js';
import { tandemSearchAttributes } from '../../workflows/search-attributes.js';

export interface PrivateTemporal {
  address: string;
  /** SIGTERM, and wait until the process has exited */
  stop(): Promise<void>;
  /** start again on the same port and SQLite file, and wait until it answers */
  start(): Promise<void>;
  /** stop and delete the state */
  dispose(): Promise<void>;
}

const typeNames: Partial<Record<string, string>> = { [SearchAttributeType.KEYWORD]: 'Keyword' };

export async function startPrivateTemporal(cliPath: string): Promise<PrivateTemporal> {
  const dir = mkdtempSync(join(tmpdir(), 'tandem-temporal-'));
  const port = await freePort();
  const address = `127.0.0.1:${port}`;
  const args = ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(port), '--headless', '--db-filename', join(dir, 'temporal.db'), '--log-level', 'error'];
  for (const key of tandemSearchAttributes) args.push('--search-attribute', `${key.name}=${typeNames[key.type] ?? 'Keyword'}`);
  let child: ChildProcess | undefined;

  const stop = async () => {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null) return;
    const exited = new Promise((r) => running.once('exit', r));
    running.kill('SIGTERM');
    await exited;
  };
  const start = async () => {
    child = spawn(cliPath, args, { stdio: ['ignore', 'ignore', 'inherit'] });
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`the Temporal dev server exited with ${child.exitCode}`);
      try {
        const connection = await Connection.connect({ address, connectTimeout: 1_000 });
        try {
          await connection.workflowService.getSystemInfo({});
          return;
        } finally {
          await connection.close();
        }
      } catch (err) {
        if (Date.now() > deadline) {
          await stop(); // never leave a server behind
          throw new Error(`the Temporal dev server at ${address} did not answer within 60 s: ${String(err)}`);
        }
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  };

  await start();
  return {
    address,
    start,
    stop,
    async dispose() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
