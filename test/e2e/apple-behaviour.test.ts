/**
 * Where Tandem meets Apple, against local fakes that behave like Apple: the Apps and Books server
 * tests the notification URL during client/config and decides installs like the App Store; the
 * simulated iPhone asks it before a volume-purchase install.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createVppClient } from '../../integrations/apple/vpp/client.js';
import { createSandboxPushCertificate } from '../../mdm/certificates.js';
import type { SimulatedDevice } from '../../scripts/simulator/device.js';
import { enrollSimulatedDevice } from '../support/enroll.js';
import { AGENT_ADAM_ID, AGENT_BUNDLE_ID, eventually, startTestStack, type TestStack } from '../support/stack.js';

let stack: TestStack;
const json = async (res: Response): Promise<any> => res.json();

beforeAll(async () => {
  stack = await startTestStack();
}, 120_000);
afterAll(() => stack?.stop());

async function untilAgent(e: { id: string; device: SimulatedDevice }, status: string, timeoutMs = 30_000) {
  return eventually(
    async () => {
      await e.device.processCommands();
      const d = await json(await stack.admin(`/api/v1/enrollments/${e.id}`));
      return d.agent?.status === status ? d : undefined;
    },
    { timeoutMs, intervalMs: 150 },
  );
}

describe('Apps and Books token upload', { timeout: 60_000 }, () => {
  it("answers Apple's test notification, sent during client/config with the new token, and keeps only that token", async () => {
    const res = await stack.admin('/api/v1/settings/vpp', {
      method: 'PUT',
      body: JSON.stringify({ sToken: stack.vpp.sToken, agent: { adamId: AGENT_ADAM_ID, bundleId: AGENT_BUNDLE_ID } }),
    });
    expect(res.status, await res.clone().text()).toBe(200);
    // The local server, like Apple, refused the configuration unless its TEST_NOTIFICATION got a 2xx.
    expect(stack.vpp.testNotifications).toEqual([expect.objectContaining({ url: `${stack.baseUrl}/vpp/notifications`, status: 200 })]);
    const received = await stack.database.db.selectFrom('vpp_notifications').select(['notification_id', 'notification_type']).execute();
    expect(received).toEqual([{ notification_id: stack.vpp.testNotifications[0]!.notificationId, notification_type: 'TEST_NOTIFICATION' }]);

    // The token Apple now holds is the confirmed one; nothing is left pending.
    const { notificationAuthToken } = await createVppClient({ baseUrl: stack.vpp.baseUrl, sToken: stack.vpp.sToken }).getClientConfig();
    const notify = (token: string) =>
      fetch(`${stack.baseUrl}/vpp/notifications`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ notificationId: randomUUID(), notificationType: 'ASSET_COUNT', notification: {} }),
      });
    expect((await notify(notificationAuthToken!)).status).toBe(200);
    expect((await notify('not-the-token')).status).toBe(403);
    const pending = await stack.database.db.selectFrom('secrets').select('name').where('name', 'like', 'vpp.notification-token%').execute();
    expect(pending.map((r) => r.name)).toEqual(['vpp.notification-token']);
  });
});

describe('licences by enrollment type', { timeout: 90_000 }, () => {
  it('a device-enrolled (corporate) device gets a device licence for its serial number, installs, and returns it on disenrollment', async () => {
    const e = await enrollSimulatedDevice(stack, { ownership: 'corporate', apps: [{ adamId: AGENT_ADAM_ID, bundleId: AGENT_BUNDLE_ID, statuses: ['Managed'] }], waitForPush: false });
    const serialNumber = e.device.hardware.serialNumber;
    const detail = await untilAgent(e, 'installed');
    expect(detail.agent).toMatchObject({ licence: 'assigned' });
    // A device licence, and no VPP user (it would stay Registered: no Managed Apple Account to associate).
    expect(stack.vpp.installCheck(AGENT_ADAM_ID, { serialNumber })).toEqual({ installable: true, licence: 'device' });
    expect(stack.vpp.user(e.userId)).toBeUndefined();
    const associate = stack.vpp.requests.filter((r) => r.path.endsWith('/assets/associate') && JSON.stringify(r.body).includes(serialNumber));
    expect(associate).toHaveLength(1);
    expect(associate[0]!.body).not.toHaveProperty('clientUserIds');

    const assigned = stack.vpp.assignedCount(AGENT_ADAM_ID);
    await stack.admin(`/api/v1/enrollments/${e.id}/disenroll`, { method: 'POST' });
    const gone = await eventually(
      async () => {
        await e.device.processCommands().catch(() => undefined);
        const d = await json(await stack.admin(`/api/v1/enrollments/${e.id}`));
        return d.status === 'disenrolled' ? d : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    expect(gone.status).toBe('disenrolled');
    // The final state comes first; the licence release follows it.
    await eventually(async () => ((await json(await stack.admin(`/api/v1/enrollments/${e.id}`))).agent.licence === 'released' ? true : undefined), { timeoutMs: 30_000, intervalMs: 200 });
    expect(stack.vpp.assignedCount(AGENT_ADAM_ID)).toBe(assigned - 1);
    expect(stack.vpp.installCheck(AGENT_ADAM_ID, { serialNumber })).toMatchObject({ installable: false });
  });

  it('a user-enrolled device still gets a user licence through its Managed Apple Account', async () => {
    const e = await enrollSimulatedDevice(stack, { apps: [{ adamId: AGENT_ADAM_ID, bundleId: AGENT_BUNDLE_ID, statuses: ['Managed'] }], waitForPush: false });
    await untilAgent(e, 'installed');
    expect(stack.vpp.user(e.userId)).toMatchObject({ status: 'Associated' });
    expect(stack.vpp.licensesOf(e.userId)).toEqual([{ adamId: AGENT_ADAM_ID, pricingParam: 'STDQ' }]);
    expect(stack.vpp.installCheck(AGENT_ADAM_ID, { managedAppleId: e.managedAppleId! })).toEqual({ installable: true, licence: 'user' });
  });
});

describe('enrollment profile', { timeout: 60_000 }, () => {
  it('advertises only server capabilities the check-in endpoint serves', async () => {
    const e = await enrollSimulatedDevice(stack, { waitForPush: false });
    const mdm = (e.device.installed!.profile.PayloadContent as Record<string, unknown>[]).find((p) => p.PayloadType === 'com.apple.mdm')!;
    const capabilities = (mdm.ServerCapabilities as string[] | undefined) ?? [];
    const getToken = await e.device.checkIn({ MessageType: 'GetToken', TokenServiceType: 'com.apple.maid' });
    // com.apple.mdm.token promises GetToken; Tandem answers it 400, so it must not be promised.
    if (capabilities.includes('com.apple.mdm.token')) expect(getToken.status).toBe(200);
    else expect(getToken.status).toBe(400);
    expect(capabilities).toEqual([]);
  });
});

// Last: it replaces the push topic every other test's device was enrolled with.
describe('push certificate replacement', { timeout: 60_000 }, () => {
  it('refuses a certificate for another topic (409 apns_topic_changed) unless replaceTopic is sent', async () => {
    const current = await json(await stack.admin('/api/v1/settings/apns'));
    const enrolled = Number((await stack.database.db.selectFrom('devices').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow()).n);
    expect(enrolled).toBeGreaterThan(0);
    const other = createSandboxPushCertificate({ topic: `com.apple.mgmt.External.${randomUUID()}` });
    const upload = (extra: Record<string, unknown> = {}) =>
      stack.admin('/api/v1/settings/apns', { method: 'PUT', body: JSON.stringify({ certificate: other.certPem, privateKey: other.keyPem, ...extra }) });

    const refused = await upload();
    expect(refused.status).toBe(409);
    const { error } = await json(refused);
    expect(error).toMatchObject({ code: 'apns_topic_changed', details: { currentTopic: current.topic, newTopic: expect.stringMatching(/^com\.apple\.mgmt\.External\./) } });
    expect(error.details.enrolledDevices).toBeGreaterThan(0);
    expect(error.message).toContain(current.topic);
    expect(error.message).toContain(error.details.newTopic);
    expect(error.message).toContain(String(error.details.enrolledDevices));
    expect((await json(await stack.admin('/api/v1/settings/apns'))).topic).toBe(current.topic);

    // Renewing the same topic needs nothing.
    const renewed = await stack.admin('/api/v1/settings/apns', { method: 'PUT', body: JSON.stringify({ certificate: stack.pushCertificate.certPem, privateKey: stack.pushCertificate.keyPem }) });
    expect(renewed.status).toBe(200);

    const replaced = await upload({ replaceTopic: true });
    expect(replaced.status, await replaced.clone().text()).toBe(200);
    expect((await json(replaced)).topic).toBe(error.details.newTopic);
  });
});
