/**
 * PostgreSQL restarts (its own server, fast shutdown, down for a few seconds) in the middle of an
 * enrollment. Meanwhile the API answers admins and devices with 503, a machine-readable code and
 * Retry-After; afterwards it recovers by itself, the device's retried message lands, and the
 * enrollment completes with nothing lost.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isDatabaseUnavailable } from '../../db/errors.js';
import { enrollSimulatedDevice } from '../support/enroll.js';
import { postgresBinDir, startPrivatePostgres, type PrivatePostgres } from '../support/private-postgres.js';
import { eventually, startTestStack, type TestStack } from '../support/stack.js';

const binDir = postgresBinDir();
const DOWN_MS = 5_000;
let postgres: PrivatePostgres;
let stack: TestStack;
const json = async (res: Response): Promise<any> => res.json();

beforeAll(async () => {
  if (!binDir) return;
  postgres = await startPrivatePostgres(binDir);
  stack = await startTestStack({}, { database: postgres });
});
afterAll(async () => {
  if (stack) await stack.stop(); // also stops the private server
  else await postgres?.stop();
});

const statusOf = async (id: string) => (await json(await stack.admin(`/api/v1/enrollments/${id}`))).status as string;

describe.skipIf(!binDir)('PostgreSQL restart', () => {
  it('the API answers 503 with Retry-After while it is down and recovers when it is back; nothing is lost', { timeout: 120_000 }, async () => {
    const { id, device } = await enrollSimulatedDevice(stack, { stopAfterAuthenticate: true });
    const enrollmentUrl = `${stack.baseUrl}/enroll/${id}`;

    await postgres.stopServer();
    const stoppedAt = Date.now();
    const admin = await stack.admin(`/api/v1/enrollments/${id}`);
    expect(admin.status).toBe(503);
    expect(admin.headers.get('retry-after')).toBe('5');
    expect((await json(admin)).error.code).toBe('database_unavailable');
    // The device's TokenUpdate is refused with a retryable status (never a 401 or a 500) ...
    const refused = await device.checkIn({ MessageType: 'TokenUpdate', Token: device.pushToken, PushMagic: device.pushMagic, AwaitingConfiguration: false });
    expect(refused.status).toBe(503);
    expect(JSON.parse(refused.body.toString('utf8')).error.code).toBe('database_unavailable');
    const portal = await fetch(enrollmentUrl);
    expect(portal.status).toBe(503);
    const ready = await fetch(`${stack.baseUrl}/readyz`);
    expect(ready.status).toBe(503);
    expect((await json(ready)).checks.database.ok).toBe(false);

    await new Promise((r) => setTimeout(r, Math.max(0, DOWN_MS - (Date.now() - stoppedAt))));
    await postgres.startServer();
    const startedAt = Date.now();
    await eventually(async () => ((await stack.admin(`/api/v1/enrollments/${id}`)).status === 200 ? true : undefined), { timeoutMs: 30_000, intervalMs: 100 });
    process.stderr.write(`fault: postgres down ${startedAt - stoppedAt} ms; API recovered in ${Date.now() - startedAt} ms\n`);
    expect((await fetch(`${stack.baseUrl}/readyz`)).status).toBe(200);

    // ... and lands when the device retries.
    await device.tokenUpdate();
    await eventually(async () => ((await statusOf(id)) === 'enrolled' ? true : undefined), { timeoutMs: 60_000 });
    process.stderr.write(`fault: postgres-restart enrollment completed ${Date.now() - startedAt} ms after the restart\n`);
    const timeline = (await json(await stack.admin(`/api/v1/enrollments/${id}`))).timeline.map((t: any) => t.to);
    expect(timeline).toEqual(['invited', 'portal_authenticated', 'profile_issued', 'authenticated', 'enrolled']);
    const undelivered = await stack.database.db.selectFrom('outbox').select('id').where('delivered_at', 'is', null).execute();
    expect(undelivered).toEqual([]);
  });

  it('a connection held inside a transaction when the server goes away fails its query, not the process', { timeout: 60_000 }, async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const transaction = postgres.db.transaction().execute(async (trx) => {
      await sql`select 1`.execute(trx);
      await held; // the client is checked out and idle when the server stops
      await sql`select 1`.execute(trx);
    });
    const outcome = transaction.then(() => 'committed', (err: unknown) => err);
    await postgres.stopServer();
    await new Promise((r) => setTimeout(r, 200)); // the client sees its connection end
    release();
    const failure = await outcome;
    expect(failure).not.toBe('committed');
    expect(isDatabaseUnavailable(failure)).toBe(true); // answered as 503, like any outage
    await postgres.startServer();
    await eventually(async () => ((await sql<{ one: number }>`select 1 as one`.execute(postgres.db)).rows[0]?.one === 1 ? true : undefined), { timeoutMs: 30_000 });
  });
});
