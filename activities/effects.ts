import { sql } from 'kysely';
import type { Db } from '../db/connection.js';

/**
 * Runs a side effect at most once per idempotency key, as far as this database can know: the key
 * is claimed before the effect and completed after it. A retry after completion returns the stored
 * result without repeating the effect. (A crash between effect and completion repeats it once; the
 * effect's own id, e.g. a Message-ID or an idempotency token, lets the far side drop the duplicate.)
 */
export async function once<T extends Record<string, unknown>>(db: Db, key: string, effect: () => Promise<T>): Promise<T> {
  const existing = await db.selectFrom('activity_effects').select('result').where('idempotency_key', '=', key).executeTakeFirst();
  if (existing && (existing.result as { done?: boolean }).done) return (existing.result as { value: T }).value;
  if (!existing) {
    await db
      .insertInto('activity_effects')
      .values({ idempotency_key: key, result: JSON.stringify({ done: false }) })
      .onConflict((oc) => oc.column('idempotency_key').doNothing())
      .execute();
  }
  const value = await effect();
  await db
    .updateTable('activity_effects')
    .set({ result: JSON.stringify({ done: true, value }), at: sql`now()` })
    .where('idempotency_key', '=', key)
    .execute();
  return value;
}
