import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderInviteEmail } from '../../activities/messages/invite-message.js';
import { createSmtpMailer, type Mailer } from '../../integrations/mail/mailer.js';
import { startSmtpSink, type SmtpSink } from '../../scripts/sandbox/smtp-sink.js';
import { freePort } from '../../scripts/free-port.js';
import { rejection } from './rejection.js';

let sink: SmtpSink;
let mailer: Mailer;

beforeAll(async () => {
  sink = await startSmtpSink();
  mailer = createSmtpMailer({ smtpUrl: sink.url, from: '"Acme IT" <it@acme.example>' });
});

afterAll(async () => {
  mailer?.close();
  await sink?.stop();
});

function invite(key: string) {
  const content = renderInviteEmail({
    userName: 'Ada Lovelace',
    organization: 'Acme',
    enrollmentUrl: 'https://mdm.acme.example/enroll/abc',
    username: 'ada@acme.example',
    password: 'K7XQ2MPH9R',
    expiresAt: new Date('2030-06-03T14:00:00Z'),
    reminder: false,
    accountDrivenHint: false,
  });
  return { to: 'ada@example.com', ...content, messageId: `<invite-${key}@tandem>` };
}

describe('SMTP mailer', () => {
  it('delivers subject, text and html with the credentials and the deterministic Message-ID', async () => {
    const mail = invite('m1');
    const sent = await mailer.send(mail);
    expect(sent.messageId).toBe('<invite-m1@tandem>');

    const received = await sink.waitFor((m) => m.messageId === '<invite-m1@tandem>');
    expect(received.from).toBe('it@acme.example');
    expect(received.to).toEqual(['ada@example.com']);
    expect(received.subject).toBe('Enroll your iPhone with Acme');
    expect(received.text).toContain('K7XQ2MPH9R');
    expect(received.text).toContain('https://mdm.acme.example/enroll/abc');
    expect(received.html).toContain('K7XQ2MPH9R');
    expect(received.html).toContain('href="https://mdm.acme.example/enroll/abc"');
  });

  it('reports the Message-ID in header form even when given bare', async () => {
    const sent = await mailer.send({ ...invite('bare'), messageId: 'invite-bare@tandem' });
    expect(sent.messageId).toBe('<invite-bare@tandem>');
    await sink.waitFor((m) => m.messageId === '<invite-bare@tandem>');
  });

  it('reuses pooled connections for several messages', async () => {
    const pooled = createSmtpMailer({ smtpUrl: sink.url, from: 'it@acme.example' });
    const opened = sink.connectionsOpened;
    try {
      // One after another: every message goes over the one connection the first opened.
      for (const k of ['s1', 's2', 's3', 's4', 's5']) await pooled.send(invite(k));
      expect(sink.connectionsOpened - opened).toBe(1);
      // At once: at most the pool's three connections, for the eight messages in all.
      await Promise.all(['c1', 'c2', 'c3'].map((k) => pooled.send(invite(k))));
      expect(sink.connectionsOpened - opened).toBeLessThanOrEqual(3);
    } finally {
      pooled.close();
    }
    const keys = ['s1', 's2', 's3', 's4', 's5', 'c1', 'c2', 'c3'];
    const received = await Promise.all(keys.map((k) => sink.waitFor((m) => m.messageId === `<invite-${k}@tandem>`)));
    expect(new Set(received.map((m) => m.sessionId)).size).toBeLessThanOrEqual(3);
  });

  it('turns a 550 rejection into a permanent DeliveryError', async () => {
    sink.failNext(550, 'Requested action not taken: mailbox unavailable');
    const err = await rejection(mailer.send(invite('rejected')));
    expect(err.retryable).toBe(false);
    expect(err.code).toBe('550');
    expect(err.message).toContain('mailbox unavailable');
    expect(err.message).not.toContain('K7XQ2MPH9R');
    expect(sink.messages.some((m) => m.messageId === '<invite-rejected@tandem>')).toBe(false);
  });

  it('turns a 451 into a retryable DeliveryError, and the retry goes through', async () => {
    sink.failNext(451, 'Temporary local problem, try again');
    const err = await rejection(mailer.send(invite('later')));
    expect(err.retryable).toBe(true);
    expect(err.code).toBe('451');
    await mailer.send(invite('later'));
    await sink.waitFor((m) => m.messageId === '<invite-later@tandem>');
  });

  it('reports an unreachable server as retryable', async () => {
    const dead = createSmtpMailer({ smtpUrl: `smtp://127.0.0.1:${await freePort()}`, from: 'it@acme.example' });
    try {
      const err = await rejection(dead.send(invite('dead')));
      expect(err.retryable).toBe(true);
    } finally {
      dead.close();
    }
  });
});

describe('SMTP errors', () => {
  it('mask the recipient an SMTP reply quotes, and keep no raw cause', async () => {
    sink.failNext(550, '5.1.1 <ada@example.com>: Recipient address rejected');
    const err = await rejection(mailer.send(invite('masked')));
    expect(err.message).not.toContain('ada@example.com');
    expect(err.message).toContain('[email]');
    expect(err.cause).toBeUndefined();
  });
});
