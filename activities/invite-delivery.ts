import { ApplicationFailure } from '@temporalio/activity';
import type { Db } from '../db/connection.js';
import type { SecretBox } from '../security/secret-box.js';
import type { DeliverInviteInput, EnrollmentActivities } from '../workflows/activity-types.js';
import { DeliveryError } from '../integrations/provider-errors.js';
import { renderInviteEmail, renderInviteSms } from './messages/invite-message.js';
import { messageIdFor, type Mailer } from '../integrations/mail/mailer.js';
import type { SmsProvider } from '../integrations/sms/sms.js';
import { once } from './effects.js';
import { inviteSealContext } from '../db/seal-contexts.js';

export interface InviteDeliveryDeps {
  db: Db;
  box: SecretBox;
  organization: string;
  /** base URL of the enrollment portal, e.g. https://mdm.example.com */
  publicUrl: string;
  mailer: Mailer;
  sms: SmsProvider | undefined;
}

export function inviteDeliveryActivities(deps: InviteDeliveryDeps): Pick<EnrollmentActivities, 'deliverInvite'> {
  return {
    async deliverInvite({ enrollmentId, idempotencyKey, reminder }: DeliverInviteInput) {
      const row = await deps.db
        .selectFrom('enrollments as e')
        .innerJoin('users as u', 'u.id', 'e.user_id')
        .innerJoin('invites as i', (j) => j.onRef('i.enrollment_id', '=', 'e.id').on('i.revoked_at', 'is', null))
        .select(['e.channel', 'e.username', 'e.auth_mode', 'e.enrollment_type', 'e.ownership', 'u.name', 'u.email', 'u.phone', 'i.otp_sealed', 'i.expires_at'])
        .where('e.id', '=', enrollmentId)
        .executeTakeFirst();
      if (!row) throw ApplicationFailure.nonRetryable(`enrollment ${enrollmentId} has no live invite`, 'NoLiveInvite');

      const message = {
        userName: row.name,
        organization: deps.organization,
        enrollmentUrl: new URL(`/enroll/${enrollmentId}`, deps.publicUrl).href,
        username: row.username,
        password: row.auth_mode === 'authenticated' ? deps.box.openText(row.otp_sealed, inviteSealContext(enrollmentId)) : null,
        expiresAt: row.expires_at,
        reminder,
        accountDrivenHint: row.enrollment_type !== 'device',
      };
      try {
        return await once(deps.db, idempotencyKey, async () => {
          if (row.channel === 'email') {
            const mail = renderInviteEmail(message);
            const sent = await deps.mailer.send({ to: row.email!, ...mail, messageId: messageIdFor(idempotencyKey) });
            return { channel: 'email', messageId: sent.messageId };
          }
          if (!deps.sms) throw new DeliveryError('no SMS provider is configured (SMS_ACCOUNT_SID, SMS_AUTH_TOKEN, SMS_FROM)', { retryable: false, code: 'sms_not_configured' });
          const sent = await deps.sms.send({ to: row.phone!, body: renderInviteSms(message), idempotencyKey });
          return { channel: 'sms', messageId: sent.providerMessageId };
        });
      } catch (err) {
        if (err instanceof DeliveryError && err.code === 'sms_not_configured') throw ApplicationFailure.nonRetryable(err.message, 'SmsNotConfigured');
        if (err instanceof DeliveryError && !err.retryable) throw ApplicationFailure.nonRetryable(err.message, 'InviteUndeliverable');
        if (err instanceof DeliveryError && err.retryAfterMs) {
          throw ApplicationFailure.create({ message: err.message, type: 'InviteDeliveryDeferred', nextRetryDelay: err.retryAfterMs });
        }
        throw err;
      }
    },
  };
}
