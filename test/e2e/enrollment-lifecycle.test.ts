/**
 * The whole enrollment, end to end over real sockets: admin invite -> real SMTP/SMS on loopback ->
 * the simulated iPhone walks the portal, installs the signed profile, Authenticates and sends its
 * TokenUpdate -> `enrolled` in the API and in Temporal -> a well-formed APNs push reached the local
 * APNs server -> the device answers its first queries and the answers are stored.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseInvite, SimulatedDevice, type PortalAnswers } from '../../scripts/simulator/device.js';
import { EnrollmentStatusKey, EnrollmentTypeKey, OwnershipKey } from '../../workflows/search-attributes.js';
import { keepHistory } from '../support/history-fixtures.js';
import { eventually, startTestStack, type TestStack } from '../support/stack.js';

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(() => stack?.stop({ noFailedWorkflows: true }));

const json = async (res: Response): Promise<any> => res.json();
const tag = () => Math.random().toString(36).slice(2, 8);

async function invite(body: Record<string, unknown>) {
  const res = await stack.admin('/api/v1/enrollments', { method: 'POST', body: JSON.stringify(body) });
  expect(res.status, JSON.stringify(await res.clone().json())).toBe(201);
  return json(res);
}

async function statusOf(id: string) {
  return json(await stack.admin(`/api/v1/enrollments/${id}`));
}

/** Drives a device from the invite text to a completed first command exchange. */
async function enrollDevice(inviteText: string, device: SimulatedDevice, answers: PortalAnswers = {}) {
  const { enrollmentUrl, username, password } = parseInvite(inviteText);
  const der = await device.enrollThroughPortal(enrollmentUrl, { username, ...(password ? { password } : {}), ...answers });
  const installed = device.installProfile(der);
  await device.authenticate();
  await device.tokenUpdate();
  return { enrollmentUrl, installed };
}

async function expectEnrolled(created: { id: string; workflowId: string }, device: SimulatedDevice, kind: 'user' | 'device') {
  const detail = await eventually(async () => {
    const d = await statusOf(created.id);
    return d.status === 'enrolled' ? d : undefined;
  });
  expect(detail.enrollmentType).toBe(kind);
  expect(detail.timeline.map((t: any) => t.to)).toEqual(['invited', 'portal_authenticated', 'profile_issued', 'authenticated', 'enrolled']);
  const described = await eventually(async () => {
    const d = await stack.client.workflow.getHandle(created.workflowId).describe();
    return d.typedSearchAttributes.get(EnrollmentStatusKey) === 'enrolled' ? d : undefined;
  });
  expect(described.typedSearchAttributes.get(EnrollmentTypeKey)).toBe(kind);

  // The workflow queued the first queries and pushed: the local APNs server got a well-formed push.
  const push = await stack.apns.waitFor((p) => p.token === device.pushToken.toString('hex'), 15_000);
  expect(push).toMatchObject({ topic: device.installed!.topic, pushType: 'mdm', priority: '10', body: { mdm: device.pushMagic }, status: 200 });

  const ran = await device.processCommands();
  expect(ran.map((c) => c.Command.RequestType)).toEqual(['SecurityInfo', 'DeviceInformation']);
  const queries = ran[1]!.Command.Queries as string[];
  if (kind === 'user') for (const q of ['UDID', 'SerialNumber', 'IMEI', 'MEID']) expect(queries).not.toContain(q);
  else expect(queries).toEqual(expect.arrayContaining(['UDID', 'SerialNumber']));

  const withFacts = await eventually(async () => {
    const d = await statusOf(created.id);
    return d.device?.facts?.deviceInformation && d.device?.facts?.securityInfo ? d : undefined;
  });
  expect(withFacts.device).toMatchObject({ kind, productName: device.productName, osVersion: device.osVersion });
  expect(withFacts.device.facts.deviceInformation.OSVersion).toBe(device.osVersion);
  expect(withFacts.device.facts.securityInfo.ManagementStatus.IsUserEnrollment).toBe(kind === 'user');
  return withFacts;
}

