/**
 * Outgoing mail over SMTP (nodemailer, pooled). Every failure becomes a DeliveryError that says
 * whether a retry can help: SMTP 4xx and broken connections can, 5xx rejections cannot.
 */
import nodemailer from 'nodemailer';
import { DeliveryError, redactContact } from '../provider-errors.js';

export interface OutgoingMail {
  to: string;
  subject: string;
  text: string;
  html: string;
  /**
   * Deterministic Message-ID (e.g. `<invite-<key>@tandem>`), so a resend after a crash carries
   * the same id and receiving systems can drop the duplicate.
   */
  messageId: string;
}

/** The Message-ID for an activity's mail: derived from its idempotency key, so a retry repeats it. */
export function messageIdFor(idempotencyKey: string): string {
  return `<${idempotencyKey.replace(/[^A-Za-z0-9.-]/g, '.')}@tandem>`;
}

export interface Mailer {
  send(mail: OutgoingMail): Promise<{ messageId: string }>;
  close(): void;
}

export interface SmtpMailerOptions {
  /** `smtp://user:pass@host:587`, `smtps://…`; query options such as `?requireTLS=true` apply */
  smtpUrl: string;
  /** envelope and header sender, e.g. `"Acme IT" <it@acme.example>` */
  from: string;
}

export function createSmtpMailer({ smtpUrl, from }: SmtpMailerOptions): Mailer {
  const transport = nodemailer.createTransport({
    url: smtpUrl,
    pool: true,
    maxConnections: 3,
    maxMessages: 100,
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 30_000,
    // Without a logger nodemailer stays silent; its debug mode would log message bodies.
    logger: false,
    debug: false,
  });

  return {
    async send(mail) {
      const messageId = bracketed(mail.messageId);
      let info;
      try {
        info = await transport.sendMail({
          from,
          to: mail.to,
          subject: mail.subject,
          text: mail.text,
          html: mail.html,
          messageId,
          // Content is always inline strings: never let nodemailer read local files or fetch URLs.
          disableFileAccess: true,
          disableUrlAccess: true,
        });
      } catch (err) {
        throw toDeliveryError(err);
      }
      if (info.rejected.length > 0) {
        throw new DeliveryError(`SMTP server rejected the recipient: ${redactContact(info.response)}`, { retryable: false, code: 'rejected' });
      }
      return { messageId };
    },
    close() {
      transport.close();
    },
  };
}

/** The header form `<id@domain>`, which is also what receivers (and our sink) report back. */
function bracketed(messageId: string): string {
  const bare = messageId.trim().replace(/^<|>$/g, '');
  return `<${bare}>`;
}

/** Failures that lose the connection rather than refuse the message. */
const TRANSIENT_CODES = new Set(['ECONNECTION', 'ETIMEDOUT', 'ESOCKET', 'EDNS', 'ETLS', 'EPROTOCOL', 'EMAXLIMIT']);

interface SmtpFailure {
  message?: string;
  code?: string;
  responseCode?: number;
  response?: string;
}

export function toDeliveryError(err: unknown): DeliveryError {
  const failure = (typeof err === 'object' && err !== null ? err : {}) as SmtpFailure;
  const { responseCode, code } = failure;
  if (typeof responseCode === 'number') {
    // RFC 5321: 4yz is transient, 5yz permanent, except 503 (bad command sequence), which a fresh
    // connection can get past. The reply is quoted masked and the raw error is not kept as the
    // cause, because replies tend to name the recipient.
    const permanent = responseCode >= 500 && responseCode < 600 && responseCode !== 503;
    return new DeliveryError(`SMTP ${responseCode}: ${redactContact(failure.response ?? failure.message ?? 'rejected')}`, {
      retryable: !permanent,
      code: String(responseCode),
    });
  }
  const retryable = code === undefined || TRANSIENT_CODES.has(code);
  return new DeliveryError(`SMTP delivery failed: ${redactContact(failure.message ?? String(err))}`, {
    retryable,
    ...(code === undefined ? {} : { code }),
    cause: err,
  });
}
