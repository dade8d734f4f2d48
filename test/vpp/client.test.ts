import http from 'node:http';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createVppClient, type VppClient } from '../../integrations/apple/vpp/client.js';
import { VppError } from '../../integrations/apple/vpp/errors.js';
import { parseContentToken } from '../../integrations/apple/vpp/token.js';
import { freePort } from '../../scripts/free-port.js';
import { listenOnLoopback } from '../../scripts/sandbox/listen.js';
import { startVppServer, type VppServer } from '../../scripts/sandbox/vpp-server.js';

const APP = '361309726';
const FAST = { pollMs: 10, timeoutMs: 5000 };

let server: VppServer;
let vpp: VppClient;

beforeEach(async () => {
  server = await startVppServer({ orgName: 'Acme Corp', assets: [{ adamId: APP, pricingParam: 'STDQ', totalCount: 3 }] });
  vpp = createVppClient({ baseUrl: server.baseUrl, sToken: server.sToken });
});

afterEach(async () => {
  await server?.stop();
});

async function rejection(promise: Promise<unknown>): Promise<VppError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(VppError);
  return err as VppError;
}

async function createUser(clientUserId: string, managedAppleId?: string) {
  const { eventId } = await vpp.createUsers([{ clientUserId, ...(managedAppleId ? { managedAppleId } : {}) }]);
  return vpp.waitForEvent(eventId, FAST);
}

async function available(adamId = APP) {
  const { assets } = await vpp.getAssets({ adamId });
  return assets[0];
}

