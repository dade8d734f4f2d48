import { sql, type Kysely } from 'kysely';

/* eslint-disable @typescript-eslint/no-explicit-any */

/**
 * Device identity renewal: a renewed identity names the one it replaces, the activity call that
 * issued it (one identity per call, however often it is retried), the InstallProfile that carries
 * it, and when the device first signed with it (which binds it and revokes the old one).
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
  // Identities bound before renewal existed count as bound from their issue.
  await sql`update enrollment_identities i set bound_at = i.issued_at from devices d where d.identity_fingerprint = i.fingerprint`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('enrollment_identities_idempotency_key_idx').ifExists().execute();
  await db.schema.alterTable('enrollment_identities').dropColumn('renewal_of').dropColumn('idempotency_key').dropColumn('command_uuid').dropColumn('bound_at').execute();
}
