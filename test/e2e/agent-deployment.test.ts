/**
 * The agent app through Apps and Books, against a local VPP server speaking Apple's JSON and the
 * simulator answering ManagedApplicationList: approved → installed; declined → denied until an
 * admin sync; no licences → waiting → purchased → installed; 429 Retry-After honoured; an expired
 * token surfaces to the admin; disenrolling mid-prompt cancels the deployment and returns the
 * licence even when VPP fails twice first.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SimulatedDevice } from '../../scripts/simulator/device.js';
import { enrollSimulatedDevice } from '../support/enroll.js';
import { AGENT_ADAM_ID, AGENT_BUNDLE_ID, eventually, startTestStack, type TestStack } from '../support/stack.js';
import { keepHistory } from '../support/history-fixtures.js';
import { appDeploymentWorkflowId } from '../../workflows/messages.js';

let stack: TestStack;
const json = async (res: Response): Promise<any> => res.json();

beforeAll(async () => {
  stack = await startTestStack();
  const res = await stack.admin('/api/v1/settings/vpp', {
    method: 'PUT',
    body: JSON.stringify({ sToken: stack.vpp.sToken, agent: { adamId: AGENT_ADAM_ID, bundleId: AGENT_BUNDLE_ID } }),
  });
  expect(res.status, await res.clone().text()).toBe(200);
  expect(await json(res)).toMatchObject({ orgName: 'Acme', agent: { adamId: AGENT_ADAM_ID }, warnings: [] });
  // Tandem claimed the location and asked Apple to notify it.
  const claim = stack.vpp.requests.find((r) => r.path.endsWith('/client/config') && r.method === 'POST');
  expect(claim?.body).toMatchObject({ notificationUrl: `${stack.baseUrl}/vpp/notifications` });
});
afterAll(() => stack?.stop({ noFailedWorkflows: true }));

/** Enrolls a simulated iPhone whose install prompt goes through `statuses`. */
const enroll = (statuses: string[]) =>
  enrollSimulatedDevice(stack, { apps: [{ adamId: AGENT_ADAM_ID, bundleId: AGENT_BUNDLE_ID, statuses }], waitForPush: false });

/** Lets the device answer what arrives (as pushes would make it) until the agent reaches `status`. */
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

describe('agent app deployment', { timeout: 90_000 }, () => {
  it('installs once the user approves the prompt, with a user licence and reminders while it waits', async () => {
    const e = await enroll(['Prompting', 'Prompting', 'Prompting', 'Prompting', 'Prompting', 'Managed']);
    const detail = await untilAgent(e, 'installed');
    expect(detail.agent).toMatchObject({ adamId: AGENT_ADAM_ID, bundleId: AGENT_BUNDLE_ID, licence: 'assigned' });
    const statuses = detail.agent.history.map((h: any) => h.status);
    expect(statuses).toEqual(expect.arrayContaining(['licensing', 'installing', 'prompting', 'installed']));
    expect(detail.agent.history.find((h: any) => h.status === 'prompting').detail).toBe('Prompting');
    expect(stack.vpp.licensesOf(e.userId)).toEqual([{ adamId: AGENT_ADAM_ID, pricingParam: 'STDQ' }]);
    const install = e.device.received.find((c) => c.Command.RequestType === 'InstallApplication')!;
    expect(install.Command).toMatchObject({ iTunesStoreID: Number(AGENT_ADAM_ID), Options: { PurchaseMethod: 1 } });
    await stack.smtp.waitFor((m) => m.to.includes(e.email) && /approve/i.test(m.subject), 15_000);
    await keepHistory(stack.client, appDeploymentWorkflowId(e.id, AGENT_ADAM_ID), 'agent-approved');
    await keepHistory(stack.client, e.workflowId, 'enrollment-with-agent');
  });

  it('records a denial, does not retry by itself, and installs after an admin sync', async () => {
    const e = await enroll(['Prompting', 'UserRejected']);
    await untilAgent(e, 'denied');
    const installsBefore = e.device.received.filter((c) => c.Command.RequestType === 'InstallApplication').length;
    await new Promise((r) => setTimeout(r, 1500));
    await e.device.processCommands();
    expect(e.device.received.filter((c) => c.Command.RequestType === 'InstallApplication').length).toBe(installsBefore);
    expect((await json(await stack.admin(`/api/v1/enrollments/${e.id}`))).agent.status).toBe('denied');

    e.device.apps.set(Number(AGENT_ADAM_ID), { bundleId: AGENT_BUNDLE_ID, statuses: ['Prompting', 'Managed'] });
    expect((await stack.admin(`/api/v1/enrollments/${e.id}/agent/sync`, { method: 'POST' })).status).toBe(202);
    await untilAgent(e, 'installed');
    await keepHistory(stack.client, appDeploymentWorkflowId(e.id, AGENT_ADAM_ID), 'agent-denied-then-synced');
  });

  it('waits for licences, and resumes when they are purchased', async () => {
    stack.vpp.setLicenses(AGENT_ADAM_ID, stack.vpp.assignedCount(AGENT_ADAM_ID));
    const e = await enroll(['Prompting', 'Managed']);
    await untilAgent(e, 'waiting_for_licences');
    stack.vpp.setLicenses(AGENT_ADAM_ID, 50);
    const resumed = await json(await stack.admin('/api/v1/settings/vpp/licences-purchased', { method: 'POST' }));
    expect(resumed.resumed).toBeGreaterThanOrEqual(1);
    await untilAgent(e, 'installed');
    await keepHistory(stack.client, appDeploymentWorkflowId(e.id, AGENT_ADAM_ID), 'agent-waiting-for-licences');
  });

  it('honours a 429 Retry-After from Apple', async () => {
    stack.vpp.rateLimitNext(2);
    const e = await enroll(['Managed']);
    await untilAgent(e, 'installed');
    const limited = stack.vpp.requests.find((r) => r.status === 429)!;
    const next = stack.vpp.requests.find((r) => r.at > limited.at && r.authorized)!;
    expect(next.at.getTime() - limited.at.getTime()).toBeGreaterThanOrEqual(1900);
  });

  it('disenrolling while the prompt waits cancels the deployment and returns the licence (after VPP failed twice)', async () => {
    const e = await enroll(['Prompting']);
    await untilAgent(e, 'prompting');
    const assigned = stack.vpp.assignedCount(AGENT_ADAM_ID);
    stack.vpp.failNext(503, { retryAfter: 1 });
    stack.vpp.failNext(500);
    await stack.admin(`/api/v1/enrollments/${e.id}/disenroll`, { method: 'POST' });
    const gone = await eventually(async () => {
      await e.device.processCommands().catch(() => undefined); // confirms RemoveProfile; refused (403) once gone
      const d = await json(await stack.admin(`/api/v1/enrollments/${e.id}`));
      return d.status === 'disenrolled' ? d : undefined;
    }, { timeoutMs: 30_000, intervalMs: 200 });
    expect(gone.agent).toMatchObject({ status: 'cancelled', licence: 'released' });
    expect(stack.vpp.assignedCount(AGENT_ADAM_ID)).toBe(assigned - 1);
    expect(stack.vpp.licensesOf(e.userId)).toEqual([]);
    await keepHistory(stack.client, appDeploymentWorkflowId(e.id, AGENT_ADAM_ID), 'agent-cancelled-by-disenrollment');
    await keepHistory(stack.client, e.workflowId, 'enrollment-disenrolled-while-agent-prompts');
  });

});

