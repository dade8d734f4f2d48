/**
 * Sandbox delivery: with no real mail or SMS credentials configured, invites land in the
 * `sandbox_messages` table and show on /sandbox/outbox instead of leaving the machine.
 */
import type { Db } from '../db/connection.js';
import type { Mailer } from './mail/mailer.js';
import type { SmsProvider } from './sms/sms.js';

export function createSandboxMailer(db: Db): Mailer {
  return {
    async send(mail) {
      await db
        .insertInto('sandbox_messages')
        .values({ channel: 'email', recipient: mail.to, subject: mail.subject, text_body: mail.text, html_body: mail.html })
        .execute();
      return { messageId: mail.messageId };
    },
    close() {},
  };
}

export function createSandboxSmsProvider(db: Db): SmsProvider {
  return {
    async send(msg) {
      const row = await db
        .insertInto('sandbox_messages')
        .values({ channel: 'sms', recipient: msg.to, subject: null, text_body: msg.body, html_body: null })
        .returning('id')
        .executeTakeFirstOrThrow();
      return { providerMessageId: `sandbox-${row.id}` };
    },
  };
}
