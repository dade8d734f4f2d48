import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApnsClient, type ApnsClient } from '../../integrations/apple/apns.js';
import { startApnsSink, type ApnsSink } from '../../scripts/sandbox/apns-sink.js';
import { freePort } from '../../scripts/free-port.js';
import { createApnsPki } from './tls-fixtures.js';

const pki = createApnsPki();
const token = Buffer.from('a1b2c3d4'.repeat(8), 'hex');
const tokenHex = token.toString('hex');
const topic = pki.pushCert.topic;

let sink: ApnsSink;
let client: ApnsClient;

beforeAll(async () => {
  sink = await startApnsSink({ tls: pki.server, clientCaPem: pki.ca.certPem });
  client = createApnsClient({ origin: sink.origin, certPem: pki.pushCert.certPem, keyPem: pki.pushCert.keyPem, ca: pki.ca.certPem });
});

afterAll(async () => {
  await client?.close();
  await sink?.stop();
});

describe('APNs client against the HTTP/2 sink', () => {
  it('delivers a well-formed MDM push authenticated by the push certificate', async () => {
    const outcome = await client.push({ token, pushMagic: 'PM-1', topic });
    expect(outcome.kind).toBe('delivered');
    const push = await sink.waitFor((p) => (p.body as { mdm?: string }).mdm === 'PM-1');
    expect(push).toMatchObject({ token: tokenHex, topic, pushType: 'mdm', priority: '10', body: { mdm: 'PM-1' }, status: 200 });
    expect(push.clientCertFingerprint).toBe(new X509Certificate(pki.pushCert.certPem).fingerprint256);
    expect(outcome).toEqual({ kind: 'delivered', apnsId: expect.stringMatching(/^[0-9a-f-]{36}$/) });
  });

  it('accepts an uppercase hex token and sends it lowercase', async () => {
    await client.push({ token: tokenHex.toUpperCase(), pushMagic: 'PM-upper', topic });
    const push = await sink.waitFor((p) => (p.body as { mdm?: string }).mdm === 'PM-upper');
    expect(push.token).toBe(tokenHex);
  });

  it('reuses one HTTP/2 session across pushes, and reconnects after a GOAWAY', async () => {
    const magics = ['reuse-1', 'reuse-2', 'reuse-3'];
    const outcomes = await Promise.all(magics.map((pushMagic) => client.push({ token, pushMagic, topic })));
    expect(outcomes.every((o) => o.kind === 'delivered')).toBe(true);
    const sessionIds = new Set(sink.pushes.filter((p) => magics.includes((p.body as { mdm: string }).mdm)).map((p) => p.sessionId));
    const first = sink.pushes[0]?.sessionId;
    expect([...sessionIds]).toEqual([first]);

    await sink.dropConnections();
    expect(await client.push({ token, pushMagic: 'after-goaway', topic })).toMatchObject({ kind: 'delivered' });
    const after = await sink.waitFor((p) => (p.body as { mdm?: string }).mdm === 'after-goaway');
    expect(after.sessionId).not.toBe(first);
  });

  it('replays a push that raced a GOAWAY on a fresh connection', async () => {
    await client.push({ token, pushMagic: 'before-race', topic });
    const before = (await sink.waitFor((p) => (p.body as { mdm?: string }).mdm === 'before-race')).sessionId;
    const dropping = sink.dropConnections();
    // Sent while the GOAWAY is on its way: APNs refuses the stream, the client tries once more.
    expect(await client.push({ token, pushMagic: 'raced', topic })).toMatchObject({ kind: 'delivered' });
    await dropping;
    expect((await sink.waitFor((p) => (p.body as { mdm?: string }).mdm === 'raced')).sessionId).not.toBe(before);
  });

  it('maps 410 to unregistered with the timestamp', async () => {
    sink.respondNext(410, { reason: 'Unregistered', timestamp: 1_717_000_000_000 });
    expect(await client.push({ token, pushMagic: 'PM-410', topic })).toEqual({ kind: 'unregistered', timestamp: 1_717_000_000_000 });
  });

  it('maps 500 and 429 to retry (with Retry-After when given)', async () => {
    sink.respondNext(500, { reason: 'InternalServerError' });
    expect(await client.push({ token, pushMagic: 'PM-500', topic })).toEqual({ kind: 'retry', status: 500, reason: 'InternalServerError' });
    sink.respondNext(429, { reason: 'TooManyRequests' }, { 'retry-after': '3' });
    expect(await client.push({ token, pushMagic: 'PM-429', topic })).toEqual({ kind: 'retry', status: 429, reason: 'TooManyRequests', retryAfterMs: 3000 });
  });

  it('maps 403 BadCertificate and 400 to rejected', async () => {
    sink.respondNext(403, { reason: 'BadCertificateEnvironment' });
    expect(await client.push({ token, pushMagic: 'PM-403', topic })).toEqual({ kind: 'rejected', status: 403, reason: 'BadCertificateEnvironment' });
    sink.respondNext(400, { reason: 'DeviceTokenNotForTopic' });
    expect(await client.push({ token, pushMagic: 'PM-400', topic })).toEqual({ kind: 'rejected', status: 400, reason: 'DeviceTokenNotForTopic' });
  });

  it('rejects a token that is not hex without a round trip', async () => {
    const before = sink.pushes.length;
    expect(await client.push({ token: 'not-a-token', pushMagic: 'x', topic })).toEqual({ kind: 'rejected', status: 400, reason: 'BadDeviceToken' });
    expect(sink.pushes).toHaveLength(before);
  });

  it('is answered 403 BadCertificate when its certificate was issued by another CA', async () => {
    const foreign = createApnsClient({
      origin: sink.origin,
      certPem: pki.foreignPushCert.certPem,
      keyPem: pki.foreignPushCert.keyPem,
      ca: pki.ca.certPem,
    });
    try {
      expect(await foreign.push({ token, pushMagic: 'foreign', topic })).toEqual({ kind: 'rejected', status: 403, reason: 'BadCertificate' });
    } finally {
      await foreign.close();
    }
  });

  it('returns retry with status 0 when nothing listens', async () => {
    const dead = createApnsClient({ origin: `https://127.0.0.1:${await freePort()}`, certPem: pki.pushCert.certPem, keyPem: pki.pushCert.keyPem, ca: pki.ca.certPem });
    try {
      expect(await dead.push({ token, pushMagic: 'x', topic })).toEqual({ kind: 'retry', status: 0, reason: 'ECONNREFUSED' });
    } finally {
      await dead.close();
    }
  });

  it('gives up on a push that gets no answer within the request timeout', async () => {
    const silent = http2.createSecureServer({ ...{ cert: pki.server.certPem, key: pki.server.keyPem }, allowHTTP1: false });
    silent.on('stream', () => {
      // never answer
    });
    silent.on('session', (s) => s.on('error', () => {}));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as AddressInfo).port;
    const slow = createApnsClient({
      origin: `https://127.0.0.1:${port}`,
      certPem: pki.pushCert.certPem,
      keyPem: pki.pushCert.keyPem,
      ca: pki.ca.certPem,
      requestTimeoutMs: 200,
    });
    try {
      expect(await slow.push({ token, pushMagic: 'x', topic })).toEqual({ kind: 'retry', status: 0, reason: 'Timeout' });
    } finally {
      await slow.close();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });
});
