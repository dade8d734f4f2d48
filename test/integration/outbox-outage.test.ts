/**
 * Nothing is lost while Temporal is unreachable: the API still creates enrollments (the start
 * event waits in the Postgres outbox), /readyz says 503, and once Temporal answers again the
 * events are delivered and the workflows run.
 */
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureAdminToken } from '../../api/auth.js';
import { OutboxRelay } from '../../api/outbox-relay.js';
import { startApi, type RunningApi } from '../../api/server.js';
import { temporalGateway } from '../../api/workflow-gateway.js';
import { createLogger } from '../../config/logger.js';
import { generateApiToken } from '../../security/api-tokens.js';
import { SecretBox } from '../../security/secret-box.js';
import { eventually, startTestStack, testEnv, type TestStack } from '../support/stack.js';

let stack: TestStack; // the real worker and database
let cutOff: RunningApi; // a second API on the same database whose Temporal is unreachable
let cutOffConnection: Connection;
const token = generateApiToken();

beforeAll(async () => {
  // This stack's own relay would deliver what the cut-off API writes: keep it idle.
  stack = await startTestStack({}, { relayPollIntervalMs: 3_600_000 });
  await ensureAdminToken(stack.database.db, token, 'outage-test');
  // Port 9 on loopback: nothing listens, every call fails at once.
  const env = testEnv({ TEMPORAL_ADDRESS: '127.0.0.1:9', TEMPORAL_TASK_QUEUE: stack.env.TEMPORAL_TASK_QUEUE, TANDEM_MASTER_KEY: stack.env.TANDEM_MASTER_KEY! });
  cutOffConnection = Connection.lazy({ address: env.TEMPORAL_ADDRESS, connectTimeout: 500 });
  cutOff = await startApi({
    env,
    db: stack.database.db,
    box: new SecretBox(env.TANDEM_MASTER_KEY!),
    temporal: new Client({ connection: cutOffConnection }),
    log: createLogger('silent'),
    relay: { pollIntervalMs: 60_000 },
  });
});
afterAll(async () => {
  await cutOff?.stop();
  await cutOffConnection?.close().catch(() => {});
  await stack?.stop();
});

describe('Temporal outage', () => {
  it('accepts enrollments, reports not ready, and delivers them when Temporal is back', async () => {
    const base = `http://127.0.0.1:${cutOff.port}`;
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(503);
    expect(ready.headers.get('retry-after')).toBe('5');
    expect(await ready.json()).toMatchObject({ status: 'unavailable', checks: { database: { ok: true }, temporal: { ok: false } } });

    const ids: string[] = [];
    for (const name of ['Alan Turing', 'Joan Clarke']) {
      const res = await fetch(`${base}/api/v1/enrollments`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ user: { name, email: `${name.split(' ')[0]}@example.com` }, channel: 'email', ownership: 'personal', authMode: 'open', managedAppleId: `${name.split(' ')[0]}@acme.example` }),
      });
      expect(res.status).toBe(201);
      ids.push(((await res.json()) as { id: string }).id);
    }
    // The cut-off relay tried, failed, and left both rows for later (one attempt per poll while
    // Temporal is down, not one per request).
    const pending = await eventually(async () => {
      const rows = await stack.database.db.selectFrom('outbox').select(['workflow_id', 'last_error']).where('delivered_at', 'is', null).execute();
      return rows.length === 2 && rows.some((r) => r.last_error) ? rows : undefined;
    });
    expect(pending.map((r) => r.workflow_id).sort()).toEqual(ids.map((id) => `enrollment/${id}`).sort());

    // Temporal "returns": a relay that reaches it drains what waited (the backoff is skipped here).
    await stack.database.db.updateTable('outbox').set({ available_at: new Date(0) }).where('delivered_at', 'is', null).execute();
    const relay = new OutboxRelay(stack.database.db, temporalGateway(stack.client, stack.env.TEMPORAL_TASK_QUEUE), createLogger('silent'));
    await relay.kick();
    await relay.stop();
    for (const id of ids) {
      await eventually(async () => {
        const e = await stack.database.db.selectFrom('enrollments').select('status').where('id', '=', id).executeTakeFirstOrThrow();
        return e.status === 'invited' ? true : undefined;
      });
    }
    const undelivered = await stack.database.db.selectFrom('outbox').select('id').where('delivered_at', 'is', null).execute();
    expect(undelivered).toEqual([]);
  });
});
