/**
 * Builds the activities' dependencies from configuration: real SMTP / SMS providers when
 * configured, the sandbox outbox when running in sandbox mode.
 */
import type { ActivityDeps } from '../activities/index.js';
import { createSmtpMailer, type Mailer } from '../integrations/mail/mailer.js';
import { createSandboxMailer, createSandboxSmsProvider } from '../integrations/sandbox-delivery.js';
import { createTwilioSmsProvider } from '../integrations/sms/sms.js';
import type { Env } from '../config/env.js';
import type { Db } from '../db/connection.js';
import type { SecretBox } from '../security/secret-box.js';

/** What the environment does not say: sandbox mode, the public URL, and where APNs and Apps and Books are reached in tests. */
export interface ActivityDepsOptions {
  sandbox: boolean;
  publicUrl: string;
  /** the local APNs sink in sandbox mode and tests */
  apns?: { origin: string; ca?: string };
  /**
   * How often to poll Apps and Books async events: honoured only when NODE_ENV=test. Everywhere
   * else Tandem waits the 30 s between polls that Apple asks for.
   */
  vppEventPollMs?: number;
}

export function activityDepsFromEnv(env: Env, db: Db, box: SecretBox, o: ActivityDepsOptions): ActivityDeps {
  let mailer: Mailer;
  if (env.SMTP_URL) mailer = createSmtpMailer({ smtpUrl: env.SMTP_URL, from: env.MAIL_FROM });
  else if (o.sandbox) mailer = createSandboxMailer(db);
  else throw new Error('SMTP_URL is required outside sandbox mode (invites are sent by email)');
  const sms =
    env.SMS_ACCOUNT_SID && env.SMS_AUTH_TOKEN && env.SMS_FROM
      ? createTwilioSmsProvider({ baseUrl: env.SMS_API_URL, accountSid: env.SMS_ACCOUNT_SID, authToken: env.SMS_AUTH_TOKEN, from: env.SMS_FROM })
      : o.sandbox
        ? createSandboxSmsProvider(db)
        : undefined;
  return {
    db,
    box,
    organization: env.TANDEM_ORGANIZATION,
    publicUrl: o.publicUrl,
    mailer,
    sms,
    apns: o.apns ?? { origin: env.APNS_ORIGIN },
    identity: { validityMs: env.TANDEM_IDENTITY_VALIDITY, renewAtPercent: env.TANDEM_IDENTITY_RENEW_AT },
    vpp: { baseUrl: env.VPP_API_URL, ...(o.vppEventPollMs && env.NODE_ENV === 'test' ? { eventPollMs: o.vppEventPollMs } : {}) },
  };
}
