/**
 * Leaving management, for every trigger: the admin (RemoveProfile confirmed, or the device never
 * answers), the device (CheckOut), APNs 410 Unregistered, and inactivity. Afterwards nothing
 * lingers (push credentials, tokens, identity, queued commands), the old identity gets 403
 * com.apple.unrecognized.device, the user is told, and re-enrolling starts clean.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enrollmentProfileIdentifier } from '../../mdm/profile.js';
import type { SimulatedDevice } from '../../scripts/simulator/device.js';
import { enrollSimulatedDevice } from '../support/enroll.js';
import { EnrollmentStatusKey } from '../../workflows/search-attributes.js';
import { keepHistory } from '../support/history-fixtures.js';
import { eventually, startTestStack, type TestStack } from '../support/stack.js';

let stack: TestStack;
const json = async (res: Response): Promise<any> => res.json();

beforeAll(async () => {
  stack = await startTestStack({ TANDEM_REMOVAL_WINDOW: '3s', TANDEM_UNREACHABLE_GRACE: '2s', TANDEM_INACTIVE_AFTER: '6s' });
});
afterAll(() => stack?.stop({ noFailedWorkflows: true }));

const enroll = (email?: string, managedAppleId?: string) => enrollSimulatedDevice(stack, { ...(email ? { email } : {}), ...(managedAppleId ? { managedAppleId } : {}) });

const detailOf = async (id: string) => json(await stack.admin(`/api/v1/enrollments/${id}`));
const until = (id: string, status: string, timeoutMs = 20_000) => eventually(async () => ((await detailOf(id)).status === status ? detailOf(id) : undefined), { timeoutMs });

async function expectNothingLingers(e: { id: string; workflowId: string; device: SimulatedDevice; email: string }) {
  const db = stack.database.db;
  const device = await db.selectFrom('devices').selectAll().where('enrollment_id', '=', e.id).executeTakeFirstOrThrow();
  expect(device.push_token_sealed).toBeNull();
  expect(device.push_magic_sealed).toBeNull();
  expect(device.identity_fingerprint).toBeNull();
  const pending = await db.selectFrom('command_queue').select('status').where('device_id', '=', device.id).where('status', 'in', ['staged', 'queued', 'sent', 'not_now']).execute();
  expect(pending).toEqual([]);
  const identities = await db.selectFrom('enrollment_identities').select('revoked_at').where('enrollment_id', '=', e.id).execute();
  expect(identities.every((i) => i.revoked_at)).toBe(true);
  const audit = await db.selectFrom('audit_log').select('action').where('target_id', '=', e.id).where('action', '=', 'enrollment.disenrolled').execute();
  expect(audit).toHaveLength(1);
  // The user is told their work data was removed.
  await stack.smtp.waitFor((m) => m.to.includes(e.email) && /no longer managed/.test(m.subject), 15_000);
  // The workflow completed with the final state.
  const handle = stack.client.workflow.getHandle(e.workflowId);
  expect(await handle.result()).toMatchObject({ status: 'disenrolled' });
  expect((await handle.describe()).typedSearchAttributes.get(EnrollmentStatusKey)).toBe('disenrolled');
  // The old identity is refused, with the body that makes a device unenroll (never a bare 401).
  const late = await e.device.checkIn({ MessageType: 'TokenUpdate', Token: e.device.pushToken, PushMagic: e.device.pushMagic });
  expect(late.status).toBe(403);
  expect(JSON.parse(late.body.toString())).toMatchObject({ code: 'com.apple.unrecognized.device' });
}

describe('disenrollment', () => {
  it('takes an optional text reason, documented in the OpenAPI document', async () => {
    const spec = await json(await fetch(`${stack.baseUrl}/api/v1/openapi.json`));
    const body = spec.paths['/enrollments/{id}/disenroll'].post.requestBody;
    expect(body.required).toBe(false);
    expect(body.content['application/json'].schema).toEqual({ $ref: '#/components/schemas/DisenrollRequest' });
    expect(spec.components.schemas.DisenrollRequest.properties.reason.type).toBe('string');

    const e = await enroll();
    const refused = await stack.admin(`/api/v1/enrollments/${e.id}/disenroll`, { method: 'POST', body: JSON.stringify({ reason: 42 }) });
    expect(refused.status).toBe(400);
    expect((await json(refused)).error).toMatchObject({ code: 'validation_failed', details: { issues: [expect.objectContaining({ path: 'reason' })] } });
    expect((await detailOf(e.id)).status).toBe('enrolled'); // refused before anything was recorded
    // No body at all, even with a JSON content type, is no reason.
    const unknown = await stack.admin(`/api/v1/enrollments/${crypto.randomUUID()}/disenroll`, { method: 'POST' });
    expect(unknown.status).toBe(404);
  });

  it('by the admin: RemoveProfile, confirmed by the device', async () => {
    const e = await enroll();
    await e.device.processCommands();
    const requestedAt = Date.now();
    const res = await stack.admin(`/api/v1/enrollments/${e.id}/disenroll`, { method: 'POST', body: JSON.stringify({ reason: 'left the company' }) });
    expect(res.status).toBe(202);
    await until(e.id, 'disenrolling');
    // Like an iPhone, poll when the push for RemoveProfile arrives.
    await stack.apns.waitFor((p) => p.token === e.device.pushToken.toString('hex') && p.at.getTime() > requestedAt, 15_000);
    const ran = await e.device.processCommands();
    const removal = ran.find((c) => c.Command.RequestType === 'RemoveProfile')!;
    expect(removal.Command.Identifier).toBe(enrollmentProfileIdentifier(e.id));
    const detail = await until(e.id, 'disenrolled');
    expect(detail.timeline.at(-1).reason).toContain('left the company');
    await expectNothingLingers(e);
    expect((await stack.admin(`/api/v1/enrollments/${e.id}/disenroll`, { method: 'POST' })).status).toBe(409);
    await keepHistory(stack.client, e.workflowId, 'lifecycle-disenrolled-by-admin');
  });

  it('by the admin, for a device that never answers: disenrolled (device unreachable) after the window', async () => {
    const e = await enroll();
    await e.device.processCommands();
    await stack.admin(`/api/v1/enrollments/${e.id}/disenroll`, { method: 'POST' });
    const detail = await until(e.id, 'disenrolled');
    expect(detail.timeline.at(-1).reason).toContain('device unreachable');
    await expectNothingLingers(e);
    await keepHistory(stack.client, e.workflowId, 'lifecycle-disenrolled-unreachable');
  });

  it('by the device: CheckOut', async () => {
    const e = await enroll();
    await e.device.processCommands();
    await e.device.checkOut();
    const detail = await until(e.id, 'disenrolled');
    expect(detail.device.checkedOutAt).toEqual(expect.any(String));
    await expectNothingLingers(e);
    await keepHistory(stack.client, e.workflowId, 'lifecycle-checked-out');
  });

  it('after APNs 410 Unregistered: inactive, then disenrolled after the grace period', async () => {
    stack.apns.respondNext(410, { reason: 'Unregistered', timestamp: Date.now() });
    const e = await enroll();
    const inactive = await until(e.id, 'inactive');
    expect(inactive.device.pushUnregisteredAt).toEqual(expect.any(String));
    expect(inactive.timeline.at(-1).reason).toContain('410');
    const gone = await until(e.id, 'disenrolled');
    expect(gone.timeline.at(-1).reason).toContain('device unreachable');
    await expectNothingLingers(e);
    await keepHistory(stack.client, e.workflowId, 'lifecycle-push-unregistered');
  });

  it('after no contact: inactive, and enrolled again when the device checks in', async () => {
    const e = await enroll();
    await e.device.processCommands();
    const inactive = await until(e.id, 'inactive', 30_000);
    expect(inactive.timeline.at(-1).reason).toMatch(/no contact/);
    await e.device.report({ Status: 'Idle' });
    const back = await until(e.id, 'enrolled');
    expect(back.timeline.at(-1).reason).toContain('checked in again');
    await stack.admin(`/api/v1/enrollments/${e.id}/disenroll`, { method: 'POST' });
    await until(e.id, 'disenrolled');
    await keepHistory(stack.client, e.workflowId, 'lifecycle-inactive-then-back');
  });

  it('re-enrolling the same person starts clean: a new enrollment, a new EnrollmentID, nothing carried over', async () => {
    const first = await enroll();
    await first.device.processCommands();
    await first.device.checkOut();
    await until(first.id, 'disenrolled');
    const second = await enroll(first.email, first.managedAppleId);
    expect(second.id).not.toBe(first.id);
    expect(second.device.enrollmentId).not.toBe(first.device.enrollmentId);
    const detail = await until(second.id, 'enrolled');
    expect(detail.device.appleEnrollmentId).toBe(second.device.enrollmentId);
    const ran = await second.device.processCommands();
    expect(ran.map((c) => c.Command.RequestType)).toEqual(['SecurityInfo', 'DeviceInformation']);
    const old = await first.device.report({ Status: 'Idle' }).catch((err: Error) => err);
    expect(String(old)).toContain('403');
  });
});
