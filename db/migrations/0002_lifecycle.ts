import { sql, type Kysely } from 'kysely';

/* eslint-disable @typescript-eslint/no-explicit-any */
const now = sql`now()`;

/** The enrollment lifecycle: portal sign-in limits, profile downloads, device identities, sandbox mail. */
export async function up(db: Kysely<any>): Promise<void> {
  // What the user chose in the portal when the admin let them (ownership user_choice).
  await db.schema.alterTable('enrollments').addColumn('device_ownership', 'text', (c) => c.check(sql`device_ownership in ('personal', 'corporate')`)).execute();

  await db.schema
    .alterTable('invites')
    .addColumn('failed_attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('locked_until', 'timestamptz')
    .execute();

  // Single-use download links, bound to one enrollment; only a hash of the token is kept.
  await db.schema
    .createTable('profile_downloads')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('enrollment_id', 'uuid', (c) => c.notNull().references('enrollments.id').onDelete('cascade'))
    .addColumn('token_hash', 'text', (c) => c.notNull().unique())
    .addColumn('enrollment_type', 'text', (c) => c.notNull().check(sql`enrollment_type in ('user', 'device')`))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
    .addColumn('used_at', 'timestamptz')
    .execute();

  // Device identities Tandem's CA issued, by certificate fingerprint. The first Authenticate
  // signed with one binds it to a device; any other enrollment presenting it is refused.
  await db.schema
    .createTable('enrollment_identities')
    .addColumn('fingerprint', 'text', (c) => c.primaryKey())
    .addColumn('enrollment_id', 'uuid', (c) => c.notNull().references('enrollments.id').onDelete('cascade'))
    .addColumn('enrollment_type', 'text', (c) => c.notNull().check(sql`enrollment_type in ('user', 'device')`))
    .addColumn('serial_number', 'text', (c) => c.notNull())
    .addColumn('not_after', 'timestamptz', (c) => c.notNull())
    .addColumn('issued_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('revoked_at', 'timestamptz')
    .execute();
  await db.schema.createIndex('enrollment_identities_enrollment_idx').on('enrollment_identities').column('enrollment_id').execute();

  await db.schema
    .alterTable('devices')
    .addColumn('identity_fingerprint', 'text', (c) => c.unique())
    .addColumn('enrolled_at', 'timestamptz')
    .addColumn('checked_out_at', 'timestamptz')
    .addColumn('push_unregistered_at', 'timestamptz')
    // Answers to SecurityInfo / DeviceInformation, filtered to what the enrollment type permits.
    .addColumn('facts', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .execute();

  // Sandbox mode: mail and SMS land here and show on /sandbox/outbox instead of leaving the machine.
  await db.schema
    .createTable('sandbox_messages')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('channel', 'text', (c) => c.notNull())
    .addColumn('recipient', 'text', (c) => c.notNull())
    .addColumn('subject', 'text')
    .addColumn('text_body', 'text', (c) => c.notNull())
    .addColumn('html_body', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('sandbox_messages').ifExists().execute();
  await db.schema
    .alterTable('devices')
    .dropColumn('identity_fingerprint')
    .dropColumn('enrolled_at')
    .dropColumn('checked_out_at')
    .dropColumn('push_unregistered_at')
    .dropColumn('facts')
    .execute();
  await db.schema.dropTable('enrollment_identities').ifExists().execute();
  await db.schema.dropTable('profile_downloads').ifExists().execute();
  await db.schema.alterTable('invites').dropColumn('failed_attempts').dropColumn('locked_until').execute();
  await db.schema.alterTable('enrollments').dropColumn('device_ownership').execute();
}
