import { sql, type Kysely } from 'kysely';

/* eslint-disable @typescript-eslint/no-explicit-any */
const now = sql`now()`;

/** The agent app's deployment per enrollment (Apps and Books user licence), and VPP notifications. */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('app_deployments')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('enrollment_id', 'uuid', (c) => c.notNull().references('enrollments.id').onDelete('cascade'))
    .addColumn('adam_id', 'text', (c) => c.notNull())
    .addColumn('bundle_id', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('licence', 'text', (c) => c.notNull().defaultTo('none'))
    .addColumn('last_checked_at', 'timestamptz')
    .addColumn('history', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addUniqueConstraint('app_deployments_once', ['enrollment_id', 'adam_id'])
    .execute();

  await db.schema
    .createTable('vpp_notifications')
    .addColumn('notification_id', 'text', (c) => c.primaryKey())
    .addColumn('notification_type', 'text', (c) => c.notNull())
    .addColumn('received_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('vpp_notifications').ifExists().execute();
  await db.schema.dropTable('app_deployments').ifExists().execute();
}
