/**
 * A loopback APNs: HTTP/2 over TLS, optionally requiring a client certificate, checking each
 * MDM push the way Apple's gateway does (path, headers, payload) and answering with Apple's
 * statuses and `{"reason": …}` bodies.
 */
import { randomUUID } from 'node:crypto';
import http2 from 'node:http2';
import type { TLSSocket } from 'node:tls';
import { listenOnLoopback } from './listen.js';
import { readBody } from './read-body.js';
import { createRecorder } from './recorder.js';

export interface ReceivedPush {
  token: string;
  topic: string;
  pushType: string;
  priority?: string;
  body: unknown;
  /** SHA-256 fingerprint of the client certificate, when one was presented */
  clientCertFingerprint?: string;
  at: Date;
  /** which TLS connection carried it (1, 2, …), to see connection reuse */
  sessionId: number;
  /** the status the sink answered (a scripted one from respondNext, or 200) */
  status: number;
}

export interface ApnsSink {
  /** https://127.0.0.1:<port> */
  origin: string;
  /** well-formed pushes, whatever the answer */
  pushes: ReceivedPush[];
  waitFor(pred: (p: ReceivedPush) => boolean, timeoutMs?: number): Promise<ReceivedPush>;
  /** answer the next well-formed push with this instead of 200 (queued, FIFO) */
  respondNext(status: number, body?: object, headers?: Record<string, string>): void;
  /** GOAWAY every open connection, as APNs does when it recycles them; resolves once they closed */
  dropConnections(): Promise<void>;
  stop(): Promise<void>;
}

export interface ApnsSinkOptions {
  /** the server's certificate and key */
  tls: { certPem: string; keyPem: string };
  /** when set, every push needs a client certificate issued (or self-signed) by this CA */
  clientCaPem?: string;
  port?: number;
}

const MAX_PAYLOAD_BYTES = 4096;
const TOKEN = /^[0-9a-fA-F]{64,200}$/;
const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

type Answer = { status: number; body?: object; headers?: Record<string, string> };

export async function startApnsSink(opts: ApnsSinkOptions): Promise<ApnsSink> {
  const recorder = createRecorder<ReceivedPush>('APNs push');
  const scripted: Answer[] = [];
  const sessions = new Map<http2.Http2Session, number>();
  let sessionCount = 0;

  const server = http2.createSecureServer({
    cert: opts.tls.certPem,
    key: opts.tls.keyPem,
    allowHTTP1: false,
    minVersion: 'TLSv1.2',
    // Ask for a certificate always (to record its fingerprint) but decide per request, so a
    // missing one gets APNs' 403 BadCertificate rather than a bare TLS alert.
    requestCert: true,
    rejectUnauthorized: false,
    ...(opts.clientCaPem === undefined ? {} : { ca: opts.clientCaPem }),
  });
  server.on('session', (session) => {
    sessions.set(session, ++sessionCount);
    session.on('close', () => sessions.delete(session));
    session.on('error', () => {});
    session.setTimeout(60_000, () => session.close());
  });
  server.on('stream', (stream, headers) => {
    handle(stream, headers).catch(() => {
      if (!stream.destroyed) stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
    });
  });

  async function handle(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) {
    const raw = await readBody(stream, MAX_PAYLOAD_BYTES);
    const apnsIdHeader = header(headers, 'apns-id');
    const apnsId = apnsIdHeader && UUID.test(apnsIdHeader) ? apnsIdHeader.toLowerCase() : randomUUID();
    const answer = (a: Answer) => respond(stream, apnsId, a);
    const reject = (status: number, reason: string) => answer({ status, body: { reason } });

    const socket = stream.session?.socket as TLSSocket | undefined;
    const peer = socket?.getPeerCertificate();
    const fingerprint = peer && Object.keys(peer).length > 0 ? peer.fingerprint256 : undefined;
    if (opts.clientCaPem !== undefined && (!fingerprint || !socket?.authorized)) return reject(403, 'BadCertificate');

    if (headers[':method'] !== 'POST') return reject(405, 'MethodNotAllowed');
    const path = /^\/3\/device\/([^/?]*)$/.exec(header(headers, ':path') ?? '');
    if (!path) return reject(404, 'BadPath');
    const token = path[1] ?? '';
    if (token === '') return reject(400, 'MissingDeviceToken');
    if (!TOKEN.test(token)) return reject(400, 'BadDeviceToken');
    const topic = header(headers, 'apns-topic');
    if (!topic) return reject(400, 'MissingTopic');
    const pushType = header(headers, 'apns-push-type');
    if (pushType !== 'mdm') return reject(400, 'InvalidPushType');
    const priority = header(headers, 'apns-priority');
    if (priority !== undefined && priority !== '5' && priority !== '10') return reject(400, 'BadPriority');
    const expiration = header(headers, 'apns-expiration');
    if (expiration !== undefined && !/^\d+$/.test(expiration)) return reject(400, 'BadExpirationDate');
    if (apnsIdHeader !== undefined && !UUID.test(apnsIdHeader)) return reject(400, 'BadMessageId');
    if (raw === null) return reject(413, 'PayloadTooLarge');
    if (raw.length === 0) return reject(400, 'PayloadEmpty');
    const body = mdmPayload(raw);
    // Apple documents no reason for a malformed MDM payload; the sink is stricter than needed.
    if (body === undefined) return reject(400, 'BadPayload');

    const next = scripted.shift() ?? { status: 200 };
    recorder.add({
      token,
      topic,
      pushType,
      ...(priority === undefined ? {} : { priority }),
      body,
      ...(fingerprint === undefined ? {} : { clientCertFingerprint: fingerprint }),
      at: new Date(),
      sessionId: (stream.session && sessions.get(stream.session)) ?? 0,
      status: next.status,
    });
    return answer(next);
  }

  const port = await listenOnLoopback(server, opts.port);

  async function closeSessions(how: 'close' | 'destroy') {
    const closing = [...sessions.keys()].map(
      (session) =>
        new Promise<void>((resolve) => {
          if (session.destroyed) return resolve();
          session.once('close', () => resolve());
          if (how === 'close') session.close();
          else session.destroy();
        }),
    );
    await Promise.all(closing);
  }

  return {
    origin: `https://127.0.0.1:${port}`,
    pushes: recorder.items,
    waitFor: recorder.waitFor,
    respondNext(status, body, headers) {
      scripted.push({ status, ...(body === undefined ? {} : { body }), ...(headers === undefined ? {} : { headers }) });
    },
    dropConnections: () => closeSessions('close'),
    async stop() {
      recorder.cancelWaiters('sink stopped');
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      await closeSessions('destroy');
      await closed;
    },
  };
}

/** Exactly `{"mdm": "<string>"}`; anything else (an `aps` dictionary, extra keys) is refused. */
function mdmPayload(raw: Buffer): { mdm: string } | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw.toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
  const keys = Object.keys(parsed);
  const mdm = (parsed as Record<string, unknown>).mdm;
  return keys.length === 1 && typeof mdm === 'string' && mdm.length > 0 ? { mdm } : undefined;
}

function respond(stream: http2.ServerHttp2Stream, apnsId: string, { status, body, headers }: Answer) {
  if (stream.destroyed || stream.headersSent) return;
  const payload = body === undefined ? undefined : JSON.stringify(body);
  stream.respond({
    ':status': status,
    'apns-id': apnsId,
    ...(payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }),
    ...headers,
  });
  stream.end(payload);
}

function header(headers: http2.IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}