describe('VPP client against the fake server', () => {
  it("reads the service config without the sToken and decodes the server's sToken", async () => {
    const config = await vpp.getServiceConfig();
    expect(config.limits).toMatchObject({ maxAssets: 25, maxUsers: 100, maxClientUserIds: 1000, maxSerialNumbers: 1000 });
    expect(config.notificationTypes).toContain('ASSET_MANAGEMENT');
    expect(config.urls.invitationEmail).toContain('%25inviteCode%25');
    const [request] = server.requests;
    expect(request).toMatchObject({ method: 'GET', path: '/mdm/v2/service/config', authorized: false });
    expect(request?.userAgent).toMatch(/^Tandem-VPP\//);
    expect(parseContentToken(server.sToken).orgName).toBe('Acme Corp');
  });

  it('claims the location with mdmInfo and reads it back; the notification token is not logged', async () => {
    const mdmInfo = { id: 'tandem-7f3a', name: 'Tandem', metadata: '0.1.0' };
    // The server sends its TEST_NOTIFICATION there, as Apple does, and needs a 2xx.
    const receiver = http.createServer((req, res) => req.resume().on('end', () => res.writeHead(200).end()));
    const notificationUrl = `http://127.0.0.1:${await listenOnLoopback(receiver)}/vpp/notify`;
    const updated = await vpp
      .updateClientConfig({ mdmInfo, notificationUrl, notificationAuthToken: 'notify-secret-123', notificationTypes: ['ASSET_MANAGEMENT', 'USER_MANAGEMENT'] })
      .finally(() => new Promise((r) => receiver.close(r)));
    expect(updated).toMatchObject({ mdmInfo, notificationUrl, subscribedNotificationTypes: ['ASSET_MANAGEMENT', 'USER_MANAGEMENT'] });
    const read = await vpp.getClientConfig();
    expect(read.mdmInfo).toEqual(mdmInfo);
    expect(read.tokenExpirationDate).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+0000$/);
    const post = server.requests.find((r) => r.method === 'POST' && r.path.endsWith('/client/config'));
    expect(post?.authorized).toBe(true);
    expect(JSON.stringify(server.requests)).not.toContain('notify-secret-123');
    expect(JSON.stringify(server.requests)).not.toContain(server.sToken);
  });

  it('refuses a plain-http notification URL with an Apple error', async () => {
    const err = await rejection(vpp.updateClientConfig({ notificationUrl: 'http://mdm.example.com/notify' }));
    expect(err).toMatchObject({ kind: 'rejected', status: 400, errorNumber: 9602 });
  });

  it('creates a user with managedAppleId: Associated at once, with an idHash and no invitation', async () => {
    const status = await createUser('usr_01', 'ada@acme.example');
    expect(status).toMatchObject({ eventStatus: 'COMPLETE', eventType: 'CREATE', numRequested: 1, numCompleted: 1 });
    const { users } = await vpp.getUsers({ clientUserId: 'usr_01' });
    expect(users).toHaveLength(1);
    expect(users[0]).toMatchObject({ clientUserId: 'usr_01', status: 'Associated' });
    expect(users[0]?.idHash).toMatch(/^[0-9a-f]{64}$/);
    expect(users[0]?.inviteCode).toBeUndefined();
  });

  it('creates a user without managedAppleId as Registered with an invite code', async () => {
    await createUser('usr_02');
    const { users } = await vpp.getUsers({ clientUserId: 'usr_02' });
    expect(users[0]).toMatchObject({ status: 'Registered' });
    expect(users[0]?.inviteCode).toBeTruthy();
    expect((await vpp.getUsers({ clientUserId: 'nobody' })).users).toEqual([]);
  });

  it('reports a second create of the same clientUserId as event failure 9716', async () => {
    await createUser('usr_03', 'bob@acme.example');
    const err = await rejection(createUser('usr_03', 'bob@acme.example'));
    expect(err).toMatchObject({ kind: 'rejected', errorNumber: 9716 });
    expect(err.failures?.[0]?.errorInfo?.clientUserIds).toEqual(['usr_03']);
  });

  it('associates a licence: PENDING first, then COMPLETE, and the counts move', async () => {
    await createUser('usr_10', 'carol@acme.example');
    expect(await available()).toMatchObject({ adamId: APP, pricingParam: 'STDQ', totalCount: 3, assignedCount: 0, availableCount: 3 });

    const { eventId } = await vpp.associateAssets(
      { assets: [{ adamId: APP, pricingParam: 'STDQ' }], clientUserIds: ['usr_10'] },
      { forUserEnrollment: true },
    );
    expect((await vpp.getEventStatus(eventId)).eventStatus).toBe('PENDING');
    const done = await vpp.waitForEvent(eventId, FAST);
    expect(done).toMatchObject({ eventId, eventStatus: 'COMPLETE', eventType: 'ASSOCIATE', numRequested: 1, numCompleted: 1 });
    expect(done.failures).toBeUndefined();

    expect(await available()).toMatchObject({ assignedCount: 1, availableCount: 2, totalCount: 3 });
    expect(server.licensesOf('usr_10')).toEqual([{ adamId: APP, pricingParam: 'STDQ' }]);
    expect(server.assignedCount(APP)).toBe(1);
    const body = server.requests.find((r) => r.path.endsWith('/assets/associate'))?.body;
    expect(body).toEqual({ assets: [{ adamId: APP, pricingParam: 'STDQ' }], clientUserIds: ['usr_10'] });
  });

  it('associating the same user twice uses one licence', async () => {
    await createUser('usr_11', 'dan@acme.example');
    const req = { assets: [{ adamId: APP, pricingParam: 'STDQ' as const }], clientUserIds: ['usr_11'] };
    await vpp.waitForEvent((await vpp.associateAssets(req)).eventId, FAST);
    await vpp.waitForEvent((await vpp.associateAssets(req)).eventId, FAST);
    expect(server.assignedCount(APP)).toBe(1);
  });

  it('surfaces 9709 (no licences left) as kind no_licenses, naming the users left without one', async () => {
    server.setLicenses(APP, 1);
    await createUser('usr_20', 'erin@acme.example');
    await createUser('usr_21', 'frank@acme.example');
    const { eventId } = await vpp.associateAssets({ assets: [{ adamId: APP, pricingParam: 'STDQ' }], clientUserIds: ['usr_20', 'usr_21'] });
    const err = await rejection(vpp.waitForEvent(eventId, FAST));
    expect(err).toMatchObject({ kind: 'no_licenses', errorNumber: 9709, eventId, retryable: false });
    expect(err.failures).toEqual([
      { errorNumber: 9709, errorMessage: expect.any(String), errorInfo: { assets: [{ adamId: APP, pricingParam: 'STDQ' }], clientUserIds: ['usr_21'] } },
    ]);
    const status = await vpp.getEventStatus(eventId);
    expect(status).toMatchObject({ eventStatus: 'FAILED', numRequested: 2, numCompleted: 1 });
    expect(server.licensesOf('usr_20')).toHaveLength(1);
    expect(server.licensesOf('usr_21')).toHaveLength(0);

    // a purchase: the same request now succeeds
    server.setLicenses(APP, 2);
    const retry = await vpp.associateAssets({ assets: [{ adamId: APP, pricingParam: 'STDQ' }], clientUserIds: ['usr_21'] });
    await vpp.waitForEvent(retry.eventId, FAST);
    expect(await available()).toMatchObject({ totalCount: 2, assignedCount: 2, availableCount: 0 });
  });

  it('reports an unknown user as 9609 in the event failures', async () => {
    const { eventId } = await vpp.associateAssets({ assets: [{ adamId: APP, pricingParam: 'STDQ' }], clientUserIds: ['ghost'] });
    const err = await rejection(vpp.waitForEvent(eventId, FAST));
    expect(err).toMatchObject({ kind: 'rejected', errorNumber: 9609 });
  });

  it('disassociate gives the licence back', async () => {
    await createUser('usr_30', 'gina@acme.example');
    const req = { assets: [{ adamId: APP, pricingParam: 'STDQ' as const }], clientUserIds: ['usr_30'] };
    await vpp.waitForEvent((await vpp.associateAssets(req, { forUserEnrollment: true })).eventId, FAST);
    expect(await available()).toMatchObject({ availableCount: 2, assignedCount: 1 });

    const { eventId } = await vpp.disassociateAssets(req, { forUserEnrollment: true });
    const done = await vpp.waitForEvent(eventId, FAST);
    expect(done).toMatchObject({ eventStatus: 'COMPLETE', eventType: 'DISASSOCIATE' });
    expect(await available()).toMatchObject({ availableCount: 3, assignedCount: 0 });
    expect(server.licensesOf('usr_30')).toEqual([]);

    // idempotent: releasing again is not an error
    await vpp.waitForEvent((await vpp.disassociateAssets(req)).eventId, FAST);
  });

  it('refuses serial numbers for a User Enrollment before sending anything', async () => {
    const before = server.requests.length;
    const req = { assets: [{ adamId: APP, pricingParam: 'STDQ' as const }], clientUserIds: ['usr_40'], serialNumbers: ['C02XK0AAJGH5'] };
    for (const call of [vpp.associateAssets(req, { forUserEnrollment: true }), vpp.disassociateAssets(req, { forUserEnrollment: true })]) {
      const err = await rejection(call);
      expect(err).toMatchObject({ kind: 'rejected', status: 0 });
      expect(err.message).toMatch(/User Enrollment/);
    }
    expect(server.requests).toHaveLength(before);
  });

  it('assigns by serial number outside User Enrollment (device-based licence)', async () => {
    const { eventId } = await vpp.associateAssets({ assets: [{ adamId: APP, pricingParam: 'STDQ' }], serialNumbers: ['C02XK0AAJGH5'] });
    await vpp.waitForEvent(eventId, FAST);
    expect(server.assignedCount(APP)).toBe(1);
  });

  it('answers 9719 when neither clientUserIds nor serialNumbers is given', async () => {
    const err = await rejection(vpp.associateAssets({ assets: [{ adamId: APP, pricingParam: 'STDQ' }] }));
    expect(err).toMatchObject({ kind: 'rejected', status: 400, errorNumber: 9719 });
  });

  it('answers 9708 for an unknown eventId, and waitForEvent stops at once', async () => {
    const err = await rejection(vpp.waitForEvent('no-such-event', FAST));
    expect(err).toMatchObject({ kind: 'rejected', status: 400, errorNumber: 9708 });
  });

  it('maps an expired token to token_invalid (9621), not retryable, and waitForEvent does not retry it', async () => {
    await createUser('usr_50', 'hal@acme.example');
    const { eventId } = await vpp.associateAssets({ assets: [{ adamId: APP, pricingParam: 'STDQ' }], clientUserIds: ['usr_50'] });
    server.expireToken();
    const before = server.requests.length;
    const err = await rejection(vpp.waitForEvent(eventId, FAST));
    expect(err).toMatchObject({ kind: 'token_invalid', status: 401, errorNumber: 9621, retryable: false });
    expect(server.requests.length - before).toBe(1);
    expect(err.message).not.toContain(server.sToken);
    // the service config needs no token and still answers
    await expect(vpp.getServiceConfig()).resolves.toBeDefined();
  });

  it('maps a revoked token (9625) and a wrong token (9622) to token_invalid', async () => {
    const wrong = createVppClient({ baseUrl: server.baseUrl, sToken: Buffer.from('{"token":"nope"}').toString('base64') });
    expect(await rejection(wrong.getAssets())).toMatchObject({ kind: 'token_invalid', status: 401, errorNumber: 9622 });
    server.revokeToken();
    expect(await rejection(vpp.getClientConfig())).toMatchObject({ kind: 'token_invalid', status: 401, errorNumber: 9625 });
  });

  it('maps 429 with Retry-After to rate_limited with retryAfterMs', async () => {
    server.rateLimitNext(7);
    const err = await rejection(vpp.getAssets());
    expect(err).toMatchObject({ kind: 'rate_limited', status: 429, errorNumber: 9646, retryAfterMs: 7000, retryable: true });
  });

  it('waitForEvent waits out a 429 for at least its Retry-After', async () => {
    await createUser('usr_60', 'ivy@acme.example');
    const { eventId } = await vpp.associateAssets({ assets: [{ adamId: APP, pricingParam: 'STDQ' }], clientUserIds: ['usr_60'] });
    server.rateLimitNext(1);
    const started = Date.now();
    const done = await vpp.waitForEvent(eventId, FAST);
    const waited = Date.now() - started;
    expect(done.eventStatus).toBe('COMPLETE');
    expect(waited).toBeGreaterThanOrEqual(1000);
    const statusCalls = server.requests.filter((r) => r.path.endsWith('/status') && r.query.eventId === eventId);
    expect(statusCalls[0]?.status).toBe(429);
    const gap = (statusCalls[1]?.at.getTime() ?? 0) - (statusCalls[0]?.at.getTime() ?? 0);
    expect(gap).toBeGreaterThanOrEqual(990); // timestamps are taken server-side, at millisecond resolution
  });

  it('maps 500 to retryable (9603) and 503 with an HTTP-date Retry-After', async () => {
    server.failNext(500);
    expect(await rejection(vpp.getAssets())).toMatchObject({ kind: 'retryable', status: 500, errorNumber: 9603, retryable: true });
    server.failNext(503, { retryAfter: new Date(Date.now() + 3000).toUTCString() });
    const err = await rejection(vpp.getUsers());
    expect(err).toMatchObject({ kind: 'retryable', status: 503, errorNumber: 9729 });
    expect(err.retryAfterMs).toBeGreaterThan(1000);
    expect(err.retryAfterMs).toBeLessThanOrEqual(3000);
  });

  it('maps 429 to rate_limited with its Retry-After, for Temporal to wait out', async () => {
    server.rateLimitNext(120);
    const err = await rejection(vpp.getAssets());
    expect(err).toMatchObject({ kind: 'rate_limited', retryAfterMs: 120_000, retryable: true });
  });

  it('waitForEvent times out on an event that stays PENDING, as retryable', async () => {
    server.setEventDelay({ polls: 1000 });
    const { eventId } = await vpp.createUsers([{ clientUserId: 'usr_71' }]);
    const err = await rejection(vpp.waitForEvent(eventId, { pollMs: 20, timeoutMs: 150 }));
    expect(err).toMatchObject({ kind: 'retryable', eventId });
    expect(err.message).toMatch(/still PENDING/);
  });

  it('waitForEvent stops when its signal aborts', async () => {
    server.setEventDelay({ polls: 1000 });
    const { eventId } = await vpp.createUsers([{ clientUserId: 'usr_80' }]);
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('cancelled')), 50);
    await expect(vpp.waitForEvent(eventId, { pollMs: 10, timeoutMs: 5000, signal: controller.signal })).rejects.toThrow('cancelled');
  });

  it('reports an unreachable service as retryable with status 0', async () => {
    const dead = createVppClient({ baseUrl: `http://127.0.0.1:${await freePort()}/mdm/v2`, sToken: server.sToken, requestTimeoutMs: 2000 });
    const err = await rejection(dead.getAssets());
    expect(err).toMatchObject({ kind: 'retryable', status: 0, retryable: true });
    expect(err.message).not.toContain(server.sToken);
  });

  it('treats an errorNumber in a 200 answer as an error', async () => {
    server.failNext(200, { errorNumber: 9709 });
    const err = await rejection(vpp.getAssets());
    expect(err).toMatchObject({ kind: 'no_licenses', status: 200, errorNumber: 9709 });
  });
});
