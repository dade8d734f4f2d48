/**
 * The README's first command, as a newcomer runs it: `npm start` brings up Temporal (with its UI),
 * PGlite, the worker and the API; an enrollment created with curl-like calls shows up in Temporal
 * with its search attribute; Ctrl-C stops everything; a restart finds the data again.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { EnrollmentStatusKey } from '../../workflows/search-attributes.js';
import { freePort } from '../../scripts/free-port.js';
import { eventually } from '../support/stack.js';
import { assertNoFailedWorkflows } from '../support/no-failed-workflows.js';

const root = new URL('../../', import.meta.url).pathname;
const dataDir = mkdtempSync(join(tmpdir(), 'tandem-dev-'));
const cli = inject('temporalCliPath');


interface Launched {
  child: ChildProcess;
  output: () => string;
  apiUrl: string;
}

async function launch(ports: { temporal: number; ui: number }): Promise<Launched> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/dev.ts'], {
    cwd: root,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      TANDEM_DATA_DIR: dataDir,
      PORT: '0',
      TEMPORAL_PORT: String(ports.temporal),
      TEMPORAL_UI_PORT: String(ports.ui),
      TEMPORAL_CLI: cli!,
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const apiUrl = await eventually(
    async () => {
      if (child.exitCode !== null) throw new Error(`npm start exited with ${child.exitCode}:\n${out}`);
      return /API\s+(http:\/\/\S+)\/api\/v1/.exec(out)?.[1];
    },
    { timeoutMs: 90_000, intervalMs: 200 },
  );
  return { child, output: () => out, apiUrl };
}

function run(cmd: string, args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('exit', (code) => resolve({ code, output }));
  });
}

async function stop(l: Launched): Promise<number | null> {
  const exited = new Promise<number | null>((r) => l.child.once('exit', (code) => r(code)));
  l.child.kill('SIGINT');
  return exited;
}

afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

describe.skipIf(!cli)('npm start (dev launcher)', () => {
  it('runs the whole stack, stops on Ctrl-C, and keeps its data across restarts', { timeout: 180_000 }, async () => {
    const ports = { temporal: await freePort(), ui: await freePort() };
    const first = await launch(ports);
    try {
      expect(first.output()).toContain(`Temporal UI    http://localhost:${ports.ui}`);
      const ready = await fetch(`${first.apiUrl}/readyz`);
      expect(ready.status).toBe(200);
      const ui = await fetch(`http://127.0.0.1:${ports.ui}/`);
      expect(ui.status).toBe(200);

      const token = readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();
      expect(first.output()).toContain(`Admin token    ${token}`);
      const created = await fetch(`${first.apiUrl}/api/v1/enrollments`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ user: { name: 'Ada Lovelace', email: 'ada@example.com' }, channel: 'email', ownership: 'personal', authMode: 'authenticated', managedAppleId: 'ada@acme.example' }),
      });
      expect(created.status).toBe(201);
      const { id, workflowId } = (await created.json()) as { id: string; workflowId: string };

      const connection = await Connection.connect({ address: `127.0.0.1:${ports.temporal}` });
      try {
        const client = new Client({ connection });
        await eventually(async () => {
          const d = await client.workflow.getHandle(workflowId).describe();
          return d.typedSearchAttributes.get(EnrollmentStatusKey) === 'invited' ? d : undefined;
        }, { timeoutMs: 60_000 });
      } finally {
        await connection.close();
      }
      // Sandbox mode: the invite sits in the local outbox, and the simulator enrolls a device.
      expect(first.output()).toContain('SANDBOX MODE');
      await eventually(async () => ((await (await fetch(`${first.apiUrl}/sandbox/outbox`)).text()).includes('ada@example.com') ? true : undefined), { timeoutMs: 60_000 });
      const simulated = await run(process.execPath, ['--import', 'tsx', 'scripts/simulate.ts', '--server', first.apiUrl, '--email', 'ada@example.com']);
      expect(simulated.code, simulated.output).toBe(0);
      expect(simulated.output).toContain('check-in: TokenUpdate accepted');
      await eventually(async () => {
        const res = await fetch(`${first.apiUrl}/api/v1/enrollments/${id}`, { headers: { authorization: `Bearer ${token}` } });
        return ((await res.json()) as { status: string }).status === 'enrolled' ? true : undefined;
      }, { timeoutMs: 60_000 });
      expect(await stop(first)).toBe(0);

      // Everything is down: the ports are free again.
      await expect(fetch(`${first.apiUrl}/healthz`)).rejects.toThrow();
      await expect(fetch(`http://127.0.0.1:${ports.ui}/`)).rejects.toThrow();

      const second = await launch(ports);
      try {
        const res = await fetch(`${second.apiUrl}/api/v1/enrollments/${id}`, { headers: { authorization: `Bearer ${token}` } });
        expect(res.status).toBe(200);
        expect(await res.json()).toMatchObject({ id, status: 'enrolled' });
        // Its Temporal server is the launcher's own: no workflow on it may have ended badly.
        const connection = await Connection.connect({ address: `127.0.0.1:${ports.temporal}` });
        try {
          await assertNoFailedWorkflows(new Client({ connection }), {});
        } finally {
          await connection.close();
        }
      } finally {
        expect(await stop(second)).toBe(0);
      }
    } finally {
      if (first.child.exitCode === null) first.child.kill('SIGKILL');
    }
  });
});