describe('any Apps and Books app', { timeout: 90_000 }, () => {
  const OTHER_ADAM_ID = '987654321';
  const OTHER_BUNDLE_ID = 'com.acme.expenses';

  it('the Install Application action reuses the deployment workflow', async () => {
    stack.vpp.setLicenses(OTHER_ADAM_ID, 10);
    const e = await enroll(['Managed']);
    await untilAgent(e, 'installed');
    e.device.apps.set(Number(OTHER_ADAM_ID), { bundleId: OTHER_BUNDLE_ID, statuses: ['Prompting', 'Managed'] });
    const res = await stack.admin(`/api/v1/enrollments/${e.id}/actions`, {
      method: 'POST',
      body: JSON.stringify({ type: 'install_application', itunesStoreId: Number(OTHER_ADAM_ID), bundleId: OTHER_BUNDLE_ID }),
    });
    expect(res.status).toBe(202);
    expect(await json(res)).toMatchObject({ status: 'deploying', deployment: `app/${e.id}/${OTHER_ADAM_ID}` });
    const detail = await eventually(
      async () => {
        await e.device.processCommands();
        const d = await json(await stack.admin(`/api/v1/enrollments/${e.id}`));
        return d.apps.find((a: any) => a.adamId === OTHER_ADAM_ID)?.status === 'installed' ? d : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 150 },
    );
    expect(detail.agent.adamId).toBe(AGENT_ADAM_ID);
    expect(stack.vpp.licensesOf(e.userId).map((l) => l.adamId).sort()).toEqual([AGENT_ADAM_ID, OTHER_ADAM_ID].sort());
  });

  it('a Required Apps policy deploys its apps to every device it reaches', async () => {
    const policy = await stack.admin('/api/v1/policies', {
      method: 'POST',
      body: JSON.stringify({ name: 'Expenses for all', assignTo: { all: true }, requiredApps: [{ adamId: OTHER_ADAM_ID, bundleId: OTHER_BUNDLE_ID }] }),
    });
    expect(policy.status).toBe(201);
    const e = await enroll(['Managed']);
    e.device.apps.set(Number(OTHER_ADAM_ID), { bundleId: OTHER_BUNDLE_ID, statuses: ['Managed'] });
    await eventually(
      async () => {
        await e.device.processCommands();
        const d = await json(await stack.admin(`/api/v1/enrollments/${e.id}`));
        return d.apps.length === 2 && d.apps.every((a: any) => a.status === 'installed') ? d : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 150 },
    );
  });
});

// Last: the token stays expired for the rest of this file.
describe('an expired token', { timeout: 90_000 }, () => {
  it('surfaces an expired Apps and Books token to the admin', async () => {
    stack.vpp.expireToken();
    const e = await enroll(['Managed']);
    const detail = await untilAgent(e, 'vpp_token_invalid');
    expect(detail.agent.history.at(-1).detail).toMatch(/expired or revoked/);
    const alert = await stack.database.db.selectFrom('audit_log').select('action').where('action', '=', 'alert.vpp_token_invalid').executeTakeFirst();
    expect(alert).toBeDefined();
  });
});

describe('Apps and Books notifications', () => {
  it('refuses a wrong notification token and deduplicates by notificationId', async () => {
    const wrong = await fetch(`${stack.baseUrl}/vpp/notifications`, { method: 'POST', headers: { authorization: 'Bearer nope', 'content-type': 'application/json' }, body: '{}' });
    expect(wrong.status).toBe(403);
  });
});
