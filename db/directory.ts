/**
 * The organisation's directory as Tandem knows it: managed domains (settings) and users with their
 * Managed Apple IDs, imported by admins or created by invites.
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { hashOneTimePassword } from '../security/one-time-password.js';
import type { Db } from './connection.js';
import { ConflictError } from './errors.js';

export interface ManagedDomains {
  domains: string[];
  /** answer `mdm-adde` (account-driven Device Enrollment) for users whose open invite is Device Enrollment */
  deviceEnrollment: boolean;
}

export async function getManagedDomains(db: Db): Promise<ManagedDomains> {
  const row = await db.selectFrom('settings').select('value').where('key', '=', 'domains').executeTakeFirst();
  return (row?.value as ManagedDomains | undefined) ?? { domains: [], deviceEnrollment: false };
}

export async function putManagedDomains(db: Db, value: ManagedDomains): Promise<ManagedDomains> {
  const normalised = { domains: [...new Set(value.domains.map((d) => d.toLowerCase().replace(/\.$/, '')))].sort(), deviceEnrollment: value.deviceEnrollment };
  const json = JSON.stringify(normalised);
  await db
    .insertInto('settings')
    .values({ key: 'domains', value: json, updated_at: sql`now()` })
    .onConflict((oc) => oc.column('key').doUpdateSet({ value: json, updated_at: sql`now()` }))
    .execute();
  return normalised;
}

export interface DirectoryUser {
  name: string;
  email?: string | undefined;
  phone?: string | undefined;
  managedAppleId: string;
  /** a directory password for account-driven sign-in without an invite */
  password?: string | undefined;
  groups?: string[] | undefined;
}

/** Inserts or updates users, matched by email or Managed Apple ID (case-insensitive). */
export async function upsertDirectoryUsers(db: Db, users: DirectoryUser[]): Promise<{ id: string; created: boolean }[]> {
  const results: { id: string; created: boolean }[] = [];
  for (const u of users) {
    const passwordHash = u.password ? await hashOneTimePassword(u.password) : undefined;
    results.push(
      await db.transaction().execute(async (trx) => {
        const matches = await trx
          .selectFrom('users')
          .select(['id'])
          .where((eb) =>
            eb.or([
              eb(sql`lower(managed_apple_id)`, '=', u.managedAppleId.toLowerCase()),
              ...(u.email ? [eb(sql`lower(email)`, '=', u.email.toLowerCase())] : []),
            ]),
          )
          .execute();
        if (matches.length > 1) {
          throw new ConflictError('directory_conflict', `${u.managedAppleId}: the email and the Managed Apple ID belong to two different users.`);
        }
        const values = {
          name: u.name,
          managed_apple_id: u.managedAppleId,
          ...(u.email ? { email: u.email } : {}),
          ...(u.phone ? { phone: u.phone } : {}),
          ...(passwordHash ? { password_hash: passwordHash } : {}),
          ...(u.groups ? { groups: u.groups } : {}),
        };
        if (matches[0]) {
          await trx.updateTable('users').set({ ...values, updated_at: sql`now()` }).where('id', '=', matches[0].id).execute();
          return { id: matches[0].id, created: false };
        }
        const id = randomUUID();
        await trx.insertInto('users').values({ id, email: null, phone: null, ...values }).execute();
        return { id, created: true };
      }),
    );
  }
  return results;
}

/** The user a typed account identifier (`name@domain`) names: by Managed Apple ID, else email. */
export async function findUserByIdentifier(db: Db, identifier: string) {
  const id = identifier.trim().toLowerCase();
  return db
    .selectFrom('users')
    .selectAll()
    .where((eb) => eb.or([eb(sql`lower(managed_apple_id)`, '=', id), eb(sql`lower(email)`, '=', id)]))
    .orderBy(sql`lower(managed_apple_id) = ${id}`, 'desc')
    .executeTakeFirst();
}
