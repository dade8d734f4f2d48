import { sql, type Kysely } from 'kysely';

/* eslint-disable @typescript-eslint/no-explicit-any */

/**
 * Account-driven sign-in locks per account and client address, not per account: a stranger who
 * types someone's address with wrong passwords locks out only themselves. The subject is an HMAC
 * (no address, no account name in the table).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('sign_in_lockouts')
    .addColumn('subject', 'text', (c) => c.primaryKey())
    .addColumn('failed_attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('locked_until', 'timestamptz')
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await sql`create index sign_in_lockouts_updated_idx on sign_in_lockouts (updated_at)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('sign_in_lockouts').execute();
}
