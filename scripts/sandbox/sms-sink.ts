/**
 * A loopback HTTP server that speaks Twilio's Messages endpoint
 * (POST /2010-04-01/Accounts/{AccountSid}/Messages.json) closely enough to test a real client:
 * Basic auth, form body, Twilio's error JSON, and dedupe by I-Twilio-Idempotency-Token.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { listenOnLoopback } from './listen.js';
import { readBody } from './read-body.js';
import { createRecorder } from './recorder.js';

export interface ReceivedSms {
  to: string;
  from: string;
  body: string;
  idempotencyToken?: string;
  sid: string;
}

export interface SmsSink {
  /** http://127.0.0.1:<port>, to use as the provider's baseUrl */
  baseUrl: string;
  accountSid: string;
  authToken: string;
  messages: ReceivedSms[];
  waitFor(pred: (m: ReceivedSms) => boolean, timeoutMs?: number): Promise<ReceivedSms>;
  /** answer the next authenticated Messages request with this instead (queued, FIFO; nothing is stored) */
  respondNext(status: number, body: object, headers?: Record<string, string>): void;
  stop(): Promise<void>;
}

export interface SmsSinkOptions {
  port?: number;
  accountSid?: string;
  authToken?: string;
}

const MAX_FORM_BYTES = 64 * 1024;
const MAX_BODY_CHARS = 1600;
const E164 = /^\+[1-9]\d{6,14}$/;

export async function startSmsSink(opts: SmsSinkOptions = {}): Promise<SmsSink> {
  const accountSid = opts.accountSid ?? `AC${randomBytes(16).toString('hex')}`;
  const authToken = opts.authToken ?? randomBytes(16).toString('hex');
  const recorder = createRecorder<ReceivedSms>('SMS');
  const byIdempotencyToken = new Map<string, { message: ReceivedSms; dateCreated: Date }>();
  const scripted: { status: number; body: object; headers: Record<string, string> }[] = [];
  const messagesPath = `/2010-04-01/Accounts/${accountSid}/Messages.json`;
  const expectedAuth = `Basic ${Buffer.from(`${accountSid}:${authToken}`).toString('base64')}`;

  const server = http.createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) sendJson(res, 500, twilioError(500, 20500, 'Internal Server Error'));
      else res.destroy();
    });
  });

  async function handle(req: http.IncomingMessage, res: http.ServerResponse) {
    const path = new URL(req.url ?? '/', 'http://sink').pathname;
    if (req.headers.authorization !== expectedAuth) {
      req.resume();
      res.setHeader('www-authenticate', 'Basic realm="Twilio API"');
      return sendJson(res, 401, twilioError(401, 20003, 'Authenticate'));
    }
    if (path !== messagesPath) {
      req.resume();
      return sendJson(res, 404, twilioError(404, 20404, `The requested resource ${path} was not found`));
    }
    if (req.method !== 'POST') {
      req.resume();
      return sendJson(res, 405, twilioError(405, 20004, 'Method not allowed'));
    }
    const raw = await readBody(req, MAX_FORM_BYTES);
    const next = scripted.shift();
    if (next) return sendJson(res, next.status, next.body, next.headers);
    if (raw === null) return sendJson(res, 413, twilioError(413, 20413, 'Request entity too large'));
    if (!req.headers['content-type']?.startsWith('application/x-www-form-urlencoded')) {
      return sendJson(res, 400, twilioError(400, 20001, 'Expected an application/x-www-form-urlencoded body'));
    }

    const form = new URLSearchParams(raw.toString('utf8'));
    const to = form.get('To') ?? '';
    const from = form.get('From') ?? '';
    const body = form.get('Body') ?? '';
    if (!to) return sendJson(res, 400, twilioError(400, 21604, "A 'To' phone number is required."));
    if (!from) return sendJson(res, 400, twilioError(400, 21603, "A 'From' phone number is required."));
    if (!body) return sendJson(res, 400, twilioError(400, 21602, 'Message body is required.'));
    if (!E164.test(to)) return sendJson(res, 400, twilioError(400, 21211, `The 'To' number ${to} is not a valid phone number.`));
    if (body.length > MAX_BODY_CHARS) {
      return sendJson(res, 400, twilioError(400, 21617, 'The concatenated message body exceeds the 1600 character limit.'));
    }

    const idempotencyToken = headerValue(req.headers['i-twilio-idempotency-token']);
    const earlier = idempotencyToken === undefined ? undefined : byIdempotencyToken.get(idempotencyToken);
    if (earlier) return sendJson(res, 201, messageResource(earlier.message, earlier.dateCreated));

    const message: ReceivedSms = { to, from, body, sid: `SM${randomBytes(16).toString('hex')}`, ...(idempotencyToken ? { idempotencyToken } : {}) };
    const dateCreated = new Date();
    if (idempotencyToken) {
      byIdempotencyToken.set(idempotencyToken, { message, dateCreated });
      if (byIdempotencyToken.size > 10_000) byIdempotencyToken.delete(byIdempotencyToken.keys().next().value as string);
    }
    recorder.add(message);
    return sendJson(res, 201, messageResource(message, dateCreated));
  }

  function messageResource(m: ReceivedSms, dateCreated: Date) {
    return {
      sid: m.sid,
      account_sid: accountSid,
      to: m.to,
      from: m.from,
      body: m.body,
      status: 'queued',
      direction: 'outbound-api',
      num_segments: String(Math.max(1, Math.ceil(m.body.length / 153))),
      api_version: '2010-04-01',
      date_created: dateCreated.toUTCString(),
      error_code: null,
      error_message: null,
      uri: `/2010-04-01/Accounts/${accountSid}/Messages/${m.sid}.json`,
    };
  }

  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;
  server.maxConnections = 100;
  const port = await listenOnLoopback(server, opts.port);

  return {
    baseUrl: `http://127.0.0.1:${port}`,
    accountSid,
    authToken,
    messages: recorder.items,
    waitFor: recorder.waitFor,
    respondNext(status, body, headers = {}) {
      scripted.push({ status, body, headers });
    },
    async stop() {
      recorder.cancelWaiters('sink stopped');
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}

/** Twilio's error resource shape. */
function twilioError(status: number, code: number, message: string) {
  return { code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status };
}

function sendJson(res: http.ServerResponse, status: number, body: object, headers: Record<string, string> = {}) {
  const payload = JSON.stringify(body);
  res.writeHead(status, { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) });
  res.end(payload);
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
