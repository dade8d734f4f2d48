import http2 from 'node:http2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApnsSink, type ApnsSink } from '../../scripts/sandbox/apns-sink.js';
import { createApnsPki } from './tls-fixtures.js';

const pki = createApnsPki();
const tokenHex = 'ab'.repeat(32);
let sink: ApnsSink;

beforeAll(async () => {
  sink = await startApnsSink({ tls: pki.server, clientCaPem: pki.ca.certPem });
});

afterAll(async () => {
  await sink?.stop();
});

interface RawRequest {
  headers?: http2.OutgoingHttpHeaders;
  body?: string;
  withClientCert?: boolean;
}

/** One request over a fresh raw HTTP/2 connection, so each case controls every header. */
async function raw({ headers = {}, body = '{"mdm":"magic"}', withClientCert = true }: RawRequest) {
  const session = http2.connect(sink.origin, {
    ca: pki.ca.certPem,
    ...(withClientCert ? { cert: pki.pushCert.certPem, key: pki.pushCert.keyPem } : {}),
  });
  session.on('error', () => {});
  try {
    return await new Promise<{ status: number; reason?: string; apnsId?: string }>((resolve, reject) => {
      const req = session.request({
        ':method': 'POST',
        ':path': `/3/device/${tokenHex}`,
        'apns-topic': pki.pushCert.topic,
        'apns-push-type': 'mdm',
        ...headers,
      });
      let status = 0;
      let apnsId: string | undefined;
      let text = '';
      req.on('response', (h) => {
        status = Number(h[':status']);
        apnsId = h['apns-id'] as string | undefined;
      });
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => (text += chunk));
      req.on('end', () => resolve({ status, ...(apnsId ? { apnsId } : {}), ...(text ? { reason: (JSON.parse(text) as { reason: string }).reason } : {}) }));
      req.on('error', reject);
      // GET streams end themselves
      if (!req.writableEnded) req.end(body);
    });
  } finally {
    session.close();
  }
}

describe('APNs sink', () => {
  it('accepts a well-formed MDM push with 200 and an apns-id', async () => {
    const res = await raw({});
    expect(res.status).toBe(200);
    expect(res.apnsId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('echoes a valid apns-id and refuses a malformed one', async () => {
    const id = '123e4567-e89b-12d3-a456-426614174000';
    expect(await raw({ headers: { 'apns-id': id } })).toMatchObject({ status: 200, apnsId: id });
    expect(await raw({ headers: { 'apns-id': 'nope' } })).toMatchObject({ status: 400, reason: 'BadMessageId' });
  });

  it('answers 403 BadCertificate without a client certificate', async () => {
    const before = sink.pushes.length;
    expect(await raw({ withClientCert: false })).toMatchObject({ status: 403, reason: 'BadCertificate' });
    expect(sink.pushes).toHaveLength(before);
  });

  it.each([
    ['a missing topic', { headers: { 'apns-topic': undefined } }, 400, 'MissingTopic'],
    ['a wrong push type', { headers: { 'apns-push-type': 'alert' } }, 400, 'InvalidPushType'],
    ['a bad priority', { headers: { 'apns-priority': '7' } }, 400, 'BadPriority'],
    ['a bad expiration', { headers: { 'apns-expiration': 'soon' } }, 400, 'BadExpirationDate'],
    ['a short token', { headers: { ':path': '/3/device/abcd' } }, 400, 'BadDeviceToken'],
    ['no token', { headers: { ':path': '/3/device/' } }, 400, 'MissingDeviceToken'],
    ['a wrong path', { headers: { ':path': '/2/device/' + 'ab'.repeat(32) } }, 404, 'BadPath'],
    ['a GET', { headers: { ':method': 'GET' }, body: '' }, 405, 'MethodNotAllowed'],
    ['an empty payload', { body: '' }, 400, 'PayloadEmpty'],
    ['an aps dictionary', { body: '{"aps":{"alert":"hi"},"mdm":"m"}' }, 400, 'BadPayload'],
    ['a non-string mdm', { body: '{"mdm":42}' }, 400, 'BadPayload'],
    ['an oversized payload', { body: `{"mdm":"${'x'.repeat(5000)}"}` }, 413, 'PayloadTooLarge'],
  ] as const)('refuses %s', async (_name, request, status, reason) => {
    expect(await raw(request as RawRequest)).toMatchObject({ status, reason });
  });

  it('lets a self-signed client certificate in when it is the trusted CA', async () => {
    const { createPushCert } = await import('./tls-fixtures.js');
    const selfSigned = createPushCert('self-signed');
    const own = await startApnsSink({ tls: pki.server, clientCaPem: selfSigned.certPem });
    const session = http2.connect(own.origin, { ca: pki.ca.certPem, cert: selfSigned.certPem, key: selfSigned.keyPem });
    try {
      const status = await new Promise<number>((resolve, reject) => {
        const req = session.request({ ':method': 'POST', ':path': `/3/device/${tokenHex}`, 'apns-topic': selfSigned.topic, 'apns-push-type': 'mdm' });
        req.on('response', (h) => resolve(Number(h[':status'])));
        req.on('error', reject);
        req.end('{"mdm":"self"}');
      });
      expect(status).toBe(200);
      expect((await own.waitFor(() => true)).topic).toBe(selfSigned.topic);
    } finally {
      session.close();
      await own.stop();
    }
  });

  it('waitFor rejects after its timeout', async () => {
    await expect(sink.waitFor(() => false, 50)).rejects.toThrow(/no matching APNs push/);
  });
});
