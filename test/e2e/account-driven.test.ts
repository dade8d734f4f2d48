/**
 * Account-driven User Enrollment, end to end with the simulator: discovery -> POST -> 401
 * apple-as-web -> web sign-in -> 308 with the token -> POST with the bearer -> profile
 * (EnrollmentMode BYOD, AssignedManagedAppleID, never AccessRights) -> check-ins with bearer and
 * Mdm-Signature -> enrolled. With and without an invite, and what must be refused.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashApiToken } from '../../security/api-tokens.js';
import { AccountEnrollmentError, parseInvite, SimulatedDevice } from '../../scripts/simulator/device.js';
import { EnrollmentStatusKey } from '../../workflows/search-attributes.js';
import { keepHistory } from '../support/history-fixtures.js';
import { eventually, startTestStack, type TestStack } from '../support/stack.js';

let stack: TestStack;
const json = async (res: Response): Promise<any> => res.json();
const tag = () => Math.random().toString(36).slice(2, 8);

beforeAll(async () => {
  // One proxy hop: X-Forwarded-For stands for the client addresses of different people.
  stack = await startTestStack({ TRUST_PROXY: '1' });
  const domains = await stack.admin('/api/v1/settings/domains', { method: 'PUT', body: JSON.stringify({ domains: ['acme.example', 'Corp.Acme.Example'] }) });
  expect(await json(domains)).toEqual({ domains: ['acme.example', 'corp.acme.example'], deviceEnrollment: false });
});
afterAll(() => stack?.stop({ noFailedWorkflows: true }));

async function importUser(password?: string) {
  const managedAppleId = `dev.${tag()}@acme.example`;
  const email = `${tag()}@personal.example`;
  const res = await stack.admin('/api/v1/users', {
    method: 'POST',
    body: JSON.stringify({ users: [{ name: 'Directory User', email, managedAppleId, ...(password ? { password } : {}) }] }),
  });
  expect(res.status).toBe(200);
  return { managedAppleId, email, id: (await json(res)).ids[0] as string };
}

/** A web sign-in from the client address `from` (through the proxy), not following the redirect. */
const signIn = (username: string, password: string, from: string) =>
  fetch(`${stack.baseUrl}/account-enrollment/sign-in`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin: stack.baseUrl, 'x-forwarded-for': from },
    body: new URLSearchParams({ username, password }).toString(),
  });

const address = () => `198.51.100.${1 + Math.floor(Math.random() * 250)}`;

async function enrollmentsOf(managedAppleId: string) {
  const page = await json(await stack.admin('/api/v1/enrollments?limit=200'));
  return page.items.filter((e: any) => e.user.managedAppleId === managedAppleId);
}

async function finish(device: SimulatedDevice, enrollmentId: string) {
  const installed = device.installProfile(device.lastProfile!);
  const mdm = (installed.profile.PayloadContent as any[]).find((p) => p.PayloadType === 'com.apple.mdm');
  expect(mdm.EnrollmentMode).toBe('BYOD');
  expect(mdm).not.toHaveProperty('AccessRights');
  expect(mdm).not.toHaveProperty('ManagedAppleID');
  await device.authenticate();
  await device.tokenUpdate();
  const detail = await eventually(async () => {
    const d = await json(await stack.admin(`/api/v1/enrollments/${enrollmentId}`));
    return d.status === 'enrolled' ? d : undefined;
  });
  await stack.apns.waitFor((p) => p.token === device.pushToken.toString('hex'), 15_000);
  expect((await device.processCommands()).map((c) => c.Command.RequestType)).toEqual(['SecurityInfo', 'DeviceInformation']);
  const described = await stack.client.workflow.getHandle(detail.workflowId).describe();
  expect(described.typedSearchAttributes.get(EnrollmentStatusKey)).toBe('enrolled');
  return { detail, mdm };
}

