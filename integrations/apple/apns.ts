/**
 * APNs MDM push: HTTP/2 over TLS with the MDM push certificate as the client certificate, one
 * session reused across pushes (APNs asks providers to keep connections open rather than
 * reconnect per push), replaced when it closes, errors or receives a GOAWAY.
 */
import http2 from 'node:http2';
import { parseRetryAfter } from '../provider-errors.js';

export interface ApnsTarget {
  /** the device token from TokenUpdate: raw bytes, or hex */
  token: Buffer | string;
  /** PushMagic from the latest TokenUpdate */
  pushMagic: string;
  /** the push certificate's topic, com.apple.mgmt.External.<UUID> */
  topic: string;
}

export type ApnsOutcome =
  | { kind: 'delivered'; apnsId?: string }
  | { kind: 'unregistered'; timestamp?: number }
  /** status 0: no HTTP answer (connection failure, reset stream, timeout); reason then names it */
  | { kind: 'retry'; status: number; reason?: string; retryAfterMs?: number }
  | { kind: 'rejected'; status: number; reason: string };

export interface ApnsClient {
  push(target: ApnsTarget): Promise<ApnsOutcome>;
  /** lets in-flight pushes finish, then closes the connection */
  close(): Promise<void>;
}

export interface ApnsClientOptions {
  /** https://api.push.apple.com (the portal's MDM certificates are production-only) */
  origin: string;
  certPem: string;
  keyPem: string;
  /** a CA to trust instead of the system roots (a local sink); leave unset for Apple */
  ca?: string;
  /** per push, from sending to the full answer; default 10 s */
  requestTimeoutMs?: number;
  /** close the connection after this long without traffic; default 5 min */
  idleTimeoutMs?: number;
}

const MAX_RESPONSE_BYTES = 16 * 1024;

export function createApnsClient(opts: ApnsClientOptions): ApnsClient {
  if (new URL(opts.origin).protocol !== 'https:') throw new Error('APNs origin must be an https URL');
  const requestTimeoutMs = opts.requestTimeoutMs ?? 10_000;
  const idleTimeoutMs = opts.idleTimeoutMs ?? 5 * 60_000;
  let current: http2.ClientHttp2Session | undefined;
  let closing = false;
  // Apple may explain a GOAWAY in its debug data ({"reason":"Shutdown"}); kept per session so
  // streams that die with it report why.
  const goawayReasons = new WeakMap<http2.ClientHttp2Session, string>();
  const connected = new WeakSet<http2.ClientHttp2Session>();

  function forget(session: http2.ClientHttp2Session) {
    if (current === session) current = undefined;
  }

  function openSession(): http2.ClientHttp2Session {
    const session = http2.connect(opts.origin, {
      cert: opts.certPem,
      key: opts.keyPem,
      ...(opts.ca === undefined ? {} : { ca: opts.ca }),
      minVersion: 'TLSv1.2',
    });
    // Failures reach each stream's own 'error'; this listener only keeps them from being unhandled.
    session.on('error', () => forget(session));
    session.on('goaway', (_code, _lastStreamId, debugData) => {
      const reason = reasonFromDebugData(debugData);
      if (reason) goawayReasons.set(session, reason);
      forget(session);
    });
    session.on('connect', () => connected.add(session));
    session.on('close', () => forget(session));
    session.setTimeout(idleTimeoutMs, () => session.close());
    return session;
  }

  function session(): http2.ClientHttp2Session {
    if (!current || current.closed || current.destroyed) current = openSession();
    return current;
  }

  /** One POST on the current session; `answered` is false when no HTTP status came back. */
  function send(headers: http2.OutgoingHttpHeaders, body: string): Promise<{ outcome: ApnsOutcome; answered: boolean; wentAway: boolean }> {
    return new Promise((resolve) => {
      let s: http2.ClientHttp2Session;
      let stream: http2.ClientHttp2Stream;
      try {
        s = session();
        stream = s.request(headers);
      } catch (err) {
        // The session died between our check and the request.
        if (current) forget(current);
        resolve({ outcome: noAnswer(errorCode(err)), answered: false, wentAway: true });
        return;
      }
      let settled = false;
      let responseHeaders: http2.IncomingHttpHeaders | undefined;
      const chunks: Buffer[] = [];
      let received = 0;
      const answer = () => {
        if (settled || !responseHeaders) return;
        settled = true;
        clearTimeout(timer);
        resolve({ outcome: classify(responseHeaders, Buffer.concat(chunks)), answered: true, wentAway: false });
      };
      const fail = (reason: string) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        // "Went away": an established connection ended under us, not a host that cannot be reached.
        resolve({ outcome: noAnswer(goawayReasons.get(s) ?? reason), answered: false, wentAway: current !== s && connected.has(s) });
      };
      const timer = setTimeout(() => {
        fail('Timeout');
        stream.close(http2.constants.NGHTTP2_CANCEL);
        // Still connecting after the whole timeout: start over next time instead of waiting on it.
        if (s.connecting) s.destroy();
      }, requestTimeoutMs);

      stream.on('response', (h) => (responseHeaders = h));
      stream.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (received <= MAX_RESPONSE_BYTES) chunks.push(chunk);
      });
      stream.on('end', answer);
      stream.on('error', (err) => fail(errorCode(err)));
      stream.on('close', () => {
        if (responseHeaders && stream.readableEnded) answer();
        else fail(`StreamClosed:${stream.rstCode ?? 'unknown'}`);
      });
      stream.end(body);
    });
  }

  return {
    async push(target) {
      if (closing) throw new Error('APNs client is closed');
      const token = hexToken(target.token);
      if (!token) return { kind: 'rejected', status: 400, reason: 'BadDeviceToken' };
      const body = JSON.stringify({ mdm: target.pushMagic });
      const headers = {
        ':method': 'POST',
        ':path': `/3/device/${token}`,
        'apns-topic': target.topic,
        'apns-push-type': 'mdm',
        'apns-priority': '10',
        'apns-expiration': '0',
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
      };
      const first = await send(headers, body);
      // A connection APNs was recycling (GOAWAY, close) can take a push down unanswered. MDM
      // pushes are safe to repeat (APNs keeps only the latest per device), so try once on a
      // fresh connection before reporting a retry.
      if (first.answered || !first.wentAway || closing) return first.outcome;
      return (await send(headers, body)).outcome;
    },

    async close() {
      closing = true;
      const s = current;
      current = undefined;
      if (!s || s.destroyed) return;
      await new Promise<void>((resolve) => s.close(() => resolve()));
    },
  };
}

