import { sql, type Kysely } from 'kysely';

/* eslint-disable @typescript-eslint/no-explicit-any */

/**
 * Admin actions and disenrollment. A command is staged by the API (its sealed payload never enters a workflow
 * history), released to the device by the workflow's Update handler, and traced to the request.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table command_queue drop constraint if exists command_queue_status_check`.execute(db);
  await sql`alter table command_queue add constraint command_queue_status_check
    check (status in ('staged', 'queued', 'sent', 'acknowledged', 'error', 'not_now', 'cancelled', 'refused'))`.execute(db);
  await db.schema
    .alterTable('command_queue')
    .addColumn('requested_by', 'text')
    .addColumn('action', 'jsonb')
    .execute();
  await db.schema.createIndex('command_queue_device_created_idx').on('command_queue').columns(['device_id', 'id']).execute();
  // Disenrollment: a device APNs no longer knows, or that stopped checking in, is inactive.
  await db.schema.alterTable('devices').addColumn('inactive_since', 'timestamptz').addColumn('inactive_reason', 'text').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('devices').dropColumn('inactive_since').dropColumn('inactive_reason').execute();
  await db.schema.dropIndex('command_queue_device_created_idx').ifExists().execute();
  await db.schema.alterTable('command_queue').dropColumn('requested_by').dropColumn('action').execute();
  await sql`delete from command_queue where status in ('staged', 'refused')`.execute(db);
  await sql`alter table command_queue drop constraint if exists command_queue_status_check`.execute(db);
  await sql`alter table command_queue add constraint command_queue_status_check
    check (status in ('queued', 'sent', 'acknowledged', 'error', 'not_now', 'cancelled'))`.execute(db);
}
