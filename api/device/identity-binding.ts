/**
 * The device side of identity renewal (activities/identity-renewal.ts issues it). A renewed
 * identity is pending until the device first signs a request with it, which can only happen once
 * the device installed the updated enrollment profile and dropped the old identity. That request
 * binds the new identity to the device (same EnrollmentID or UDID as before) and revokes the old
 * one in one transaction, so from then on the old identity gets 403 com.apple.unrecognized.device.
 * That answer makes a device unenroll, but only a device still holding the old identity can
 * receive it, and a device that installed the new profile no longer has it.
 */
import { sql } from 'kysely';
import type { Db } from '../../db/connection.js';
import { recordEnrollmentEvent } from '../../db/outbox.js';

export type BindOutcome = 'bound' | 'identifier_mismatch' | 'not_pending';

/**
 * Binds a pending renewed identity on its first request. `key` is the request's EnrollmentID
 * (User Enrollment) or UDID (Device Enrollment); it must be the device's own, so a renewed
 * identity can never move to another device or enrollment.
 */
export async function bindRenewedIdentity(db: Db, req: { enrollmentId: string; fingerprint: string; kind: 'user' | 'device'; key: string }): Promise<BindOutcome> {
  return db.transaction().execute(async (trx) => {
    const device = await trx
      .selectFrom('devices as d')
      .leftJoin('device_hardware_ids as h', 'h.device_id', 'd.id')
      .select(['d.id', 'd.apple_enrollment_id', 'h.udid'])
      .where('d.enrollment_id', '=', req.enrollmentId)
      .forUpdate('d')
      .executeTakeFirst();
    if (!device) return 'not_pending';
    const expected = req.kind === 'user' ? device.apple_enrollment_id : device.udid;
    if (!expected || expected !== req.key) return 'identifier_mismatch';
    const identity = await trx
      .selectFrom('enrollment_identities')
      .select(['bound_at', 'revoked_at'])
      .where('fingerprint', '=', req.fingerprint)
      .where('enrollment_id', '=', req.enrollmentId)
      .forUpdate()
      .executeTakeFirst();
    if (!identity || identity.revoked_at) return 'not_pending';
    if (identity.bound_at) return 'bound'; // a concurrent first request bound it
    await trx.updateTable('enrollment_identities').set({ bound_at: sql`now()` }).where('fingerprint', '=', req.fingerprint).execute();
    await trx.updateTable('devices').set({ identity_fingerprint: req.fingerprint, last_seen_at: sql`now()`, updated_at: sql`now()` }).where('id', '=', device.id).execute();
    // Every other identity of this enrollment (the old one, any other renewal) stops working now.
    await trx
      .updateTable('enrollment_identities')
      .set({ revoked_at: sql`now()` })
      .where('enrollment_id', '=', req.enrollmentId)
      .where('fingerprint', '!=', req.fingerprint)
      .where('revoked_at', 'is', null)
      .execute();
    await recordEnrollmentEvent(trx, req.enrollmentId, { type: 'identity_renewed' }, `identity-renewed:${req.fingerprint}`);
    return 'bound';
  });
}

/**
 * The device refused the renewal's InstallProfile: the renewed identity will never be used, so it
 * is revoked (the old one keeps working) and the workflow hears why. Runs in the result's
 * transaction; does nothing for other commands.
 */
export async function recordRenewalFailure(trx: Db, commandUuid: string, status: string, message: Record<string, unknown>): Promise<void> {
  if (status !== 'Error' && status !== 'CommandFormatError') return;
  const revoked = await trx
    .updateTable('enrollment_identities')
    .set({ revoked_at: sql`now()` })
    .where('command_uuid', '=', commandUuid)
    .where('bound_at', 'is', null)
    .where('revoked_at', 'is', null)
    .returning(['enrollment_id', 'fingerprint'])
    .executeTakeFirst();
  if (!revoked) return;
  await recordEnrollmentEvent(trx, revoked.enrollment_id, { type: 'identity_renewal_failed', reason: failureReason(status, message) }, `identity-renewal-failed:${revoked.fingerprint}`);
}

/** Apple's error codes and English descriptions only: short, and never personal data. */
function failureReason(status: string, message: Record<string, unknown>): string {
  if (status === 'CommandFormatError') return 'the device reported CommandFormatError';
  const chain = Array.isArray(message.ErrorChain) ? (message.ErrorChain as Record<string, unknown>[]) : [];
  const parts = chain
    .filter((e) => e && typeof e === 'object')
    .map((e) => [e.ErrorDomain, e.ErrorCode, e.USEnglishDescription].filter((v) => typeof v === 'string' || typeof v === 'number').join(' '))
    .filter(Boolean);
  return (parts.length ? `InstallProfile failed: ${parts.join('; ')}` : 'InstallProfile failed').slice(0, 300);
}
