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
import { recordAppEvent } from '../../db/outbox.js';
import type { appDeploymentWorkflow } from '../../workflows/app-deployment.js';
import { agentDefaults, appDeploymentWorkflowId, type AppEvent } from '../../workflows/messages.js';
import { untilSettled } from '../support/workflow-settled.js';

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
    await keepHistory(stack.client, e.workflowId, 'lifecycle-with-agent');
  });

  it('records a denial, does not retry by itself, and installs after an admin sync', async () => {
    const e = await enroll(['Prompting', 'UserRejected']);
    await untilAgent(e, 'denied');
    const installsBefore = e.device.received.filter((c) => c.Command.RequestType === 'InstallApplication').length;
    // The deployment has nothing scheduled (no activity, no timer soon): only a signal moves it now.
    await untilSettled(stack.client, appDeploymentWorkflowId(e.id, AGENT_ADAM_ID));
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
    expect(gone.agent.status).toBe('cancelled');
    // The final state comes first; the licence release follows it (retried through VPP's 503 and 500).
    await eventually(async () => ((await json(await stack.admin(`/api/v1/enrollments/${e.id}`))).agent.licence === 'released' ? true : undefined), { timeoutMs: 30_000, intervalMs: 200 });
    expect(stack.vpp.assignedCount(AGENT_ADAM_ID)).toBe(assigned - 1);
    expect(stack.vpp.licensesOf(e.userId)).toEqual([]);
    await keepHistory(stack.client, appDeploymentWorkflowId(e.id, AGENT_ADAM_ID), 'agent-cancelled-by-disenrollment');
    await keepHistory(stack.client, e.workflowId, 'lifecycle-disenrolled-while-agent-prompts');
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

describe('the device drives the deployment (appDeploymentWorkflow)', { timeout: 90_000 }, () => {
  const NOTES_ADAM_ID = '555000111';
  const NOTES_BUNDLE_ID = 'com.acme.notes';

  /** Starts the deployment as the enrollment workflow does, with test-sized durations. */
  async function deploy(enrollmentId: string) {
    return stack.client.workflow.start<typeof appDeploymentWorkflow>('appDeploymentWorkflow', {
      taskQueue: stack.env.TEMPORAL_TASK_QUEUE,
      workflowId: appDeploymentWorkflowId(enrollmentId, NOTES_ADAM_ID),
      args: [{ enrollmentId, adamId: NOTES_ADAM_ID, bundleId: NOTES_BUNDLE_ID, ...agentDefaults, recheckInitialMs: 300, recheckMaxMs: 1_000, reminderEveryMs: 60_000 }],
    });
  }
  const notes = async (enrollmentId: string) =>
    stack.database.db.selectFrom('app_deployments').selectAll().where('enrollment_id', '=', enrollmentId).where('adam_id', '=', NOTES_ADAM_ID).executeTakeFirst();
  /** The device's answers as the workflow received them (its signals). */
  async function deviceSignals(workflowId: string): Promise<AppEvent[]> {
    const history = await stack.client.workflow.getHandle(workflowId).fetchHistory();
    return (history.events ?? [])
      .filter((e) => e.workflowExecutionSignaledEventAttributes)
      .map((e) => JSON.parse(Buffer.from(e.workflowExecutionSignaledEventAttributes!.input!.payloads![0]!.data!).toString('utf8')) as AppEvent);
  }
  /** The device answers whatever arrives (as pushes make it) until the app reaches `status`. */
  const untilNotes = (e: { id: string; device: SimulatedDevice }, status: string) =>
    eventually(
      async () => {
        await e.device.processCommands();
        const row = await notes(e.id);
        return row?.status === status ? row : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 150 },
    );

  it('learns the approval from the device: one signal per change, a repeated Prompting costs nothing', async () => {
    stack.vpp.setLicenses(NOTES_ADAM_ID, 10);
    const e = await enroll(['Managed']);
    await untilAgent(e, 'installed');
    e.device.apps.set(Number(NOTES_ADAM_ID), { bundleId: NOTES_BUNDLE_ID, statuses: ['Prompting', 'Prompting', 'Prompting', 'Managed'] });
    const handle = await deploy(e.id);
    await untilNotes(e, 'installed');
    expect(await handle.result()).toEqual({ status: 'installed' });
    const install = e.device.received.find((c) => c.Command.RequestType === 'InstallApplication' && c.Command.iTunesStoreID === Number(NOTES_ADAM_ID))!;
    expect(install.Command).toMatchObject({ Options: { PurchaseMethod: 1 } });
    // The InstallApplication result said Prompting; two re-checks said it again (no signal); the third said Managed.
    const signals = await deviceSignals(handle.workflowId);
    expect(signals).toEqual([
      { type: 'device_status', status: 'Prompting', installCommandUuid: install.CommandUUID },
      { type: 'device_status', status: 'Managed', installCommandUuid: install.CommandUUID },
    ]);
    const rechecks = e.device.received.filter((c) => c.Command.RequestType === 'ManagedApplicationList' && (c.Command.Identifiers as string[] | undefined)?.includes(NOTES_BUNDLE_ID));
    expect(rechecks.length).toBeGreaterThanOrEqual(3);
    const row = (await notes(e.id))!;
    expect(row.history.map((h) => h.status)).toEqual(['licensing', 'installing', 'prompting', 'installed']);
    expect(row.history.find((h) => h.status === 'prompting')!.detail).toBe('Prompting');
    await keepHistory(stack.client, handle.workflowId, 'app-deployment-approved');
  });

  it('learns a decline from the device, waits without re-sending, and installs after a sync through the outbox', async () => {
    const e = await enroll(['Managed']);
    await untilAgent(e, 'installed');
    e.device.apps.set(Number(NOTES_ADAM_ID), { bundleId: NOTES_BUNDLE_ID, statuses: ['Prompting', 'UserRejected'] });
    const handle = await deploy(e.id);
    await untilNotes(e, 'denied');
    await eventually(async () => ((await deviceSignals(handle.workflowId)).some((s) => s.type === 'device_status' && s.status === 'UserRejected') ? true : undefined));
    // Waiting for a person: no timer, no re-check, no new install while it waits.
    const { pendingActivities } = await handle.describe().then((d) => d.raw);
    expect(pendingActivities ?? []).toHaveLength(0);
    const installs = () => e.device.received.filter((c) => c.Command.RequestType === 'InstallApplication' && c.Command.iTunesStoreID === Number(NOTES_ADAM_ID)).length;
    expect(installs()).toBe(1);

    e.device.apps.set(Number(NOTES_ADAM_ID), { bundleId: NOTES_BUNDLE_ID, statuses: ['Prompting', 'Managed'] });
    await recordAppEvent(stack.database.db, e.id, NOTES_ADAM_ID, { type: 'sync' }, `test-sync:${e.id}`);
    await untilNotes(e, 'installed');
    expect(await handle.result()).toEqual({ status: 'installed' });
    expect(installs()).toBe(2);
    const row = (await notes(e.id))!;
    expect(row.history.map((h) => h.status)).toEqual(['licensing', 'installing', 'prompting', 'denied', 'licensing', 'installing', 'prompting', 'installed']);
    await keepHistory(stack.client, handle.workflowId, 'app-deployment-declined-then-synced');
  });

  it('stops without a token, tells the enrollment, and resumes by itself when a token is uploaded', async () => {
    const e = await enroll(['Managed']);
    await untilAgent(e, 'installed');
    e.device.apps.set(Number(NOTES_ADAM_ID), { bundleId: NOTES_BUNDLE_ID, statuses: ['Managed'] });
    await stack.database.db.deleteFrom('secrets').where('name', '=', 'vpp.token').execute(); // as before the first upload
    const handle = await deploy(e.id);
    await untilNotes(e, 'vpp_not_configured');
    const attention = await stack.database.db.selectFrom('outbox').select('payload').where('workflow_id', '=', e.workflowId).where('dedupe_key', 'like', '%:app-attention:%').execute();
    expect(attention.map((a) => a.payload.event)).toEqual([{ type: 'app_attention', adamId: NOTES_ADAM_ID, reason: 'vpp_not_configured' }]);

    const res = await stack.admin('/api/v1/settings/vpp', { method: 'PUT', body: JSON.stringify({ sToken: stack.vpp.sToken }) });
    expect(res.status, await res.clone().text()).toBe(200);
    await untilNotes(e, 'installed');
    expect(await handle.result()).toEqual({ status: 'installed' });
    const cleared = await stack.database.db.selectFrom('outbox').select('payload').where('workflow_id', '=', e.workflowId).where('dedupe_key', 'like', '%:app-attention-cleared:%').execute();
    expect(cleared.map((a) => a.payload.event)).toEqual([{ type: 'app_attention_cleared', adamId: NOTES_ADAM_ID }]);
    await keepHistory(stack.client, handle.workflowId, 'app-deployment-token-missing-then-uploaded');
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