/** The profile Tandem served verifies with `openssl cms -verify` against Tandem's CA and parses with Python's plistlib. */
async function verifyWithOpenSslAndPython(device: SimulatedDevice) {
  const dir = await mkdtemp(join(tmpdir(), 'tandem-profile-'));
  try {
    const ca = await stack.database.db.selectFrom('settings').select('value').where('key', '=', 'ca').executeTakeFirstOrThrow();
    await writeFile(join(dir, 'ca.pem'), (ca.value as { certPem: string }).certPem);
    await writeFile(join(dir, 'profile.der'), device.lastProfile!);
    execFileSync('openssl', ['cms', '-verify', '-inform', 'DER', '-in', join(dir, 'profile.der'), '-CAfile', join(dir, 'ca.pem'), '-purpose', 'any', '-out', join(dir, 'profile.xml')], { stdio: 'pipe' });
    const parsed = execFileSync('python3', ['-c', 'import plistlib,sys,json; d=plistlib.load(open(sys.argv[1],"rb")); print(json.dumps([d["PayloadType"]]+[p["PayloadType"] for p in d["PayloadContent"]]))', join(dir, 'profile.xml')]);
    expect(JSON.parse(parsed.toString())).toEqual(['Configuration', 'com.apple.security.root', 'com.apple.security.pkcs12', 'com.apple.mdm']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('User Enrollment by email (personal)', () => {
  it('goes from invite to enrolled, with a push and stored answers', async () => {
    const email = `ada.${tag()}@example.com`;
    const managedAppleId = `ada.${tag()}@acme.example`;
    const created = await invite({ user: { name: 'Ada Lovelace', email }, channel: 'email', ownership: 'personal', authMode: 'authenticated', managedAppleId });
    const mail = await stack.smtp.waitFor((m) => m.to.includes(email), 15_000);
    expect(mail.subject).toBeTruthy();
    expect(mail.html).toContain(created.enrollmentUrl);

    const device = new SimulatedDevice();
    const { installed } = await enrollDevice(mail.text, device);
    await verifyWithOpenSslAndPython(device);
    // Profile-based User Enrollment: ManagedAppleID set, never AccessRights.
    const mdm = (installed.profile.PayloadContent as any[]).find((p) => p.PayloadType === 'com.apple.mdm');
    expect(mdm.ManagedAppleID).toBe(managedAppleId);
    expect(mdm).not.toHaveProperty('AccessRights');
    expect(mdm).toMatchObject({ SignMessage: true, CheckOutWhenRemoved: true, Topic: stack.pushCertificate && installed.topic });
    expect(installed.kind).toBe('user');

    const detail = await expectEnrolled(created, device, 'user');
    expect(detail.device.appleEnrollmentId).toBe(device.enrollmentId);
    expect(detail.device).not.toHaveProperty('hardware');
    expect((await stack.client.workflow.getHandle(created.workflowId).describe()).typedSearchAttributes.get(OwnershipKey)).toBe('personal');

    await keepHistory(stack.client, created.workflowId, 'lifecycle-user-enrolled');
  });
});

describe('User Enrollment by SMS', () => {
  it('delivers the invite through the SMS provider and enrolls', async () => {
    const phone = `+1415555${Math.floor(1000 + Math.random() * 8999)}`;
    const created = await invite({
      user: { name: 'Grace Hopper', phone },
      channel: 'sms',
      ownership: 'personal',
      authMode: 'authenticated',
      managedAppleId: `grace.${tag()}@acme.example`,
    });
    const sms = await stack.sms.waitFor((m) => m.to === phone, 15_000);
    expect(sms.from).toBe('+15005550006');
    expect(sms.idempotencyToken).toContain(created.workflowId);
    const device = new SimulatedDevice({ osVersion: '16.7' });
    await enrollDevice(sms.body, device);
    await expectEnrolled(created, device, 'user');
  });
});

describe('Let the user choose', () => {
  it('"I own this device" + "work data only" leads to User Enrollment', async () => {
    const email = `alan.${tag()}@example.com`;
    const created = await invite({ user: { name: 'Alan Turing', email }, channel: 'email', ownership: 'user_choice', authMode: 'authenticated' });
    const mail = await stack.smtp.waitFor((m) => m.to.includes(email), 15_000);
    const device = new SimulatedDevice();
    await enrollDevice(mail.text, device, { ownership: 'personal', scope: 'user', managedAppleId: `alan.${tag()}@acme.example` });
    await expectEnrolled(created, device, 'user');
    expect((await stack.client.workflow.getHandle(created.workflowId).describe()).typedSearchAttributes.get(OwnershipKey)).toBe('personal');
  });

  it('"My organization owns this device" leads to Device Enrollment', async () => {
    const email = `joan.${tag()}@example.com`;
    const created = await invite({ user: { name: 'Joan Clarke', email }, channel: 'email', ownership: 'user_choice', authMode: 'authenticated' });
    const mail = await stack.smtp.waitFor((m) => m.to.includes(email), 15_000);
    const device = new SimulatedDevice();
    const { installed } = await enrollDevice(mail.text, device, { ownership: 'corporate' });
    expect(installed.kind).toBe('device');
    const detail = await expectEnrolled(created, device, 'device');
    expect(detail.device.hardware).toMatchObject({ udid: device.hardware.udid, serialNumber: device.hardware.serialNumber });
    expect((await stack.client.workflow.getHandle(created.workflowId).describe()).typedSearchAttributes.get(OwnershipKey)).toBe('corporate');
  });
});

describe('Corporate Device Enrollment (open invite)', () => {
  it('enrolls with the full device identity and AccessRights', async () => {
    const email = `katherine.${tag()}@example.com`;
    const created = await invite({ user: { name: 'Katherine Johnson', email }, channel: 'email', ownership: 'corporate', authMode: 'open' });
    const mail = await stack.smtp.waitFor((m) => m.to.includes(email), 15_000);
    expect(parseInvite(mail.text).password).toBeUndefined();
    const device = new SimulatedDevice();
    const { installed } = await enrollDevice(mail.text, device);
    const mdm = (installed.profile.PayloadContent as any[]).find((p) => p.PayloadType === 'com.apple.mdm');
    expect(mdm.AccessRights).toBe(8191);
    expect(mdm).not.toHaveProperty('ManagedAppleID');
    const detail = await expectEnrolled(created, device, 'device');
    expect(detail.device.hardware).toEqual({ udid: device.hardware.udid, serialNumber: device.hardware.serialNumber, imei: device.hardware.imei, meid: device.hardware.meid });

    await keepHistory(stack.client, created.workflowId, 'lifecycle-device-enrolled');
  });
});
