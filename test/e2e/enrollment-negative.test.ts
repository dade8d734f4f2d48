/**
 * What must fail, and how: lockout after wrong passwords, expired and cancelled invites, resent
 * credentials, spent or forged download links, forged signatures, identifiers a user-enrolled
 * device must never have stored, malformed and oversized device bodies, missing prerequisites.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCertificateAuthority, issueCertificate } from '../../mdm/certificates.js';
import { signMdmMessage } from '../../mdm/mdm-signature.js';
import { parseInvite, PortalError, SimulatedDevice } from '../../scripts/simulator/device.js';
import { eventually, startTestStack, type TestStack } from '../support/stack.js';

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack({ PORTAL_MAX_ATTEMPTS: '3', PORTAL_LOCKOUT: '10m' });
});
afterAll(() => stack?.stop({ noFailedWorkflows: true }));

const json = async (res: Response): Promise<any> => res.json();
const tag = () => Math.random().toString(36).slice(2, 8);

async function invited(overrides: Record<string, unknown> = {}) {
  const email = `user.${tag()}@example.com`;
  const res = await stack.admin('/api/v1/enrollments', {
    method: 'POST',
    body: JSON.stringify({ user: { name: 'Test User', email }, channel: 'email', ownership: 'personal', authMode: 'authenticated', managedAppleId: `m.${tag()}@acme.example`, ...overrides }),
  });
  expect(res.status).toBe(201);
  const created = await json(res);
  const mail = await stack.smtp.waitFor((m) => m.to.includes(email), 15_000);
  return { created, email, invite: parseInvite(mail.text) };
}

async function enrolledDevice(opts: ConstructorParameters<typeof SimulatedDevice>[0] = {}) {
  const { created, invite } = await invited();
  const device = new SimulatedDevice(opts);
  device.installProfile(await device.enrollThroughPortal(invite.enrollmentUrl, { username: invite.username, password: invite.password! }));
  await device.authenticate();
  await device.tokenUpdate();
  await eventually(async () => ((await json(await stack.admin(`/api/v1/enrollments/${created.id}`))).status === 'enrolled' ? true : undefined));
  // Like an iPhone, poll once the push arrives (the first queries are queued by then).
  await stack.apns.waitFor((p) => p.token === device.pushToken.toString('hex'), 15_000);
  return { created, device };
}

describe('portal sign-in', () => {
  it('locks the invite after too many wrong passwords, even for the right one', async () => {
    const { invite } = await invited();
    const device = new SimulatedDevice();
    const signIn = `${invite.enrollmentUrl}/sign-in`;
    for (let i = 1; i <= 2; i++) {
      const page = await device.submit(signIn, { username: invite.username, password: 'WRONGPASS1' });
      expect(page.status).toBe(400);
      expect(page.body.toString()).toContain('The username or password is incorrect.');
    }
    const locked = await device.submit(signIn, { username: invite.username, password: 'WRONGPASS1' });
    expect(locked.status).toBe(423);
    expect(locked.body.toString()).toContain('Too many failed attempts');
    const stillLocked = await device.submit(signIn, { username: invite.username, password: invite.password! });
    expect(stillLocked.status).toBe(423);
  });

  it('refuses the old password after a resend and accepts the new one', async () => {
    const { created, email, invite } = await invited();
    const resend = await stack.admin(`/api/v1/enrollments/${created.id}/resend`, { method: 'POST' });
    expect(resend.status).toBe(202);
    const second = await stack.smtp.waitFor((m) => m.to.includes(email) && !m.text.includes(invite.password!), 15_000);
    const fresh = parseInvite(second.text);
    expect(fresh.password).not.toBe(invite.password);
    await expect(new SimulatedDevice().enrollThroughPortal(invite.enrollmentUrl, { username: invite.username, password: invite.password! })).rejects.toThrow(/incorrect/);
    const der = await new SimulatedDevice().enrollThroughPortal(fresh.enrollmentUrl, { username: fresh.username, password: fresh.password! });
    expect(der.length).toBeGreaterThan(1000);
  });

  it('closes a cancelled invite, and refuses to cancel an enrolled one', async () => {
    const { created, invite } = await invited();
    const cancel = await stack.admin(`/api/v1/enrollments/${created.id}`, { method: 'DELETE' });
    expect(cancel.status).toBe(202);
    const page = await new SimulatedDevice().browse(invite.enrollmentUrl);
    expect(page.status).toBe(410);
    await eventually(async () => ((await json(await stack.admin(`/api/v1/enrollments/${created.id}`))).status === 'cancelled' ? true : undefined));
    const again = await stack.admin(`/api/v1/enrollments/${created.id}/resend`, { method: 'POST' });
    expect(again.status).toBe(409);
    expect((await json(again)).error.code).toBe('already_finished');

    const { created: enrolled } = await enrolledDevice();
    const refused = await stack.admin(`/api/v1/enrollments/${enrolled.id}`, { method: 'DELETE' });
    expect(refused.status).toBe(409);
    expect((await json(refused)).error.code).toBe('already_enrolled');
  });

  it('sends iOS 18 users to account-driven enrollment and desktop-mode Safari to an explanation', async () => {
    const { invite } = await invited();
    const modern = new SimulatedDevice({ osVersion: '18.1' });
    await expect(modern.enrollThroughPortal(invite.enrollmentUrl, { username: invite.username, password: invite.password! })).rejects.toThrow(
      /Sign In to Work or School Account/,
    );
    const desktop = new SimulatedDevice({ desktopMode: true });
    await expect(desktop.enrollThroughPortal(invite.enrollmentUrl, { username: invite.username, password: invite.password! })).rejects.toThrow(/Desktop Website mode/);
  });
});

describe('profile download links', () => {
  it('work once, and only for their own enrollment', async () => {
    const { invite } = await invited();
    const device = new SimulatedDevice();
    await device.submit(invite.enrollmentUrl, { accept: 'yes' });
    await device.submit(`${invite.enrollmentUrl}/sign-in`, { username: invite.username, password: invite.password! });
    const page = await device.browse(`${invite.enrollmentUrl}/download`);
    const href = /href="([^"]*\/profile\/[^"]+)"/.exec(page.body.toString())![1]!;
    const link = new URL(href, invite.enrollmentUrl).href;
    const first = await device.browse(link);
    expect(first.type).toBe('application/x-apple-aspen-config');
    const reused = await device.browse(link);
    expect(reused.status).toBe(410);
    const forged = await device.browse(link.replace(/profile\/.+$/, 'profile/forged-token-forged-token-forged'));
    expect(forged.status).toBe(410);

    // Another enrollment's session cannot use this enrollment's link.
    const other = await invited();
    const stranger = new SimulatedDevice();
    await stranger.submit(other.invite.enrollmentUrl, { accept: 'yes' });
    await stranger.submit(`${other.invite.enrollmentUrl}/sign-in`, { username: other.invite.username, password: other.invite.password! });
    const foreign = await stranger.browse(link);
    expect(foreign.type).not.toBe('application/x-apple-aspen-config');
  });
});

describe('MDM endpoints', () => {
  it('answers a forged identity with 403 com.apple.unrecognized.device and a tampered body with 400', async () => {
    const { device } = await enrolledDevice();
    const rogueCa = createCertificateAuthority({ commonName: 'Rogue', organization: 'Rogue' });
    const rogue = issueCertificate(rogueCa, { commonName: 'rogue device', validDays: 1, usage: 'device-identity' });
    const forged = await device.checkIn({ MessageType: 'TokenUpdate', Token: Buffer.alloc(32), PushMagic: 'x' }, { signWith: rogue });
    expect(forged.status).toBe(403);
    expect(JSON.parse(forged.body.toString())).toMatchObject({ code: 'com.apple.unrecognized.device' });

    const tampered = await device.checkIn({ MessageType: 'TokenUpdate', Token: Buffer.alloc(32), PushMagic: 'x' }, { tamper: true });
    expect(tampered.status).toBe(400);
    expect(JSON.parse(tampered.body.toString()).error.code).toBe('signature_invalid');

    const unsigned = await fetch(device.installed!.checkInUrl, { method: 'PUT', headers: { 'content-type': 'application/x-apple-aspen-mdm-checkin' }, body: '<plist/>' });
    expect(unsigned.status).toBe(400);
    expect((await json(unsigned)).error.code).toBe('signature_missing');
  });

  it('never stores or returns identifiers a user-enrolled device volunteers', async () => {
    const { created, device } = await enrolledDevice({ leakHardwareIds: true });
    await device.processCommands();
    const detail = await eventually(async () => {
      const d = await json(await stack.admin(`/api/v1/enrollments/${created.id}`));
      return d.device?.facts?.deviceInformation ? d : undefined;
    });
    const text = JSON.stringify(detail);
    for (const value of [device.hardware.serialNumber, device.hardware.udid, device.hardware.imei, device.hardware.meid]) expect(text).not.toContain(value);
    expect(detail.device).not.toHaveProperty('hardware');
    const hw = await stack.database.db.selectFrom('device_hardware_ids').selectAll().execute();
    expect(JSON.stringify(hw)).not.toContain(device.hardware.serialNumber);
    const results = await stack.database.db.selectFrom('command_queue').select('result').execute();
    expect(JSON.stringify(results)).not.toContain(device.hardware.serialNumber);
  });

  it('rejects malformed plists (400) and oversized bodies (413) without losing state', async () => {
    const { created, device } = await enrolledDevice();
    const identity = device.installed!.identity;
    const put = (body: Buffer, type = 'application/x-apple-aspen-mdm-checkin') =>
      fetch(device.installed!.checkInUrl, { method: 'PUT', headers: { 'content-type': type, 'mdm-signature': signMdmMessage(body, identity) }, body });
    const malformed = await put(Buffer.from('<?xml version="1.0"?><plist><dict><key>MessageType</key>'));
    expect(malformed.status).toBe(400);
    expect((await json(malformed)).error.code).toBe('malformed_plist');
    const entity = await put(Buffer.from('<?xml version="1.0"?><!DOCTYPE plist [<!ENTITY a "aaaa">]><plist><dict><key>MessageType</key><string>&a;</string></dict></plist>'));
    expect(entity.status).toBe(400);
    const huge = await put(Buffer.alloc(200 * 1024, 'a'));
    expect(huge.status).toBe(413);
    const wrongType = await put(Buffer.from('<plist/>'), 'text/plain');
    expect(wrongType.status).toBe(415);
    expect((await json(await stack.admin(`/api/v1/enrollments/${created.id}`))).status).toBe('enrolled');
    // The device still works afterwards.
    expect((await device.processCommands()).length).toBe(2);
  });

  it('marks a device whose push token APNs no longer knows (410) as unreachable', async () => {
    stack.apns.respondNext(410, { reason: 'Unregistered', timestamp: Date.now() });
    const { created } = await enrolledDevice();
    const detail = await eventually(async () => {
      const d = await json(await stack.admin(`/api/v1/enrollments/${created.id}`));
      return d.device?.pushUnregisteredAt && d.status === 'inactive' ? d : undefined;
    });
    expect(detail.timeline.at(-1).reason).toContain('410');
  });

  it('never answers a device with 401', async () => {
    const { device } = await enrolledDevice();
    const bad = await fetch(device.installed!.serverUrl, { method: 'PUT', headers: { 'content-type': 'application/x-apple-aspen-mdm' }, body: 'garbage' });
    expect(bad.status).not.toBe(401);
    expect(bad.status).toBe(400);
  });
});

describe('prerequisites', () => {
  it('requires a Managed Apple ID for User Enrollment', async () => {
    const res = await stack.admin('/api/v1/enrollments', {
      method: 'POST',
      body: JSON.stringify({ user: { name: 'No Apple ID', email: `n.${tag()}@example.com` }, channel: 'email', ownership: 'personal', authMode: 'open' }),
    });
    expect(res.status).toBe(409);
    expect((await json(res)).error.code).toBe('managed_apple_id_required');
  });

  it('rejects a push certificate that is not Apple MDM, or whose key does not match', async () => {
    const ca = createCertificateAuthority({ commonName: 'Not Apple', organization: 'X' });
    const plain = issueCertificate(ca, { commonName: 'plain', validDays: 1, usage: 'tls-server' });
    const put = (body: unknown) => stack.admin('/api/v1/settings/apns', { method: 'PUT', body: JSON.stringify(body) });
    const notMdm = await put({ certificate: plain.certPem, privateKey: plain.keyPem });
    expect(notMdm.status).toBe(422);
    expect((await json(notMdm)).error.code).toBe('not_an_mdm_push_certificate');
    const mismatch = await put({ certificate: stack.pushCertificate.certPem, privateKey: plain.keyPem });
    expect(mismatch.status).toBe(422);
    expect((await json(mismatch)).error.code).toBe('key_mismatch');
    const shown = await json(await stack.admin('/api/v1/settings/apns'));
    expect(shown.topic).toMatch(/^com\.apple\.mgmt\.External\./);
    expect(shown.expiresInDays).toBeGreaterThan(0);
  });
});

describe('expired invites', () => {
  it('stop working when the invite lifetime passes', async () => {
    const short = await startTestStack({ TANDEM_INVITE_TTL: '4s', TANDEM_INVITE_REMINDERS: '1s' });
    try {
      const email = `late.${tag()}@example.com`;
      const res = await short.admin('/api/v1/enrollments', {
        method: 'POST',
        body: JSON.stringify({ user: { name: 'Late User', email }, channel: 'email', ownership: 'corporate', authMode: 'authenticated' }),
      });
      const created = await json(res);
      const invite = parseInvite((await short.smtp.waitFor((m) => m.to.includes(email), 15_000)).text);
      // A reminder follows while nobody signs in, with the same credentials.
      const reminder = await short.smtp.waitFor((m) => m.to.includes(email) && m.messageId.includes('.deliver.2@'), 15_000);
      expect(parseInvite(reminder.text)).toEqual(invite);
      await eventually(async () => ((await json(await short.admin(`/api/v1/enrollments/${created.id}`))).status === 'expired' ? true : undefined), { timeoutMs: 20_000 });
      const err = await new SimulatedDevice().enrollThroughPortal(invite.enrollmentUrl, { username: invite.username, password: invite.password! }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PortalError);
      expect((err as PortalError).status).toBe(410);
      expect((err as PortalError).message).toContain('This invitation has expired.');
    } finally {
      await short.stop();
    }
  });
});
