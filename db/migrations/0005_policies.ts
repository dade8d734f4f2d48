import { sql, type Kysely } from 'kysely';

/* eslint-disable @typescript-eslint/no-explicit-any */
const now = sql`now()`;

/** Policies (configuration profiles assigned to everyone or a group) and where each version went. */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('users').addColumn('groups', sql`text[]`, (c) => c.notNull().defaultTo(sql`'{}'::text[]`)).execute();

  await db.schema
    .createTable('policies')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('group_name', 'text') // null: every enrollment
    // The profile spec may hold secrets (Wi-Fi passwords, account passwords): sealed.
    .addColumn('spec_sealed', 'bytea', (c) => c.notNull())
    .addColumn('version', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('deleted_at', 'timestamptz')
    .execute();

  await db.schema
    .createTable('policy_applications')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('enrollment_id', 'uuid', (c) => c.notNull().references('enrollments.id').onDelete('cascade'))
    .addColumn('policy_id', 'uuid', (c) => c.notNull().references('policies.id').onDelete('cascade'))
    .addColumn('version', 'integer', (c) => c.notNull())
    .addColumn('command_uuid', 'text')
    .addColumn('refused_code', 'text')
    .addColumn('refused_message', 'text')
    .addColumn('notes', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addUniqueConstraint('policy_applications_once', ['enrollment_id', 'policy_id', 'version'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('policy_applications').ifExists().execute();
  await db.schema.dropTable('policies').ifExists().execute();
  await db.schema.alterTable('users').dropColumn('groups').execute();
}
