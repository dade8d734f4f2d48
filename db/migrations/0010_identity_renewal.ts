import type { Kysely } from 'kysely';

/* eslint-disable @typescript-eslint/no-explicit-any */

/**
 * Device identity renewal: a renewed identity names the one it replaces, the activity call that
 * issued it (one identity per call, however often it is retried), the InstallProfile that carries
 * it, and when the device first signed with it (which binds it and revokes the old one). A first
 * identity (no renewal_of) is bound by Authenticate and keeps bound_at null.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('enrollment_identities')
    .addColumn('renewal_of', 'text')
    .addColumn('idempotency_key', 'text')
    .addColumn('command_uuid', 'text')
    .addColumn('bound_at', 'timestamptz')
    .execute();
  await db.schema.createIndex('enrollment_identities_idempotency_key_idx').unique().on('enrollment_identities').column('idempotency_key').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('enrollment_identities_idempotency_key_idx').ifExists().execute();
  await db.schema.alterTable('enrollment_identities').dropColumn('renewal_of').dropColumn('idempotency_key').dropColumn('command_uuid').dropColumn('bound_at').execute();
}
