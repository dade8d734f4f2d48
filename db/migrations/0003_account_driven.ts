import { sql, type Kysely } from 'kysely';

/* eslint-disable @typescript-eslint/no-explicit-any */
const now = sql`now()`;

/** Account-driven User Enrollment: directory credentials, bearer tokens, and how each profile was issued. */
export async function up(db: Kysely<any>): Promise<void> {
  // A small directory: users Tandem may let sign in without an invite (scrypt hash), with a lockout.
  await db.schema
    .alterTable('users')
    .addColumn('password_hash', 'text')
    .addColumn('failed_attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('locked_until', 'timestamptz')
    .execute();

  // Enrollments a user starts from Settings, with no invite, have no invite channel.
  await sql`alter table enrollments drop constraint if exists enrollments_channel_check`.execute(db);
  await sql`alter table enrollments add constraint enrollments_channel_check check (channel in ('email', 'sms', 'account'))`.execute(db);

  await db.schema
    .alterTable('enrollment_identities')
    .addColumn('flavor', 'text', (c) => c.notNull().defaultTo('profile-based').check(sql`flavor in ('profile-based', 'account-driven')`))
    .execute();

  // Bearer tokens from the account-driven web sign-in, stored hashed and bound to one enrollment.
  // Until a profile is issued a token expires (expires_at); after that it is the enrollment's
  // credential for every check-in until revoked.
  await db.schema
    .createTable('account_tokens')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('token_hash', 'text', (c) => c.notNull().unique())
    .addColumn('enrollment_id', 'uuid', (c) => c.notNull().references('enrollments.id').onDelete('cascade'))
    .addColumn('user_id', 'uuid', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('expires_at', 'timestamptz')
    .addColumn('last_used_at', 'timestamptz')
    .addColumn('revoked_at', 'timestamptz')
    .execute();
  await db.schema.createIndex('account_tokens_enrollment_idx').on('account_tokens').column('enrollment_id').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('account_tokens').ifExists().execute();
  await db.schema.alterTable('enrollment_identities').dropColumn('flavor').execute();
  await sql`delete from enrollments where channel = 'account'`.execute(db);
  await sql`alter table enrollments drop constraint if exists enrollments_channel_check`.execute(db);
  await sql`alter table enrollments add constraint enrollments_channel_check check (channel in ('email', 'sms'))`.execute(db);
  await db.schema.alterTable('users').dropColumn('password_hash').dropColumn('failed_attempts').dropColumn('locked_until').execute();
}
