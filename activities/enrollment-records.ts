import { sql } from 'kysely';
import { recordAudit } from '../db/audit.js';
import type { Db } from '../db/connection.js';
import { generateOneTimePassword, hashOneTimePassword } from '../security/one-time-password.js';
import type { SecretBox } from '../security/secret-box.js';
import type { EnrollmentActivities, RecordTransitionInput } from '../workflows/activity-types.js';
import { inviteSealContext } from '../db/seal-contexts.js';

export interface EnrollmentRecordDeps {
  db: Db;
  box: SecretBox;
}


/** Activities that keep Postgres in step with the workflow. Each is idempotent by its key. */
export function enrollmentRecordActivities({ db, box }: EnrollmentRecordDeps): Pick<EnrollmentActivities, 'issueInvite' | 'recordTransition' | 'recordAttention' | 'reportFailure'> {
  return {
    async issueInvite({ enrollmentId, idempotencyKey }) {
      const existing = await db
        .selectFrom('invites')
        .select(['id', 'expires_at'])
        .where('idempotency_key', '=', idempotencyKey)
        .executeTakeFirst();
      if (existing) return { inviteId: existing.id, expiresAt: existing.expires_at.toISOString() };

      const enrollment = await db
        .selectFrom('enrollments')
        .select(['expires_at'])
        .where('id', '=', enrollmentId)
        .executeTakeFirstOrThrow();
      const otp = generateOneTimePassword();
      const otpHash = await hashOneTimePassword(otp);
      const inserted = await db.transaction().execute(async (trx) => {
        await trx
          .updateTable('invites')
          .set({ revoked_at: sql`now()` })
          .where('enrollment_id', '=', enrollmentId)
          .where('revoked_at', 'is', null)
          .execute();
        return trx
          .insertInto('invites')
          .values({
            enrollment_id: enrollmentId,
            otp_hash: otpHash,
            otp_sealed: box.seal(otp, inviteSealContext(enrollmentId)),
            expires_at: enrollment.expires_at,
            idempotency_key: idempotencyKey,
          })
          .returning(['id', 'expires_at'])
          .executeTakeFirstOrThrow();
      });
      return { inviteId: inserted.id, expiresAt: inserted.expires_at.toISOString() };
    },

    async recordTransition({ enrollmentId, from, to, reason, idempotencyKey }: RecordTransitionInput) {
      await db.transaction().execute(async (trx) => {
        const inserted = await trx
          .insertInto('enrollment_transitions')
          .values({ enrollment_id: enrollmentId, from_status: from, to_status: to, reason: reason ?? null, idempotency_key: idempotencyKey })
          .onConflict((oc) => oc.column('idempotency_key').doNothing())
          .returning('id')
          .executeTakeFirst();
        if (!inserted) return; // a retry of a transition already recorded
        await trx.updateTable('enrollments').set({ status: to, updated_at: sql`now()` }).where('id', '=', enrollmentId).execute();
        await recordAudit(trx, { actor: 'tandem', action: 'enrollment.transition', targetType: 'enrollment', targetId: enrollmentId, details: { from, to, ...(reason ? { reason } : {}) } });
      });
    },

    async recordAttention({ enrollmentId, reason, detail, idempotencyKey }) {
      await db.transaction().execute(async (trx) => {
        // The audit line doubles as the idempotency record: a retried activity changes nothing.
        const done = await trx.selectFrom('audit_log').select('id').where('request_id', '=', idempotencyKey).executeTakeFirst();
        if (done) return;
        await trx
          .updateTable('enrollments')
          .set(reason ? { attention_reason: reason, attention_detail: detail, attention_since: sql`coalesce(attention_since, now())` } : { attention_reason: null, attention_detail: null, attention_since: null })
          .where('id', '=', enrollmentId)
          .execute();
        await recordAudit(trx, {
          actor: 'tandem',
          action: reason ? 'enrollment.attention' : 'enrollment.attention_cleared',
          targetType: 'enrollment',
          targetId: enrollmentId,
          requestId: idempotencyKey,
          details: reason ? { reason, ...(detail ? { detail } : {}) } : {},
        });
      });
    },

    async reportFailure({ enrollmentId, step, failure, idempotencyKey }) {
      await db.transaction().execute(async (trx) => {
        const done = await trx.selectFrom('audit_log').select('id').where('request_id', '=', idempotencyKey).executeTakeFirst();
        if (done) return;
        await recordAudit(trx, { actor: 'tandem', action: 'enrollment.step_failed', targetType: 'enrollment', targetId: enrollmentId, requestId: idempotencyKey, details: { step, failure } });
      });
    },
  };
}
