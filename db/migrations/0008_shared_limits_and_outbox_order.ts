import { sql, type Kysely } from 'kysely';

/* eslint-disable @typescript-eslint/no-explicit-any */

/**
 * - Relays claim only the oldest undelivered row of each workflow; this index answers "is there an
 *   earlier undelivered row for this workflow?" without a scan.
 * - Rate-limit windows live in Postgres, so every API instance counts against the same budget.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`create index outbox_workflow_pending_idx on outbox (workflow_id, id) where delivered_at is null`.execute(db);
  await db.schema
    .createTable('rate_limit_windows')
    .addColumn('bucket', 'text', (c) => c.notNull())
    .addColumn('subject', 'text', (c) => c.notNull())
    .addColumn('window_start', 'timestamptz', (c) => c.notNull())
    .addColumn('hits', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('rate_limit_windows_pk', ['bucket', 'subject', 'window_start'])
    .execute();
  await sql`create index rate_limit_windows_start_idx on rate_limit_windows (window_start)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('rate_limit_windows').execute();
  await sql`drop index outbox_workflow_pending_idx`.execute(db);
}
