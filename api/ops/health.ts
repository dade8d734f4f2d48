import { Hono } from 'hono';
import { sql } from 'kysely';
import type { Db } from '../../db/connection.js';
import type { WorkflowGateway } from '../workflow-gateway.js';

const withTimeout = <T>(p: Promise<T>, ms: number) =>
  Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms).unref())]);

/** `/healthz`: the process is up. `/readyz`: Postgres and Temporal both answer, else 503. */
export function healthRoutes(db: Db, gateway: WorkflowGateway) {
  const app = new Hono();
  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/readyz', async (c) => {
    const probe = async (f: () => Promise<unknown>) => {
      try {
        await withTimeout(f(), 2000);
        return { ok: true as const };
      } catch (err) {
        return { ok: false as const, error: (err as Error).message };
      }
    };
    const [database, temporal] = await Promise.all([probe(() => sql`select 1`.execute(db)), probe(() => gateway.ping())]);
    const ready = database.ok && temporal.ok;
    if (!ready) c.header('Retry-After', '5');
    return c.json({ status: ready ? 'ready' : 'unavailable', checks: { database, temporal } }, ready ? 200 : 503);
  });
  return app;
}