describe('account-driven enrollment', () => {
  it('enrolls a directory user with no invite (signal-with-start)', async () => {
    const user = await importUser('correct horse battery');
    const device = new SimulatedDevice({ osVersion: '18.2' });
    await device.enrollAccountDriven(stack.baseUrl, user.managedAppleId, 'correct horse battery');
    const [enrollment] = await enrollmentsOf(user.managedAppleId);
    expect(enrollment).toMatchObject({ channel: 'account', enrollmentType: 'user', ownership: 'personal' });
    const { detail, mdm } = await finish(device, enrollment.id);
    expect(mdm.AssignedManagedAppleID).toBe(user.managedAppleId);
    expect(detail.timeline.map((t: any) => t.to)).toEqual(['portal_authenticated', 'profile_issued', 'authenticated', 'enrolled']);
    // No invite was ever sent for it.
    expect(stack.smtp.messages.some((m) => m.text.includes(enrollment.id))).toBe(false);
    await keepHistory(stack.client, detail.workflowId, 'lifecycle-account-driven');
  });

  it('continues an invited enrollment with the invite password', async () => {
    const email = `invited.${tag()}@example.com`;
    const managedAppleId = `invited.${tag()}@acme.example`;
    const res = await stack.admin('/api/v1/enrollments', {
      method: 'POST',
      body: JSON.stringify({ user: { name: 'Invited User', email }, channel: 'email', ownership: 'personal', authMode: 'authenticated', managedAppleId }),
    });
    const created = await json(res);
    const mail = await stack.smtp.waitFor((m) => m.to.includes(email), 15_000);
    expect(mail.text).toContain('Sign In to Work or School Account'); // the invite explains both paths
    const invite = parseInvite(mail.text);
    const device = new SimulatedDevice({ osVersion: '18.1' });
    await device.enrollAccountDriven(stack.baseUrl, managedAppleId, invite.password!);
    const { detail } = await finish(device, created.id);
    expect(detail.timeline.map((t: any) => t.to)).toEqual(['invited', 'portal_authenticated', 'profile_issued', 'authenticated', 'enrolled']);
  });

  it('asks for a secret even when the invite is open: knowing the address is not enough', async () => {
    const email = `open.${tag()}@example.com`;
    const managedAppleId = `open.${tag()}@acme.example`;
    const res = await stack.admin('/api/v1/enrollments', {
      method: 'POST',
      body: JSON.stringify({ user: { name: 'Open User', email }, channel: 'email', ownership: 'personal', authMode: 'open', managedAppleId }),
    });
    expect(res.status).toBe(201);
    const created = await json(res);
    await stack.smtp.waitFor((m) => m.to.includes(email), 15_000);
    for (const password of ['anything', 'not the password at all']) {
      const signIn = await fetch(`${stack.baseUrl}/account-enrollment/sign-in`, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded', origin: stack.baseUrl },
        body: new URLSearchParams({ username: managedAppleId, password }).toString(),
      });
      expect(signIn.status).toBe(400);
      expect(signIn.headers.get('location')).toBeNull();
      expect(await signIn.text()).toContain('The account or password is incorrect.');
    }
    const tokens = await stack.database.db.selectFrom('account_tokens').select('id').where('enrollment_id', '=', created.id).execute();
    expect(tokens).toEqual([]);
    expect(['created', 'invited']).toContain((await json(await stack.admin(`/api/v1/enrollments/${created.id}`))).status);
  });

  it('answers every address of a managed domain alike at discovery, and refuses other domains', async () => {
    const discover = (identifier: string) => fetch(`${stack.baseUrl}/.well-known/com.apple.remotemanagement?user-identifier=${encodeURIComponent(identifier)}&model-family=iPhone`);
    for (const identifier of ['someone@elsewhere.example', 'not-an-account']) {
      const res = await discover(identifier);
      expect(res.status).toBe(403);
      expect(res.headers.get('content-type')).toContain('application/json');
      const body = await json(res);
      expect(body).toMatchObject({ code: 'com.apple.well-known.failed' });
      expect(body.message).toEqual(expect.any(String));
    }
    // Who is in the directory is not discovery's to say: a stranger and a user get the same answer.
    const user = await importUser();
    const answers = [];
    for (const identifier of [user.managedAppleId, `nobody.${tag()}@acme.example`, `someone.${tag()}@corp.acme.example`]) {
      const res = await discover(identifier);
      answers.push({ status: res.status, body: await res.text() });
    }
    expect(answers[0]!.status).toBe(200);
    expect(JSON.parse(answers[0]!.body)).toEqual({ Servers: [{ Version: 'mdm-byod', BaseURL: `${stack.baseUrl}/account-enrollment` }] });
    expect(answers[1]).toEqual(answers[0]);
    expect(answers[2]).toEqual(answers[0]);
  });

  it('fails the sign-in of an address nobody has exactly like a wrong password, lockout included', async () => {
    const user = await importUser('the right password');
    const stranger = `nobody.${tag()}@acme.example`;
    const from = address();
    const answers: Record<string, { status: number; page: string }[]> = { known: [], unknown: [] };
    for (let i = 0; i < 6; i++) {
      for (const [who, identifier] of [['known', user.managedAppleId], ['unknown', stranger]] as const) {
        const res = await signIn(identifier, `guess ${i}`, from);
        expect(res.headers.get('location')).toBeNull();
        answers[who]!.push({ status: res.status, page: (await res.text()).replaceAll(identifier, '<account>') });
      }
    }
    expect(answers.known!.map((a) => a.status)).toEqual([400, 400, 400, 400, 423, 423]);
    expect(answers.unknown).toEqual(answers.known);
    expect(answers.unknown![0]!.page).toContain('The account or password is incorrect.');
    expect(await enrollmentsOf(stranger)).toEqual([]);
  });

  it('locks a stranger\'s wrong passwords to the stranger\'s address; a fresh invite gets the user through a shared one', async () => {
    const user = await importUser('the right password');
    const stranger = address();
    const statuses = [];
    for (let i = 0; i < 5; i++) statuses.push((await signIn(user.managedAppleId, `guess ${i}`, stranger)).status);
    expect(statuses).toEqual([400, 400, 400, 400, 423]);
    // Locked where the guesses came from, even for the right password...
    expect((await signIn(user.managedAppleId, 'the right password', stranger)).status).toBe(423);
    // ...but the user, elsewhere, signs in.
    const home = await signIn(user.managedAppleId, 'the right password', address());
    expect(home.status).toBe(308);
    expect(home.headers.get('location')).toMatch(/^apple-remotemanagement-user-login:\/\/authentication-results\?access-token=/);

    // Someone at the user's own address (a shared office network) locks the pair out: the page
    // shows the way through, a new invitation, whose one-time password gets past the lock.
    const other = await importUser('another right password');
    const shared = address();
    for (let i = 0; i < 5; i++) await signIn(other.managedAppleId, `guess ${i}`, shared);
    const locked = await signIn(other.managedAppleId, 'another right password', shared);
    expect(locked.status).toBe(423);
    expect(await locked.text()).toMatch(/Try again in \d+ minutes?, or ask your IT team to send you a new invitation and sign in with its one-time password/);
    const created = await stack.admin('/api/v1/enrollments', {
      method: 'POST',
      body: JSON.stringify({ user: { name: 'Directory User', email: other.email }, channel: 'email', ownership: 'personal', authMode: 'authenticated', managedAppleId: other.managedAppleId }),
    });
    expect(created.status).toBe(201);
    const invite = parseInvite((await stack.smtp.waitFor((m) => m.to.includes(other.email), 15_000)).text);
    const through = await signIn(other.managedAppleId, invite.password!, shared);
    expect(through.status).toBe(308);
    // Signing in cleared the pair's lock.
    expect((await signIn(other.managedAppleId, 'another right password', shared)).status).toBe(308);
  });

  it('answers the enrollment POST with the challenge unless the bearer is valid', async () => {
    const plain = await fetch(`${stack.baseUrl}/account-enrollment`, {
      method: 'POST',
      headers: { 'content-type': 'application/xml' },
      body: '<?xml version="1.0"?><plist version="1.0"><dict><key>LANGUAGE</key><string>en-US</string></dict></plist>',
    });
    expect(plain.status).toBe(401);
    expect(plain.headers.get('www-authenticate')).toBe(`Bearer method="apple-as-web", url="${stack.baseUrl}/account-enrollment/sign-in"`);
    const forged = await fetch(`${stack.baseUrl}/account-enrollment`, {
      method: 'POST',
      headers: { authorization: 'Bearer forged', 'content-type': 'application/xml' },
      body: '<?xml version="1.0"?><plist version="1.0"><dict/></plist>',
    });
    expect(forged.status).toBe(401);
    const garbage = await fetch(`${stack.baseUrl}/account-enrollment`, { method: 'POST', body: 'not a plist' });
    expect(garbage.status).toBe(400);
  });

  it('requires the bearer on every check-in, refuses a revoked one and another enrollment\'s', async () => {
    const a = await importUser('first user password');
    const b = await importUser('second user password');
    const deviceA = new SimulatedDevice();
    const deviceB = new SimulatedDevice();
    await deviceA.enrollAccountDriven(stack.baseUrl, a.managedAppleId, 'first user password');
    await deviceB.enrollAccountDriven(stack.baseUrl, b.managedAppleId, 'second user password');
    const [enrollmentA] = await enrollmentsOf(a.managedAppleId);
    await finish(deviceA, enrollmentA.id);
    deviceB.installProfile(deviceB.lastProfile!);

    const missing = await deviceA.checkIn({ MessageType: 'TokenUpdate', Token: deviceA.pushToken, PushMagic: deviceA.pushMagic }, { bearer: null });
    expect(missing.status).toBe(401);
    // B's own identity with A's token: refused.
    const crossed = await deviceB.checkIn({ MessageType: 'Authenticate', OSVersion: '18.2', ProductName: 'iPhone15,2' }, { bearer: deviceA.accessToken! });
    expect(crossed.status).toBe(401);
    expect(JSON.parse(crossed.body.toString()).error.code).toBe('bearer_invalid');
    // A retried Authenticate with the right token still works (the token is not single-use).
    expect((await deviceA.checkIn({ MessageType: 'Authenticate', OSVersion: '18.2', ProductName: 'iPhone15,2' })).status).toBe(200);

    const revoke = await stack.admin(`/api/v1/enrollments/${enrollmentA.id}/revoke-tokens`, { method: 'POST' });
    expect(await json(revoke)).toEqual({ id: enrollmentA.id, revoked: 1 });
    const revoked = await deviceA.report({ Status: 'Idle' }).catch((err: Error) => err);
    expect(String(revoked)).toContain('401');
  });

  it('rejects wrong passwords with a lockout, and an expired sign-in token', async () => {
    const user = await importUser('the right password');
    const device = new SimulatedDevice();
    const err = await device.enrollAccountDriven(stack.baseUrl, user.managedAppleId, 'the wrong password').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AccountEnrollmentError);
    expect((err as AccountEnrollmentError).message).toContain('sign-in failed: 400');

    // A sign-in token that was not used before its lifetime ended no longer buys a profile.
    await new SimulatedDevice().enrollAccountDriven(stack.baseUrl, user.managedAppleId, 'the right password');
    const [enrollment] = await enrollmentsOf(user.managedAppleId);
    const stale = randomBytes(16).toString('hex');
    await stack.database.db
      .insertInto('account_tokens')
      .values({ token_hash: hashApiToken(stale), enrollment_id: enrollment.id, user_id: user.id, expires_at: new Date(Date.now() - 1000) })
      .execute();
    const expired = await fetch(`${stack.baseUrl}/account-enrollment`, { method: 'POST', headers: { authorization: `Bearer ${stale}`, 'content-type': 'application/xml' }, body: '<?xml version="1.0"?><plist version="1.0"><dict/></plist>' });
    expect(expired.status).toBe(401);
    expect(expired.headers.get('www-authenticate')).toContain('apple-as-web');
  });

  it('refuses a web sign-in posted from another site, signing in no one', async () => {
    const user = await importUser('the right password');
    const res = await fetch(`${stack.baseUrl}/account-enrollment/sign-in`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'https://evil.example' },
      body: new URLSearchParams({ username: user.managedAppleId, password: 'the right password' }).toString(),
    });
    expect(res.status).toBe(403);
    expect(res.headers.get('location')).toBeNull();
    expect(await enrollmentsOf(user.managedAppleId)).toEqual([]);
    const tokens = await stack.database.db.selectFrom('account_tokens').select('id').where('user_id', '=', user.id).execute();
    expect(tokens).toEqual([]);
  });
});
