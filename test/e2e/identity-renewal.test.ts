/**
 * Device identity renewal on the real stack (API, database, simulated iPhones over HTTP), with the
 * renewal activities called as the workflow calls them. Identities are issued for one hour
 * (TANDEM_IDENTITY_VALIDITY=1h); the renewal is the updated enrollment profile sent with
 * InstallProfile, for profile-based User Enrollment, Device Enrollment and account-driven enrollment.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities } from '../../activities/index.js';
import { commandSealContext } from '../../db/seal-contexts.js';
import { certificateFingerprint, describeCertificate, fromPkcs12, type CertificateAndKey } from '../../mdm/certificates.js';
import { parsePlist } from '../../mdm/plist-codec.js';
import { enrollmentProfileIdentifier, readSignedProfile } from '../../mdm/profile.js';
import { SimulatedDevice } from '../../scripts/simulator/device.js';
import { SecretBox } from '../../security/secret-box.js';
import { activityDepsFromEnv } from '../../worker/activity-deps.js';
import { enrollSimulatedDevice, type EnrolledDevice } from '../support/enroll.js';
import { eventually, startTestStack, type TestStack } from '../support/stack.js';

let stack: TestStack;
let activities: ReturnType<typeof createActivities>;
const HOUR = 3_600_000;
const json = async (res: Response): Promise<any> => res.json();
const tag = () => Math.random().toString(36).slice(2, 8);

beforeAll(async () => {
  stack = await startTestStack({ TANDEM_IDENTITY_VALIDITY: '1h' });
  const box = new SecretBox(stack.env.TANDEM_MASTER_KEY!);
  activities = createActivities(activityDepsFromEnv(stack.env, stack.database.db, box, { sandbox: false, publicUrl: stack.baseUrl, apns: { origin: stack.apns.origin, ca: stack.apnsCaPem } }));
});
afterAll(async () => {
  await activities?.close();
  await stack?.stop();
});

const keyOf = (e: { workflowId: string }, step: string) => ({ idempotencyKey: `${e.workflowId}:${step}` });

/** Enrolled and done with the first commands: the device is idle and managed. */
async function enrolled(opts: Parameters<typeof enrollSimulatedDevice>[1] = {}): Promise<EnrolledDevice> {
  const e = await enrollSimulatedDevice(stack, opts);
  await eventually(async () => ((await json(await stack.admin(`/api/v1/enrollments/${e.id}`))).status === 'enrolled' ? true : undefined));
  await e.device.processCommands();
  return e;
}

async function eventsOf(workflowId: string, type: string) {
  const rows = await stack.database.db.selectFrom('outbox').select(['payload', 'dedupe_key']).where('workflow_id', '=', workflowId).execute();
  return rows.map((r) => (r.payload as { event?: { type: string } }).event).filter((e): e is { type: string } & Record<string, unknown> => e?.type === type);
}

/** What the device is sent: the renewal's InstallProfile, opened from the queue as the device would see it. */
async function renewalIdentityOf(commandUuid: string): Promise<{ profile: Record<string, unknown>; identity: CertificateAndKey }> {
  const box = new SecretBox(stack.env.TANDEM_MASTER_KEY!);
  const row = await stack.database.db.selectFrom('command_queue').select('payload_sealed').where('command_uuid', '=', commandUuid).executeTakeFirstOrThrow();
  const command = parsePlist(box.open(row.payload_sealed, commandSealContext(commandUuid))) as { Command: { RequestType: string; Payload: Buffer } };
  expect(command.Command.RequestType).toBe('InstallProfile');
  const { profile } = readSignedProfile(command.Command.Payload);
  const p12 = (profile.PayloadContent as any[]).find((p) => p.PayloadType === 'com.apple.security.pkcs12');
  return { profile, identity: fromPkcs12(Buffer.from(p12.PayloadContent), String(p12.Password)) };
}

const mdmOf = (profile: Record<string, unknown>) => (profile.PayloadContent as any[]).find((p) => p.PayloadType === 'com.apple.mdm');

async function expectRefusedWith(device: SimulatedDevice, identity: CertificateAndKey) {
  const checkIn = await device.checkIn({ MessageType: 'TokenUpdate', Token: device.pushToken, PushMagic: device.pushMagic }, { signWith: identity });
  expect(checkIn.status).toBe(403);
  expect(JSON.parse(checkIn.body.toString('utf8'))).toMatchObject({ code: 'com.apple.unrecognized.device' });
  const connect = await device.send(device.installed!.serverUrl, 'application/x-apple-aspen-mdm', { ...(device.installed!.kind === 'user' ? { EnrollmentID: device.enrollmentId } : { UDID: device.hardware.udid }), Status: 'Idle' }, { signWith: identity });
  expect(connect.status).toBe(403);
}