function classify(headers: http2.IncomingHttpHeaders, raw: Buffer): ApnsOutcome {
  const status = Number(headers[':status']);
  const json = parseJson(raw);
  const reason = typeof json?.reason === 'string' ? json.reason : undefined;
  if (status >= 200 && status < 300) {
    const apnsId = headers['apns-id'];
    return typeof apnsId === 'string' ? { kind: 'delivered', apnsId } : { kind: 'delivered' };
  }
  if (status === 410) {
    return typeof json?.timestamp === 'number' ? { kind: 'unregistered', timestamp: json.timestamp } : { kind: 'unregistered' };
  }
  if (status === 429 || status >= 500) {
    const retryAfter = headers['retry-after'];
    const retryAfterMs = parseRetryAfter(typeof retryAfter === 'string' ? retryAfter : undefined);
    return {
      kind: 'retry',
      status,
      ...(reason === undefined ? {} : { reason }),
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    };
  }
  return { kind: 'rejected', status, reason: reason ?? `HTTP ${status}` };
}

function noAnswer(reason: string): ApnsOutcome {
  return { kind: 'retry', status: 0, reason };
}

/** Lowercase hex of the token, or undefined when it cannot be a device token. */
export function hexToken(token: Buffer | string): string | undefined {
  const hex = typeof token === 'string' ? token.trim() : token.toString('hex');
  return hex.length > 0 && hex.length % 2 === 0 && /^[0-9a-fA-F]+$/.test(hex) ? hex.toLowerCase() : undefined;
}

function parseJson(raw: Buffer): Record<string, unknown> | undefined {
  if (raw.length === 0) return undefined;
  try {
    const parsed: unknown = JSON.parse(raw.toString('utf8'));
    return typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function reasonFromDebugData(data: Buffer | undefined): string | undefined {
  if (!data || data.length === 0) return undefined;
  const reason = parseJson(data)?.reason;
  return typeof reason === 'string' ? reason : undefined;
}

/** The most telling code: a cancelled stream carries the connection's own failure as its cause. */
function errorCode(err: unknown): string {
  const cause = (err as { cause?: { code?: unknown } } | null)?.cause?.code;
  if (typeof cause === 'string') return cause;
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : err instanceof Error ? err.message : 'NetworkError';
}
