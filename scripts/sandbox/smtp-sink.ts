/**
 * A real SMTP server on loopback that keeps what it receives, for tests and the sandbox.
 * No AUTH, no STARTTLS; messages over 10 MB are refused (552) so memory stays bounded.
 */
import type { AddressInfo } from 'node:net';
import { simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';
import { createRecorder } from './recorder.js';

export interface ReceivedMail {
  /** envelope sender (MAIL FROM) */
  from: string;
  /** envelope recipients (RCPT TO) */
  to: string[];
  subject: string;
  text: string;
  html: string;
  /** as in the header, with angle brackets */
  messageId: string;
  receivedAt: Date;
  /** the SMTP session (one TCP connection) it arrived over */
  sessionId: string;
}

export interface SmtpSink {
  /** smtp://127.0.0.1:<port> */
  url: string;
  messages: ReceivedMail[];
  /** how many SMTP connections clients have opened so far */
  readonly connectionsOpened: number;
  waitFor(pred: (m: ReceivedMail) => boolean, timeoutMs?: number): Promise<ReceivedMail>;
  /** answer the next message's DATA with this reply instead of accepting it (queued, FIFO) */
  failNext(code: number, message: string): void;
  stop(): Promise<void>;
}

const MAX_MESSAGE_BYTES = 10 * 1024 * 1024;

export async function startSmtpSink(opts: { port?: number } = {}): Promise<SmtpSink> {
  const recorder = createRecorder<ReceivedMail>('mail');
  const scriptedFailures: { code: number; message: string }[] = [];
  let connectionsOpened = 0;

  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['AUTH', 'STARTTLS'],
    hideSTARTTLS: true,
    size: MAX_MESSAGE_BYTES,
    maxClients: 20,
    socketTimeout: 30_000,
    closeTimeout: 500,
    logger: false,
    banner: 'Tandem SMTP sink',
    onConnect(_session, callback) {
      connectionsOpened += 1;
      callback();
    },
    onData(stream, session, callback) {
      simpleParser(stream)
        .then((parsed) => {
          if (stream.sizeExceeded) return callback(smtpError(552, 'Message exceeds the size limit'));
          const failure = scriptedFailures.shift();
          if (failure) return callback(smtpError(failure.code, failure.message));
          const { mailFrom, rcptTo } = session.envelope;
          recorder.add({
            from: mailFrom ? mailFrom.address : '',
            to: rcptTo.map((r) => r.address),
            subject: parsed.subject ?? '',
            text: parsed.text ?? '',
            html: typeof parsed.html === 'string' ? parsed.html : '',
            messageId: parsed.messageId ?? '',
            receivedAt: new Date(),
            sessionId: session.id,
          });
          callback();
        })
        .catch(() => callback(smtpError(451, 'Could not parse the message')));
    },
  });
  server.on('error', () => {
    // Client-side protocol errors land here; the client already got its reply.
  });

  await new Promise<void>((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => {
      server.server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.server.address() as AddressInfo;

  return {
    url: `smtp://127.0.0.1:${port}`,
    messages: recorder.items,
    get connectionsOpened() {
      return connectionsOpened;
    },
    waitFor: recorder.waitFor,
    failNext(code, message) {
      scriptedFailures.push({ code, message });
    },
    async stop() {
      recorder.cancelWaiters('sink stopped');
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function smtpError(code: number, message: string): Error {
  return Object.assign(new Error(message), { responseCode: code });
}
