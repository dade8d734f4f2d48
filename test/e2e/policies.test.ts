/**
 * Policies reach devices through the workflow: applied after enrollment, re-applied when they
 * change, assigned to everyone or a group, refused (and shown as refused) where the enrollment
 * type does not allow them, with results tracked per device.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePlist } from '../../mdm/plist-codec.js';
import type { MdmCommand } from '../../scripts/simulator/device.js';
import { enrollSimulatedDevice } from '../support/enroll.js';
import { eventually, startTestStack, type TestStack } from '../support/stack.js';
import { keepHistory } from '../support/history-fixtures.js';

let stack: TestStack;
const json = async (res: Response): Promise<any> => res.json();
const tag = () => Math.random().toString(36).slice(2, 8);

beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(() => stack?.stop({ noFailedWorkflows: true }));

const enroll = (ownership: 'personal' | 'corporate', email?: string) => enrollSimulatedDevice(stack, { ownership, ...(email ? { email } : {}) });

const profileOf = (cmd: MdmCommand) => parsePlist(Buffer.from(cmd.Command.Payload as Uint8Array));
const policies = (id: string) => stack.admin(`/api/v1/enrollments/${id}/policies`).then(json);

describe('policies', () => {
  let everyone: string;

  it('apply to a device after it enrolls, with ignored passcode keys reported', async () => {
    const created = await stack.admin('/api/v1/policies', {
      method: 'POST',
      body: JSON.stringify({
        name: 'Baseline',
        assignTo: { all: true },
        profile: { displayName: 'Baseline', payloads: [{ kind: 'restrictions', siri: false, screenCapture: false }, { kind: 'passcode', minLength: 10 }] },
      }),
    });
    expect(created.status).toBe(201);
    everyone = (await json(created)).id;

    const e = await enroll('personal');
    const ran = await e.device.processCommands();
    expect(ran.map((c) => c.Command.RequestType)).toEqual(['SecurityInfo', 'DeviceInformation', 'InstallProfile']);
    const profile = profileOf(ran[2]!);
    expect(profile.PayloadIdentifier).toBe(`com.tandem.policy.${everyone}`);
    const applied = await eventually(async () => {
      const p = await policies(e.id);
      return p.items[0]?.status === 'acknowledged' ? p : undefined;
    });
    expect(applied.items[0]).toMatchObject({ name: 'Baseline', version: 1, refused: null });
    expect(applied.items[0].notes.some((n: any) => n.kind === 'ignored_on_user_enrollment')).toBe(true);
  });

  it('re-apply to enrolled devices when they change', async () => {
    const e = await enroll('personal');
    await e.device.processCommands();
    const pushesBefore = stack.apns.pushes.filter((p) => p.token === e.device.pushToken.toString('hex')).length;
    const changed = await stack.admin(`/api/v1/policies/${everyone}`, {
      method: 'PUT',
      body: JSON.stringify({ name: 'Baseline', assignTo: { all: true }, profile: { displayName: 'Baseline v2', payloads: [{ kind: 'restrictions', siri: true }] } }),
    });
    expect(await json(changed)).toMatchObject({ id: everyone, version: 2 });
    await eventually(async () => (stack.apns.pushes.filter((p) => p.token === e.device.pushToken.toString('hex')).length > pushesBefore ? true : undefined));
    const ran = await e.device.processCommands();
    expect(ran.map((c) => c.Command.RequestType)).toEqual(['InstallProfile']);
    expect(profileOf(ran[0]!).PayloadDisplayName).toBe('Baseline v2');
    await eventually(async () => ((await policies(e.id)).items.find((i: any) => i.version === 2)?.status === 'acknowledged' ? true : undefined));
    await keepHistory(stack.client, e.workflowId, 'lifecycle-policies-reapplied');
  });

  it('reach only their group, and are refused where the enrollment type forbids them', async () => {
    const email = `sales.${tag()}@example.com`;
    await stack.admin('/api/v1/users', {
      method: 'POST',
      body: JSON.stringify({ users: [{ name: 'Sales Person', email, managedAppleId: `sales.${tag()}@acme.example`, groups: ['sales'] }] }),
    });
    const groupPolicy = await json(
      await stack.admin('/api/v1/policies', {
        method: 'POST',
        body: JSON.stringify({ name: 'Sales camera off', assignTo: { group: 'sales' }, profile: { displayName: 'Camera', payloads: [{ kind: 'restrictions', keys: { allowCamera: false } }] } }),
      }),
    );
    const inGroup = await enroll('corporate', email);
    const outside = await enroll('corporate');
    const ranIn = await inGroup.device.processCommands();
    const installs = ranIn.filter((c) => c.Command.RequestType === 'InstallProfile').map((c) => profileOf(c).PayloadIdentifier);
    expect(installs).toContain(`com.tandem.policy.${groupPolicy.id}`);
    const ranOut = await outside.device.processCommands();
    expect(ranOut.filter((c) => c.Command.RequestType === 'InstallProfile').map((c) => profileOf(c).PayloadIdentifier)).not.toContain(`com.tandem.policy.${groupPolicy.id}`);

    // The same policy on a user-enrolled device of the group is refused by name, not sent.
    const ueEmail = `sales.ue.${tag()}@example.com`;
    await stack.admin('/api/v1/users', {
      method: 'POST',
      body: JSON.stringify({ users: [{ name: 'Sales BYOD', email: ueEmail, managedAppleId: `salesue.${tag()}@acme.example`, groups: ['sales'] }] }),
    });
    const ue = await enroll('personal', ueEmail);
    const ranUe = await ue.device.processCommands();
    expect(ranUe.filter((c) => c.Command.RequestType === 'InstallProfile').map((c) => profileOf(c).PayloadIdentifier)).not.toContain(`com.tandem.policy.${groupPolicy.id}`);
    const refused = (await policies(ue.id)).items.find((i: any) => i.policyId === groupPolicy.id);
    expect(refused).toMatchObject({ status: 'refused', refused: { code: 'forbidden_key' } });
    expect(refused.refused.message).toContain('allowCamera');
  });

  it('lists and deletes', async () => {
    const listed = await json(await stack.admin('/api/v1/policies'));
    expect(listed.items.map((p: any) => p.name)).toEqual(expect.arrayContaining(['Baseline', 'Sales camera off']));
    expect((await stack.admin(`/api/v1/policies/${everyone}`, { method: 'DELETE' })).status).toBe(204);
    expect((await stack.admin(`/api/v1/policies/${everyone}`, { method: 'DELETE' })).status).toBe(404);
  });
});
