import type { Kysely } from 'kysely';

/* eslint-disable @typescript-eslint/no-explicit-any */

/** A retried "create enrollment" request with the same Idempotency-Key is the same enrollment. */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('enrollments').addColumn('idempotency_key', 'text', (c) => c.unique()).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('enrollments').dropColumn('idempotency_key').execute();
}
