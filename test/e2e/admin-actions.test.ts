/**
 * Admin actions end to end: refused clearly (422, before anything reaches the device) when the
 * enrollment type forbids them, accepted (202) and delivered to the simulator otherwise, tracked
 * in the command history, idempotent by Idempotency-Key.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commands } from '../../mdm/capabilities.js';
import type { SimulatedDevice } from '../../scripts/simulator/device.js';
import { enrollSimulatedDevice } from '../support/enroll.js';
import { eventually, startTestStack, type TestStack } from '../support/stack.js';
import { keepHistory } from '../support/history-fixtures.js';
import { enrollmentWorkflowId } from '../../workflows/messages.js';

let stack: TestStack;
let userEnrolled: { id: string; device: SimulatedDevice };
let deviceEnrolled: { id: string; device: SimulatedDevice };
const json = async (res: Response): Promise<any> => res.json();
const tag = () => Math.random().toString(36).slice(2, 8);

async function enroll(ownership: 'personal' | 'corporate') {
  const e = await enrollSimulatedDevice(stack, { ownership });
  await e.device.processCommands();
  await eventually(async () => ((await json(await stack.admin(`/api/v1/enrollments/${e.id}`))).device?.facts?.deviceInformation ? true : undefined));
  return e;
}

const act = (id: string, action: unknown, idempotencyKey?: string) =>
  stack.admin(`/api/v1/enrollments/${id}/actions`, { method: 'POST', body: JSON.stringify(action), headers: idempotencyKey ? { 'idempotency-key': idempotencyKey } : {} });

beforeAll(async () => {
  stack = await startTestStack();
  [userEnrolled, deviceEnrolled] = await Promise.all([enroll('personal'), enroll('corporate')]);
}, 60_000);
afterAll(() => stack?.stop({ noFailedWorkflows: true }));

describe('on a user-enrolled device', () => {
  const forbidden = Object.values(commands).filter((c) => c.userEnrollment === 'forbidden');

  it(`refuses each of the ${forbidden.length} commands Apple forbids under User Enrollment with 422`, async () => {
    expect(forbidden.length).toBeGreaterThan(20);
    for (const command of forbidden) {
      const res = await act(userEnrolled.id, { type: 'raw_command', requestType: command.requestType });
      expect(res.status, command.requestType).toBe(422);
      const body = await json(res);
      expect(body.error.code).toBe('forbidden_for_user_enrollment');
      expect(body.error.details.schema).toBe(command.file);
    }
    const history = await json(await stack.admin(`/api/v1/enrollments/${userEnrolled.id}/commands`));
    expect(history.items.every((c: any) => ['SecurityInfo', 'DeviceInformation'].includes(c.requestType))).toBe(true);
  });

  it('refuses lost mode, erase and restart by name, explaining why', async () => {
    for (const action of [{ type: 'enable_lost_mode', message: 'Call IT' }, { type: 'erase_device' }, { type: 'restart_device' }]) {
      const type = action.type;
      const res = await act(userEnrolled.id, action);
      expect(res.status, type).toBe(422);
      const body = await json(res);
      expect(body.error.code).toBe('forbidden_for_user_enrollment');
      expect(body.error.message).toMatch(/user-enrolled/i);
    }
  });

  it('refuses forbidden restriction keys by name, and reports ignored passcode keys', async () => {
    const res = await act(userEnrolled.id, {
      type: 'install_profile',
      profile: { displayName: 'Too much', payloads: [{ kind: 'restrictions', siri: false, keys: { allowCamera: false } }] },
    });
    expect(res.status).toBe(422);
    const body = await json(res);
    expect(body.error.code).toBe('forbidden_key');
    expect(body.error.details.keys).toContain('allowCamera');
    expect(body.error.message).toContain('allowCamera');
  });

  it('delivers an allowed action to the device and tracks it to acknowledged', async () => {
    const res = await act(userEnrolled.id, { type: 'device_lock', message: 'Locked by IT' }, 'lock-1');
    expect(res.status).toBe(202);
    const accepted = await json(res);
    expect(accepted).toMatchObject({ requestType: 'DeviceLock', status: 'queued' });
    // A retried request with the same Idempotency-Key is the same command.
    const again = await json(await act(userEnrolled.id, { type: 'device_lock', message: 'Locked by IT' }, 'lock-1'));
    expect(again.commandUuid).toBe(accepted.commandUuid);

    await stack.apns.waitFor((p) => p.token === userEnrolled.device.pushToken.toString('hex') && p.at.getTime() > Date.now() - 10_000, 15_000);
    const ran = await userEnrolled.device.processCommands();
    expect(ran.map((c) => c.CommandUUID)).toEqual([accepted.commandUuid]);
    expect(ran[0]!.Command).toMatchObject({ RequestType: 'DeviceLock', Message: 'Locked by IT' });
    const history = await json(await stack.admin(`/api/v1/enrollments/${userEnrolled.id}/commands`));
    expect(history.items[0]).toMatchObject({ commandUuid: accepted.commandUuid, status: 'acknowledged', resultStatus: 'Acknowledged', requestedBy: 'test-admin' });
    await keepHistory(stack.client, enrollmentWorkflowId(userEnrolled.id), 'lifecycle-admin-action');
  });

  it('sends the guide\'s restrictions and a passcode policy as one InstallProfile the device receives', async () => {
    const res = await act(userEnrolled.id, {
      type: 'install_profile',
      profile: {
        displayName: 'Work policy',
        payloads: [
          { kind: 'restrictions', siri: false, screenCapture: false, forceEncryptedBackup: true, sendDiagnosticData: false },
          { kind: 'passcode', minLength: 8, requireAlphanumeric: true },
        ],
      },
    });
    expect(res.status).toBe(202);
    const accepted = await json(res);
    expect(accepted.notes.some((n: any) => n.kind === 'ignored_on_user_enrollment')).toBe(true);
    expect(accepted.effectivePasscodePolicy).toMatchObject({ passcodeRequired: true, minLength: 6, allowSimple: false, complexityEnforceable: false });
    const ran = await userEnrolled.device.processCommands();
    const install = ran.find((c) => c.Command.RequestType === 'InstallProfile')!;
    expect(install.CommandUUID).toBe(accepted.commandUuid);
    const profileXml = Buffer.from(install.Command.Payload as Uint8Array).toString('utf8');
    expect(profileXml).toContain('com.apple.applicationaccess');
    expect(profileXml).toContain('allowAssistant');
    expect(profileXml).toContain('com.apple.mobiledevice.passwordpolicy');
    expect(profileXml).not.toContain('PayloadRemovalDisallowed');
  });
});

describe('on a device-enrolled device', () => {
  it('accepts what User Enrollment forbids but an unsupervised device allows', async () => {
    const res = await act(deviceEnrolled.id, { type: 'erase_device' });
    expect(res.status).toBe(202);
    const ran = await deviceEnrolled.device.processCommands();
    expect(ran.map((c) => c.Command.RequestType)).toContain('EraseDevice');
  });

  it('refuses supervised-only commands on an unsupervised device', async () => {
    const res = await act(deviceEnrolled.id, { type: 'enable_lost_mode', message: 'Lost' });
    expect(res.status).toBe(422);
    expect((await json(res)).error.code).toBe('supervised_only');
  });
});

describe('refusals that are not about the enrollment type', () => {
  it('answers unknown enrollments, devices not yet enrolled, and invalid bodies clearly', async () => {
    expect((await act('00000000-0000-4000-8000-000000000000', { type: 'device_lock' })).status).toBe(404);
    const invalid = await act(userEnrolled.id, { type: 'teleport' });
    expect(invalid.status).toBe(400);
    const res = await stack.admin('/api/v1/enrollments', {
      method: 'POST',
      body: JSON.stringify({ user: { name: 'Pending', email: `p.${tag()}@example.com` }, channel: 'email', ownership: 'corporate', authMode: 'open' }),
    });
    const pending = await json(res);
    const early = await act(pending.id, { type: 'device_lock' });
    expect(early.status).toBe(409);
    expect((await json(early)).error.code).toBe('not_enrolled');
  });
});
