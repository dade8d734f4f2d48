/**
 * Account-driven sign-in lockout, per account and client address: the attempt that reaches the
 * limit locks that pair for the lockout period. A stranger typing someone's address from elsewhere
 * locks out only themselves; unknown accounts count like known ones, so a lockout tells no one
 * who is in the directory. Subjects are HMACs under a key derived from the master key.
 */
import { createHash, createHmac } from 'node:crypto';
import { sql } from 'kysely';
import type { Db } from './connection.js';
import type { LockoutPolicy } from './lockout.js';

export class SignInLockout {
  readonly #key: Buffer;

  constructor(
    private readonly db: Db,
    masterKeyBase64: string,
    private readonly policy: LockoutPolicy,
  ) {
    this.#key = createHash('sha256').update('tandem-sign-in-lockout:').update(Buffer.from(masterKeyBase64, 'base64')).digest();
  }

  subject(identifier: string, clientAddress: string): string {
    return createHmac('sha256', this.#key).update(identifier.trim().toLowerCase()).update('\0').update(clientAddress).digest('base64url');
  }

  /** When the pair's lock ends, if it is locked now. */
  async lockedUntil(subject: string): Promise<Date | undefined> {
    const row = await this.db.selectFrom('sign_in_lockouts').select('locked_until').where('subject', '=', subject).where('locked_until', '>', sql<Date>`now()`).executeTakeFirst();
    return row?.locked_until ?? undefined;
  }

  /**
   * Counts a failed attempt; returns when the lock ends if this attempt locked the pair. Failures
   * older than the lockout period are forgotten.
   */
  async fail(subject: string): Promise<Date | undefined> {
    const { maxAttempts, lockoutMs } = this.policy;
    const period = `${lockoutMs} milliseconds`;
    const soFar = sql`(case when l.updated_at < now() - ${period}::interval then 0 else l.failed_attempts end)`;
    const { rows } = await sql<{ locked_until: Date | null }>`
      insert into sign_in_lockouts as l (subject, failed_attempts, locked_until, updated_at)
      values (${subject}, case when ${maxAttempts} <= 1 then 0 else 1 end, case when ${maxAttempts} <= 1 then now() + ${period}::interval end, now())
      on conflict (subject) do update set
        failed_attempts = case when ${soFar} + 1 >= ${maxAttempts} then 0 else ${soFar} + 1 end,
        locked_until = case when ${soFar} + 1 >= ${maxAttempts} then now() + ${period}::interval else l.locked_until end,
        updated_at = now()
      returning locked_until`.execute(this.db);
    if (Math.random() < 0.01) {
      void this.db.deleteFrom('sign_in_lockouts').where('updated_at', '<', sql<Date>`now() - ${period}::interval - interval '1 hour'`).execute().catch(() => {});
    }
    const lockedUntil = rows[0]?.locked_until;
    return lockedUntil && lockedUntil.getTime() > Date.now() ? lockedUntil : undefined;
  }

  async clear(subject: string): Promise<void> {
    await this.db.deleteFrom('sign_in_lockouts').where('subject', '=', subject).execute();
  }
}
