import { sql } from 'kysely';
import type { Db } from './connection.js';

export interface LockoutPolicy {
  maxAttempts: number;
  lockoutMs: number;
}

/**
 * Counts a failed sign-in against an invite (portal) or a directory user (account-driven). The
 * attempt that reaches the limit locks it for the lockout period and resets the count. Returns
 * whether it is now locked.
 */
export async function countFailedAttempt(db: Db, table: 'invites' | 'users', id: string, policy: LockoutPolicy): Promise<boolean> {
  const { maxAttempts, lockoutMs } = policy;
  const row = await db
    .updateTable(table)
    .set({
      failed_attempts: sql<number>`case when failed_attempts + 1 >= ${maxAttempts} then 0 else failed_attempts + 1 end`,
      locked_until: sql<Date | null>`case when failed_attempts + 1 >= ${maxAttempts} then now() + ${`${lockoutMs} milliseconds`}::interval else locked_until end`,
    })
    .where('id', '=', id)
    .returning('locked_until')
    .executeTakeFirstOrThrow();
  return !!row.locked_until && row.locked_until.getTime() > Date.now();
}

export async function clearFailedAttempts(db: Db, table: 'invites' | 'users', id: string): Promise<void> {
  await db.updateTable(table).set({ failed_attempts: 0, locked_until: null }).where('id', '=', id).execute();
}