describe('identity renewal', () => {
  it('profile-based User Enrollment: a one-hour identity is renewed, the device checks in with the new one, the old one is refused', async () => {
    const e = await enrolled();
    const old = e.device.installed!.identity;
    expect(describeCertificate(old.certPem).notAfter.getTime()).toBeLessThanOrEqual(Date.now() + HOUR);

    const before = await activities.activities.identityStatus({ enrollmentId: e.id, ...keyOf(e, 'identity-status:1') });
    const issued = Date.parse(before.issuedAt);
    expect(Date.parse(before.expiresAt) - issued).toBeGreaterThan(HOUR - 60_000);
    expect(Date.parse(before.expiresAt) - issued).toBeLessThanOrEqual(HOUR + 60_000);
    // 80% of its life by default.
    expect(Date.parse(before.renewAt) - issued).toBeCloseTo(0.8 * (Date.parse(before.expiresAt) - issued), -3);
    expect(before.pendingRenewal).toBe(false);

    const renewal = await activities.activities.renewIdentity({ enrollmentId: e.id, ...keyOf(e, 'renew-identity:1') });
    expect((await activities.activities.identityStatus({ enrollmentId: e.id, ...keyOf(e, 'identity-status:2') })).pendingRenewal).toBe(true);
    // The renewal is the enrollment profile itself, updated as Apple's MDM payload rules allow.
    const { profile, identity } = await renewalIdentityOf(renewal.commandUuid);
    expect(profile.PayloadIdentifier).toBe(enrollmentProfileIdentifier(e.id));
    expect(profile.PayloadIdentifier).toBe(e.device.installed!.profile.PayloadIdentifier);
    const [was, now] = [mdmOf(e.device.installed!.profile), mdmOf(profile)];
    for (const k of ['ServerURL', 'CheckInURL', 'Topic', 'ManagedAppleID', 'PayloadIdentifier']) expect(now[k]).toEqual(was[k]);
    expect(describeCertificate(identity.certPem).notAfter.toISOString()).toBe(renewal.expiresAt);

    // Queued after the renewal: must survive the Authenticate the new identity sends.
    await activities.activities.queueInitialCommands({ enrollmentId: e.id, ...keyOf(e, 'after-renewal') });
    expect((await activities.activities.pushDevice({ enrollmentId: e.id, ...keyOf(e, 'push:renewal') })).outcome).toBe('delivered');
    const ran = await e.device.processCommands(); // the first Idle is signed with the old identity: still valid
    expect(ran.map((c) => c.Command.RequestType)).toEqual(['InstallProfile', 'SecurityInfo', 'DeviceInformation']);
    expect(certificateFingerprint(e.device.installed!.identity.certPem)).toBe(certificateFingerprint(identity.certPem));

    // Keeps checking in with the new identity.
    expect(await e.device.processCommands()).toEqual([]);
    await e.device.tokenUpdate();
    const after = await activities.activities.identityStatus({ enrollmentId: e.id, ...keyOf(e, 'identity-status:3') });
    expect(after).toMatchObject({ expiresAt: renewal.expiresAt, pendingRenewal: false });
    const device = await stack.database.db.selectFrom('devices').select('identity_fingerprint').where('enrollment_id', '=', e.id).executeTakeFirstOrThrow();
    expect(device.identity_fingerprint).toBe(certificateFingerprint(identity.certPem));

    await expectRefusedWith(e.device, old);
    expect(await eventsOf(e.workflowId, 'identity_renewed')).toHaveLength(1);
    const install = await stack.database.db.selectFrom('command_queue').select('status').where('command_uuid', '=', renewal.commandUuid).executeTakeFirstOrThrow();
    expect(install.status).toBe('acknowledged');
    expect((await json(await stack.admin(`/api/v1/enrollments/${e.id}`))).status).toBe('enrolled');
  });

  it('a replayed renewIdentity call issues one identity and one InstallProfile', async () => {
    const e = await enrolled();
    const call = () => activities.activities.renewIdentity({ enrollmentId: e.id, ...keyOf(e, 'renew-identity:1') });
    const results = await Promise.all([call(), call()]);
    results.push(await call());
    expect(new Set(results.map((r) => r.commandUuid)).size).toBe(1);
    expect(new Set(results.map((r) => r.expiresAt)).size).toBe(1);
    const identities = await stack.database.db.selectFrom('enrollment_identities').select(['renewal_of']).where('enrollment_id', '=', e.id).execute();
    expect(identities.filter((i) => i.renewal_of)).toHaveLength(1);
    const device = await stack.database.db.selectFrom('devices').select('id').where('enrollment_id', '=', e.id).executeTakeFirstOrThrow();
    const installs = await stack.database.db.selectFrom('command_queue').select('command_uuid').where('device_id', '=', device.id).where('request_type', '=', 'InstallProfile').execute();
    expect(installs.map((c) => c.command_uuid)).toEqual([results[0]!.commandUuid]);

    // A later renewal (another key) withdraws the one the device never received.
    const second = await activities.activities.renewIdentity({ enrollmentId: e.id, ...keyOf(e, 'renew-identity:2') });
    const first = await stack.database.db.selectFrom('command_queue').select('status').where('command_uuid', '=', results[0]!.commandUuid).executeTakeFirstOrThrow();
    expect(first.status).toBe('cancelled');
    const ran = await e.device.processCommands();
    expect(ran.map((c) => c.CommandUUID)).toEqual([second.commandUuid]);
    expect(await eventsOf(e.workflowId, 'identity_renewed')).toHaveLength(1);
  });

  it("a renewed identity of enrollment A cannot bind enrollment B's device", async () => {
    const [a, b] = [await enrolled(), await enrolled()];
    const renewal = await activities.activities.renewIdentity({ enrollmentId: a.id, ...keyOf(a, 'renew-identity:1') });
    const { identity: stolen } = await renewalIdentityOf(renewal.commandUuid);

    // B's device, signing with A's pending identity, is refused without unenrolling anyone.
    const checkIn = await b.device.checkIn({ MessageType: 'TokenUpdate', Token: b.device.pushToken, PushMagic: b.device.pushMagic }, { signWith: stolen });
    expect(checkIn.status).toBe(400);
    expect(JSON.parse(checkIn.body.toString('utf8'))).toMatchObject({ error: { code: 'identifier_mismatch' } });
    const connect = await b.device.send(b.device.installed!.serverUrl, 'application/x-apple-aspen-mdm', { EnrollmentID: b.device.enrollmentId, Status: 'Idle' }, { signWith: stolen });
    expect(connect.status).toBe(400);

    const identity = await stack.database.db.selectFrom('enrollment_identities').select(['bound_at', 'revoked_at']).where('fingerprint', '=', certificateFingerprint(stolen.certPem)).executeTakeFirstOrThrow();
    expect(identity).toEqual({ bound_at: null, revoked_at: null });
    const devices = await stack.database.db.selectFrom('devices').select(['enrollment_id', 'identity_fingerprint']).where('enrollment_id', 'in', [a.id, b.id]).execute();
    expect(devices.find((d) => d.enrollment_id === b.id)!.identity_fingerprint).toBe(certificateFingerprint(b.device.installed!.identity.certPem));
    expect(devices.find((d) => d.enrollment_id === a.id)!.identity_fingerprint).toBe(certificateFingerprint(a.device.installed!.identity.certPem));
    expect(await b.device.processCommands()).toEqual([]); // B carries on with its own identity
    expect(await eventsOf(b.workflowId, 'identity_renewed')).toHaveLength(0);

    // A itself renews normally.
    expect((await a.device.processCommands()).map((c) => c.Command.RequestType)).toEqual(['InstallProfile']);
    expect(certificateFingerprint(a.device.installed!.identity.certPem)).toBe(certificateFingerprint(stolen.certPem));
  });

  it('Device Enrollment: the first request signed with the new identity may be the InstallProfile answer itself', async () => {
    const e = await enrolled({ ownership: 'corporate', device: { authenticateAfterProfileUpdate: false } });
    expect(e.device.installed!.kind).toBe('device');
    const old = e.device.installed!.identity;
    const renewal = await activities.activities.renewIdentity({ enrollmentId: e.id, ...keyOf(e, 'renew-identity:1') });
    const { profile } = await renewalIdentityOf(renewal.commandUuid);
    expect(mdmOf(profile).AccessRights).toBe(8191); // no right added or removed
    expect((await e.device.processCommands()).map((c) => c.Command.RequestType)).toEqual(['InstallProfile']);
    expect(e.device.installed!.identity).not.toBe(old);
    expect(await e.device.processCommands()).toEqual([]);
    await expectRefusedWith(e.device, old);
    expect(await eventsOf(e.workflowId, 'identity_renewed')).toHaveLength(1);
    const install = await stack.database.db.selectFrom('command_queue').select('status').where('command_uuid', '=', renewal.commandUuid).executeTakeFirstOrThrow();
    expect(install.status).toBe('acknowledged');
  });

  it('a refused renewal is reported and leaves the old identity working', async () => {
    const e = await enrolled();
    const old = e.device.installed!.identity;
    const renewal = await activities.activities.renewIdentity({ enrollmentId: e.id, ...keyOf(e, 'renew-identity:1') });
    const ran = await e.device.processCommands((cmd) =>
      cmd.Command.RequestType === 'InstallProfile'
        ? { Status: 'Error', ErrorChain: [{ ErrorCode: 4001, ErrorDomain: 'MCInstallationErrorDomain', USEnglishDescription: 'The profile could not be installed.', LocalizedDescription: 'x' }] }
        : e.device.defaultAnswer(cmd),
    );
    expect(ran.map((c) => c.CommandUUID)).toEqual([renewal.commandUuid]);
    expect(e.device.installed!.identity).toBe(old);
    const failed = await eventsOf(e.workflowId, 'identity_renewal_failed');
    expect(failed).toEqual([{ type: 'identity_renewal_failed', reason: 'InstallProfile failed: MCInstallationErrorDomain 4001 The profile could not be installed.' }]);
    expect((await activities.activities.identityStatus({ enrollmentId: e.id, ...keyOf(e, 'identity-status:1') })).pendingRenewal).toBe(false);
    expect(await e.device.processCommands()).toEqual([]); // still the old identity
    await e.device.tokenUpdate();
    expect(await eventsOf(e.workflowId, 'identity_renewed')).toHaveLength(0);
  });
});

