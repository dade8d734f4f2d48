import { ApplicationFailure } from '@temporalio/activity';
import { sql } from 'kysely';
import { enqueueCommand } from '../db/commands.js';
import type { Db } from '../db/connection.js';
import { enrollmentProfileIdentifier } from '../mdm/profile.js';
import type { SecretBox } from '../security/secret-box.js';
import type { EnrollmentActivities } from '../workflows/activity-types.js';
import { messageIdFor, type Mailer } from '../integrations/mail/mailer.js';
import { renderRemovalEmail, renderRemovalSms } from './messages/removal-message.js';
import type { SmsProvider } from '../integrations/sms/sms.js';
import { once } from './effects.js';
import { recordAudit } from '../db/audit.js';

export interface DisenrollmentDeps {
  db: Db;
  box: SecretBox;
  organization: string;
  mailer: Mailer;
  sms: SmsProvider | undefined;
}

type Activities = Pick<EnrollmentActivities, 'queueRemoval' | 'markInactive' | 'lastContact' | 'cleanUpEnrollment' | 'notifyDisenrolled'>;

/** Leaving management: RemoveProfile, reachability, and forgetting everything afterwards. */
export function disenrollmentActivities({ db, box, organization, mailer, sms }: DisenrollmentDeps): Activities {
  const deviceOf = (enrollmentId: string) => db.selectFrom('devices').select(['id']).where('enrollment_id', '=', enrollmentId).executeTakeFirst();

  return {
    async queueRemoval({ enrollmentId, idempotencyKey }) {
      const device = await deviceOf(enrollmentId);
      if (!device) throw ApplicationFailure.nonRetryable(`enrollment ${enrollmentId} has no device`, 'NoDevice');
      const commandUuid = await enqueueCommand(db, box, {
        deviceId: device.id,
        requestType: 'RemoveProfile',
        params: { Identifier: enrollmentProfileIdentifier(enrollmentId) },
        idempotencyKey,
      });
      return { commandUuid };
    },

    async markInactive({ enrollmentId, reason }) {
      await db
        .updateTable('devices')
        .set(reason ? { inactive_since: sql`coalesce(inactive_since, now())`, inactive_reason: reason } : { inactive_since: null, inactive_reason: null })
        .where('enrollment_id', '=', enrollmentId)
        .execute();
    },

    async lastContact({ enrollmentId }) {
      const row = await db.selectFrom('devices').select('last_seen_at').where('enrollment_id', '=', enrollmentId).executeTakeFirst();
      return { lastSeenAt: row?.last_seen_at?.toISOString() ?? null };
    },

    async cleanUpEnrollment({ enrollmentId, reason }) {
      // Every step is idempotent: a retried activity finds the work done.
      await db.transaction().execute(async (trx) => {
        const device = await trx.selectFrom('devices').select('id').where('enrollment_id', '=', enrollmentId).executeTakeFirst();
        if (device) {
          await trx.updateTable('command_queue').set({ status: 'cancelled' }).where('device_id', '=', device.id).where('status', 'in', ['staged', 'queued', 'sent', 'not_now']).execute();
          await trx
            .updateTable('devices')
            .set({ push_token_sealed: null, push_magic_sealed: null, identity_fingerprint: null, updated_at: sql`now()` })
            .where('id', '=', device.id)
            .execute();
          // Sealed command payloads may hold secrets (Wi-Fi passwords, profiles): keep the history, not the payload.
          await trx.updateTable('command_queue').set({ payload_sealed: Buffer.alloc(0) }).where('device_id', '=', device.id).execute();
        }
        await trx.updateTable('enrollment_identities').set({ revoked_at: sql`coalesce(revoked_at, now())` }).where('enrollment_id', '=', enrollmentId).execute();
        await trx.updateTable('account_tokens').set({ revoked_at: sql`coalesce(revoked_at, now())` }).where('enrollment_id', '=', enrollmentId).execute();
        await trx
          .updateTable('invites')
          .set({ revoked_at: sql`coalesce(revoked_at, now())`, otp_sealed: Buffer.alloc(0), otp_hash: 'destroyed' })
          .where('enrollment_id', '=', enrollmentId)
          .execute();
        await trx.updateTable('profile_downloads').set({ used_at: sql`coalesce(used_at, now())` }).where('enrollment_id', '=', enrollmentId).execute();
        const audited = await trx
          .selectFrom('audit_log')
          .select('id')
          .where('target_type', '=', 'enrollment')
          .where('target_id', '=', enrollmentId)
          .where('action', '=', 'enrollment.disenrolled')
          .executeTakeFirst();
        if (!audited) {
          await recordAudit(trx, { actor: 'tandem', action: 'enrollment.disenrolled', targetType: 'enrollment', targetId: enrollmentId, details: { reason } });
        }
      });
    },

    async notifyDisenrolled({ enrollmentId, idempotencyKey }) {
      const row = await db
        .selectFrom('enrollments as e')
        .innerJoin('users as u', 'u.id', 'e.user_id')
        .select(['e.channel', 'e.enrollment_type', 'u.name', 'u.email', 'u.phone'])
        .where('e.id', '=', enrollmentId)
        .executeTakeFirstOrThrow();
      const values = { userName: row.name, organization, kind: row.enrollment_type };
      if (row.email && row.channel !== 'sms') {
        await once(db, idempotencyKey, async () => {
          const mail = renderRemovalEmail(values);
          return mailer.send({ to: row.email!, ...mail, messageId: messageIdFor(idempotencyKey) });
        });
        return { sent: true };
      }
      if (row.phone && sms) {
        await once(db, idempotencyKey, () => sms.send({ to: row.phone!, body: renderRemovalSms(values), idempotencyKey }));
        return { sent: true };
      }
      return { sent: false };
    },
  };
}
