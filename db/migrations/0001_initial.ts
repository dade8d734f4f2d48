import { sql, type Kysely } from 'kysely';

// Migrations are frozen history: they use `Kysely<any>` so later schema changes never break them.
/* eslint-disable @typescript-eslint/no-explicit-any */

const now = sql`now()`;

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('users')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('email', 'text')
    .addColumn('phone', 'text')
    .addColumn('managed_apple_id', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .execute();
  await sql`create unique index users_email_key on users (lower(email)) where email is not null`.execute(db);
  await sql`create unique index users_managed_apple_id_key on users (lower(managed_apple_id)) where managed_apple_id is not null`.execute(db);

  await db.schema
    .createTable('enrollments')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('user_id', 'uuid', (c) => c.notNull().references('users.id'))
    .addColumn('channel', 'text', (c) => c.notNull().check(sql`channel in ('email', 'sms')`))
    .addColumn('ownership', 'text', (c) => c.notNull().check(sql`ownership in ('personal', 'corporate', 'user_choice')`))
    .addColumn('enrollment_type', 'text', (c) => c.check(sql`enrollment_type in ('user', 'device')`))
    .addColumn('auth_mode', 'text', (c) => c.notNull().check(sql`auth_mode in ('authenticated', 'open')`))
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('username', 'text', (c) => c.notNull())
    .addColumn('workflow_id', 'text', (c) => c.notNull().unique())
    .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .execute();
  await db.schema.createIndex('enrollments_status_created_idx').on('enrollments').columns(['status', 'created_at']).execute();
  await db.schema.createIndex('enrollments_created_idx').on('enrollments').columns(['created_at', 'id']).execute();
  await db.schema.createIndex('enrollments_user_idx').on('enrollments').column('user_id').execute();

  await db.schema
    .createTable('invites')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('enrollment_id', 'uuid', (c) => c.notNull().references('enrollments.id').onDelete('cascade'))
    .addColumn('otp_hash', 'text', (c) => c.notNull())
    .addColumn('otp_sealed', 'bytea', (c) => c.notNull())
    .addColumn('issued_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
    .addColumn('revoked_at', 'timestamptz')
    .addColumn('idempotency_key', 'text', (c) => c.notNull().unique())
    .execute();
  // At most one live invite per enrollment: issuing a new one revokes the old in the same transaction.
  await sql`create unique index invites_live_key on invites (enrollment_id) where revoked_at is null`.execute(db);

  await db.schema
    .createTable('enrollment_transitions')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('enrollment_id', 'uuid', (c) => c.notNull().references('enrollments.id').onDelete('cascade'))
    .addColumn('from_status', 'text')
    .addColumn('to_status', 'text', (c) => c.notNull())
    .addColumn('reason', 'text')
    .addColumn('idempotency_key', 'text', (c) => c.notNull().unique())
    .addColumn('at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .execute();
  await db.schema.createIndex('enrollment_transitions_enrollment_idx').on('enrollment_transitions').columns(['enrollment_id', 'id']).execute();

  await db.schema
    .createTable('devices')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('enrollment_id', 'uuid', (c) => c.notNull().unique().references('enrollments.id').onDelete('cascade'))
    .addColumn('kind', 'text', (c) => c.notNull().check(sql`kind in ('user', 'device')`))
    .addColumn('apple_enrollment_id', 'text')
    .addColumn('model', 'text')
    .addColumn('model_name', 'text')
    .addColumn('product_name', 'text')
    .addColumn('os_version', 'text')
    .addColumn('build_version', 'text')
    .addColumn('topic', 'text')
    .addColumn('push_token_sealed', 'bytea')
    .addColumn('push_magic_sealed', 'bytea')
    .addColumn('last_seen_at', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addUniqueConstraint('devices_id_kind_key', ['id', 'kind'])
    .execute();
  await sql`create unique index devices_apple_enrollment_id_key on devices (apple_enrollment_id) where apple_enrollment_id is not null`.execute(db);

  // Only a device-enrolled device can ever have hardware identifiers: the composite foreign key
  // pins kind = 'device'. A user-enrolled device has nowhere to store them.
  await db.schema
    .createTable('device_hardware_ids')
    .addColumn('device_id', 'uuid', (c) => c.primaryKey())
    .addColumn('kind', 'text', (c) => c.notNull().defaultTo('device').check(sql`kind = 'device'`))
    .addColumn('udid', 'text')
    .addColumn('serial_number', 'text')
    .addColumn('imei', 'text')
    .addColumn('meid', 'text')
    .addForeignKeyConstraint('device_hardware_ids_device_fk', ['device_id', 'kind'], 'devices', ['id', 'kind'], (fk) =>
      fk.onDelete('cascade'),
    )
    .execute();

  await db.schema
    .createTable('command_queue')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('device_id', 'uuid', (c) => c.notNull().references('devices.id').onDelete('cascade'))
    .addColumn('command_uuid', 'text', (c) => c.notNull().unique())
    .addColumn('request_type', 'text', (c) => c.notNull())
    .addColumn('payload_sealed', 'bytea', (c) => c.notNull())
    .addColumn('status', 'text', (c) =>
      c.notNull().defaultTo('queued').check(sql`status in ('queued', 'sent', 'acknowledged', 'error', 'not_now', 'cancelled')`),
    )
    .addColumn('idempotency_key', 'text', (c) => c.notNull().unique())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('sent_at', 'timestamptz')
    .addColumn('answered_at', 'timestamptz')
    .addColumn('result_status', 'text')
    .addColumn('result', 'jsonb')
    .execute();
  await sql`create index command_queue_pending_idx on command_queue (device_id, id) where status in ('queued', 'sent', 'not_now')`.execute(db);

  await db.schema
    .createTable('outbox')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('workflow_id', 'text', (c) => c.notNull())
    .addColumn('payload', 'jsonb', (c) => c.notNull())
    .addColumn('dedupe_key', 'text', (c) => c.notNull().unique())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('available_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('delivered_at', 'timestamptz')
    .addColumn('last_error', 'text')
    .execute();
  await sql`create index outbox_pending_idx on outbox (available_at, id) where delivered_at is null`.execute(db);

  await db.schema
    .createTable('settings')
    .addColumn('key', 'text', (c) => c.primaryKey())
    .addColumn('value', 'jsonb', (c) => c.notNull())
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .execute();

  await db.schema
    .createTable('secrets')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('sealed', 'bytea', (c) => c.notNull())
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .execute();

  await db.schema
    .createTable('audit_log')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('actor', 'text', (c) => c.notNull())
    .addColumn('action', 'text', (c) => c.notNull())
    .addColumn('target_type', 'text', (c) => c.notNull())
    .addColumn('target_id', 'text')
    .addColumn('details', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('request_id', 'text')
    .addColumn('at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .execute();
  await db.schema.createIndex('audit_log_target_idx').on('audit_log').columns(['target_type', 'target_id', 'id']).execute();

  await db.schema
    .createTable('api_tokens')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('token_hash', 'text', (c) => c.notNull().unique())
    .addColumn('scope', 'text', (c) => c.notNull().check(sql`scope in ('admin', 'read')`))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('last_used_at', 'timestamptz')
    .addColumn('revoked_at', 'timestamptz')
    .execute();

  await db.schema
    .createTable('activity_effects')
    .addColumn('idempotency_key', 'text', (c) => c.primaryKey())
    .addColumn('result', 'jsonb', (c) => c.notNull())
    .addColumn('at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of [
    'activity_effects',
    'api_tokens',
    'audit_log',
    'secrets',
    'settings',
    'outbox',
    'command_queue',
    'device_hardware_ids',
    'devices',
    'enrollment_transitions',
    'invites',
    'enrollments',
    'users',
  ]) {
    await db.schema.dropTable(table).ifExists().execute();
  }
}