describe('identity renewal, account-driven User Enrollment', () => {
  it('renews the identity; the bearer token stays valid and required with the new identity', async () => {
    const domains = await stack.admin('/api/v1/settings/domains', { method: 'PUT', body: JSON.stringify({ domains: ['acme.example'] }) });
    expect(domains.status).toBe(200);
    const managedAppleId = `renew.${tag()}@acme.example`;
    const imported = await stack.admin('/api/v1/users', {
      method: 'POST',
      body: JSON.stringify({ users: [{ name: 'Account User', email: `${tag()}@personal.example`, managedAppleId, password: 'correct horse battery' }] }),
    });
    expect(imported.status).toBe(200);
    const device = new SimulatedDevice({ osVersion: '18.2' });
    device.installProfile(await device.enrollAccountDriven(stack.baseUrl, managedAppleId, 'correct horse battery'));
    await device.authenticate();
    await device.tokenUpdate();
    const page = await json(await stack.admin('/api/v1/enrollments?limit=200'));
    const e = page.items.find((x: any) => x.user.managedAppleId === managedAppleId) as { id: string; workflowId: string };
    await eventually(async () => ((await json(await stack.admin(`/api/v1/enrollments/${e.id}`))).status === 'enrolled' ? true : undefined));
    await device.processCommands();
    const old = device.installed!.identity;

    const renewal = await activities.activities.renewIdentity({ enrollmentId: e.id, ...keyOf(e, 'renew-identity:1') });
    const { profile } = await renewalIdentityOf(renewal.commandUuid);
    const mdm = mdmOf(profile);
    expect(mdm).toMatchObject({ EnrollmentMode: 'BYOD', AssignedManagedAppleID: managedAppleId });
    expect(mdm).not.toHaveProperty('AccessRights');
    expect((await device.processCommands()).map((c) => c.Command.RequestType)).toEqual(['InstallProfile']);
    expect(device.installed!.identity).not.toBe(old);

    // The same bearer token goes with the new identity, and is still required.
    expect(await device.processCommands()).toEqual([]);
    const withoutBearer = await device.checkIn({ MessageType: 'TokenUpdate', Token: device.pushToken, PushMagic: device.pushMagic }, { bearer: null });
    expect(withoutBearer.status).toBe(401);
    const forged = await device.checkIn({ MessageType: 'TokenUpdate', Token: device.pushToken, PushMagic: device.pushMagic }, { bearer: 'forged' });
    expect(forged.status).toBe(401);
    await expectRefusedWith(device, old);
    expect(await eventsOf(e.workflowId, 'identity_renewed')).toHaveLength(1);
  });
});
