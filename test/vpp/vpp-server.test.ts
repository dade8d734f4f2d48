import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listenOnLoopback } from '../../scripts/sandbox/listen.js';
import { startVppServer, type VppServer } from '../../scripts/sandbox/vpp-server.js';

let server: VppServer;

beforeAll(async () => {
  server = await startVppServer({
    pageSize: 2,
    assets: [
      { adamId: '100', pricingParam: 'STDQ', totalCount: 5 },
      { adamId: '200', pricingParam: 'STDQ', totalCount: 5, deviceAssignable: false },
      { adamId: '300', pricingParam: 'PLUS', totalCount: 2_147_483_647 },
    ],
  });
});

afterAll(async () => {
  await server?.stop();
});

const auth = () => ({ authorization: `Bearer ${server.sToken}` });
const get = (path: string, headers: Record<string, string> = auth()) => fetch(`${server.baseUrl}/${path}`, { headers });
const post = (path: string, body: unknown, headers: Record<string, string> = { ...auth(), 'content-type': 'application/json' }) =>
  fetch(`${server.baseUrl}/${path}`, { method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body) });

describe('fake VPP server', () => {
  it('listens on loopback under /mdm/v2', () => {
    expect(server.baseUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/mdm\/v2$/);
  });

  it('answers a missing or malformed Authorization header with 401 / 9722', async () => {
    const variants: Record<string, string>[] = [{}, { authorization: server.sToken }, { authorization: `Basic ${server.sToken}` }];
    for (const headers of variants) {
      const res = await get('assets', headers);
      expect(res.status).toBe(401);
      expect(await res.json()).toMatchObject({ errorNumber: 9722, errorMessage: expect.any(String) });
    }
    expect(server.requests.every((r) => !JSON.stringify(r).includes(server.sToken))).toBe(true);
  });

  it("answers Apple's errors for method, content type, JSON and size", async () => {
    const wrongMethod = await fetch(`${server.baseUrl}/assets`, { method: 'DELETE', headers: auth() });
    expect(wrongMethod.status).toBe(405);
    expect(await wrongMethod.json()).toMatchObject({ errorNumber: 9726 });

    const wrongType = await post('users/create', '{}', { ...auth(), 'content-type': 'text/plain' });
    expect(wrongType.status).toBe(415);
    expect(await wrongType.json()).toMatchObject({ errorNumber: 9727 });

    const notJson = await post('users/create', '{not json');
    expect(notJson.status).toBe(400);
    expect(await notJson.json()).toMatchObject({ errorNumber: 9602 });

    const huge = await post('users/create', JSON.stringify({ users: [], pad: 'x'.repeat(300 * 1024) }));
    expect(huge.status).toBe(413);

    const unknown = await get('subscriptions');
    expect(unknown.status).toBe(404);
  });

  it('validates users/create like Apple (9720, 9714, 9715, 9717)', async () => {
    const cases: [unknown, number][] = [
      [{ users: [] }, 9720],
      [{ users: Array.from({ length: 101 }, (_, i) => ({ clientUserId: `bulk-${i}` })) }, 9714],
      [{ users: [{ clientUserId: 'd' }, { clientUserId: 'd' }] }, 9715],
      [{ users: [{ clientUserId: 'e', email: 'not-an-email' }] }, 9717],
    ];
    for (const [body, errorNumber] of cases) {
      const res = await post('users/create', body);
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ errorNumber });
    }
  });

  it('refuses serial numbers for an asset that is not device-assignable (9707), and unknown assets', async () => {
    const res = await post('assets/associate', { assets: [{ adamId: '200', pricingParam: 'STDQ' }], serialNumbers: ['SER1'] });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ errorNumber: 9707, errorInfo: { assets: [{ adamId: '200', pricingParam: 'STDQ' }] } });
    const unknown = await post('assets/associate', { assets: [{ adamId: '999' }], clientUserIds: ['x'] });
    expect(unknown.status).toBe(400);
    expect(await unknown.json()).toMatchObject({ errorNumber: 9602 });
  });

  it('pages /assets and reports free unlimited assets with totalCount 2147483647', async () => {
    const first = (await (await get('assets')).json()) as Record<string, unknown>;
    expect(first).toMatchObject({ currentPageIndex: 0, nextPageIndex: 1, totalPages: 2, size: 2, versionId: expect.any(String), uId: expect.any(String) });
    const second = (await (await get('assets?pageIndex=1')).json()) as { assets: Record<string, unknown>[]; nextPageIndex?: number };
    expect(second.nextPageIndex).toBeUndefined();
    expect(second.assets).toEqual([
      expect.objectContaining({ adamId: '300', pricingParam: 'PLUS', productType: 'App', totalCount: 2_147_483_647, availableCount: 2_147_483_647 }),
    ]);
  });

  it('completes events after the configured polls and age; settleEvents forces them', async () => {
    server.setEventDelay({ polls: 0, ms: 200 });
    const created = (await (await post('users/create', { users: [{ clientUserId: 'srv-1', managedAppleId: 'srv1@acme.example' }] })).json()) as {
      eventId: string;
      uId: string;
      tokenExpirationDate: string;
    };
    expect(created).toMatchObject({ eventId: expect.any(String), uId: expect.any(String), tokenExpirationDate: expect.stringMatching(/\+0000$/) });
    const poll = async () => ((await (await get(`status?eventId=${created.eventId}`)).json()) as { eventStatus: string }).eventStatus;
    expect(await poll()).toBe('PENDING');
    expect(server.user('srv-1')).toBeUndefined();
    await new Promise((r) => setTimeout(r, 220));
    expect(await poll()).toBe('COMPLETE');
    expect(server.user('srv-1')).toMatchObject({ status: 'Associated', managedAppleId: 'srv1@acme.example' });

    server.setEventDelay({ polls: 50, ms: 0 });
    const next = (await (await post('users/create', { users: [{ clientUserId: 'srv-2' }] })).json()) as { eventId: string };
    server.settleEvents();
    expect(server.user('srv-2')).toMatchObject({ status: 'Registered' });
    const status = (await (await get(`status?eventId=${next.eventId}`)).json()) as Record<string, unknown>;
    expect(status).toMatchObject({ eventStatus: 'COMPLETE', eventType: 'CREATE', numRequested: 1, numCompleted: 1 });
    server.setEventDelay({ polls: 1, ms: 0 });
  });

  it('does not echo managedAppleId on /users (unverified for Apple)', async () => {
    const body = (await (await get('users?clientUserId=srv-1')).json()) as { users: Record<string, unknown>[] };
    expect(body.users[0]).toMatchObject({ clientUserId: 'srv-1', status: 'Associated' });
    expect(body.users[0]).not.toHaveProperty('managedAppleId');
  });

  it('logs requests without credentials and can wait for one', async () => {
    await post('client/config', { notificationAuthToken: 'hush-hush', mdmInfo: { id: 'a', name: 'b' } });
    const entry = await server.waitForRequest((r) => r.method === 'POST' && r.path === '/mdm/v2/client/config');
    expect(entry.body).toEqual({ notificationAuthToken: '[redacted]', mdmInfo: { id: 'a', name: 'b' } });
    expect(entry).toMatchObject({ authorized: true, status: 200 });
  });

  it('rate-limits and fails the next request once, then answers normally', async () => {
    server.rateLimitNext(2);
    const limited = await get('assets');
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('2');
    expect(await limited.json()).toMatchObject({ errorNumber: 9646 });
    server.failNext(502, { retryAfter: 3 });
    const failed = await get('assets');
    expect(failed.status).toBe(502);
    expect(failed.headers.get('retry-after')).toBe('3');
    expect((await get('assets')).status).toBe(200);
  });

  it("sends Apple's TEST_NOTIFICATION with the new token during client/config, and keeps the config only on a 2xx", async () => {
    const received: { authorization?: string; body: Record<string, unknown> }[] = [];
    let answer = 200;
    const receiver = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push({ ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}), body: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
        res.writeHead(answer).end();
      });
    });
    const port = await listenOnLoopback(receiver);
    try {
      const url = `http://127.0.0.1:${port}/vpp/notifications`;
      const ok = await post('client/config', { notificationUrl: url, notificationAuthToken: 'first-token' });
      expect(ok.status).toBe(200);
      expect(received).toEqual([{ authorization: 'Bearer first-token', body: { notification: {}, notificationId: expect.any(String), notificationType: 'TEST_NOTIFICATION', uId: expect.any(String) } }]);

      answer = 403; // e.g. an MDM that does not know the new token yet
      const refused = await post('client/config', { notificationUrl: `${url}?v=2`, notificationAuthToken: 'second-token' });
      expect(refused.status).toBe(400);
      expect(await refused.json()).toMatchObject({ errorNumber: 9728 });
      expect(received[1]?.authorization).toBe('Bearer second-token');
      expect(await (await get('client/config')).json()).toMatchObject({ notificationUrl: url, notificationAuthToken: 'first-token' });
      expect(server.testNotifications.slice(-2).map((n) => n.status)).toEqual([200, 403]);

      // Never off the machine: any other host is refused without a request.
      const sent = received.length;
      const remote = await post('client/config', { notificationUrl: 'https://mdm.example.com/notify' });
      expect(remote.status).toBe(400);
      expect(await remote.json()).toMatchObject({ errorNumber: 9728 });
      expect(received).toHaveLength(sent);
    } finally {
      receiver.closeAllConnections();
      await new Promise((r) => receiver.close(r));
    }
  });

  it("installs a user licence only through an associated Apple Account, a device licence only on its serial number", async () => {
    const create = async (users: unknown[]) => ((await (await post('users/create', { users })).json()) as { eventId: string }).eventId;
    const associate = async (body: Record<string, unknown>) => {
      const res = await post('assets/associate', { assets: [{ adamId: '100', pricingParam: 'STDQ' }], ...body });
      expect(res.status).toBe(200);
    };
    await create([{ clientUserId: 'inst-registered' }, { clientUserId: 'inst-associated', managedAppleId: 'inst@acme.example' }]);
    server.settleEvents();
    expect(server.user('inst-registered')).toMatchObject({ status: 'Registered' });
    await associate({ clientUserIds: ['inst-registered', 'inst-associated'] });
    await associate({ serialNumbers: ['F0DEVICE01'] });
    server.settleEvents();

    // The Registered user's licence is assigned, yet no device can use it: Apple's 9619.
    expect(server.installCheck('100', {})).toEqual({ installable: false, errorNumber: 9619, errorMessage: 'License not associated.' });
    expect(server.installCheck('100', { serialNumber: 'F0OTHER' })).toMatchObject({ installable: false, errorNumber: 9619 });
    expect(server.installCheck('100', { managedAppleId: 'INST@acme.example' })).toEqual({ installable: true, licence: 'user' });
    expect(server.installCheck('100', { serialNumber: 'F0DEVICE01' })).toEqual({ installable: true, licence: 'device' });
    // Associated, but this app was never licensed to the user.
    expect(server.installCheck('300', { managedAppleId: 'inst@acme.example' })).toEqual({ installable: false, errorNumber: 9610, errorMessage: 'License not found.' });
  });
});
