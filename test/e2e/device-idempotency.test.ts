/**
 * Repeats have one effect: devices resend check-ins and command results on their own schedule
 * (often at the same moment), and admins retry requests. Each case sends the repeats concurrently,
 * so the database's uniqueness and row conditions are what is tested, not the order of arrival.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enrollmentWorkflowId } from '../../workflows/messages.js';
import { enrollSimulatedDevice, type EnrolledDevice } from '../support/enroll.js';
import { eventually, startTestStack, type TestStack } from '../support/stack.js';
import { untilSettled } from '../support/workflow-settled.js';

let stack: TestStack;
let enrolled: EnrolledDevice;
const json = async (res: Response): Promise<any> => res.json();

beforeAll(async () => {
  stack = await startTestStack();
  enrolled = await enrollSimulatedDevice(stack);
  await enrolled.device.processCommands(); // the post-enrollment queries: the queue is empty now
});
afterAll(() => stack?.stop({ noFailedWorkflows: true }));

const eventsOf = async (enrollmentId: string, type: string) =>
  (await stack.database.db.selectFrom('outbox').select('payload').where('workflow_id', '=', enrollmentWorkflowId(enrollmentId)).execute()).filter(
    (r) => (r.payload as { event?: { type: string } }).event?.type === type,
  );

describe('repeated messages have one effect', () => {
  it('a first TokenUpdate sent four times at once is one event, and the enrollment is enrolled once', async () => {
    const { id, device } = await enrollSimulatedDevice(stack, { stopAfterAuthenticate: true });
    // The four copies race to insert the same event: the unique dedupe key lets one through.
    const results = await Promise.all([1, 2, 3, 4].map(() => device.tokenUpdate()));
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect(await eventsOf(id, 'token_updated')).toHaveLength(1);
    const detail = await eventually(async () => {
      const d = await json(await stack.admin(`/api/v1/enrollments/${id}`));
      return d.status === 'enrolled' ? d : undefined;
    });
    expect(detail.timeline.filter((t: any) => t.to === 'enrolled')).toHaveLength(1);
  });

  it('a command result resent at once, and a late contradicting one, leave the first result standing', async () => {
    const res = await stack.admin(`/api/v1/enrollments/${enrolled.id}/actions`, { method: 'POST', body: JSON.stringify({ type: 'device_lock', message: 'Locked by IT' }) });
    expect(res.status).toBe(202);
    const { commandUuid } = await json(res);
    await stack.apns.waitFor((p) => p.token === enrolled.device.pushToken.toString('hex') && p.at.getTime() > Date.now() - 10_000, 15_000);
    const command = await enrolled.device.report({ Status: 'Idle' });
    expect(command?.CommandUUID).toBe(commandUuid);

    const answers = await Promise.all([1, 2, 3].map(() => enrolled.device.report({ CommandUUID: commandUuid, Status: 'Acknowledged' })));
    expect(answers).toEqual([undefined, undefined, undefined]); // nothing else queued
    const first = await stack.database.db.selectFrom('command_queue').select(['status', 'result_status', 'answered_at']).where('command_uuid', '=', commandUuid).executeTakeFirstOrThrow();
    expect(first).toMatchObject({ status: 'acknowledged', result_status: 'Acknowledged' });

    await enrolled.device.report({ CommandUUID: commandUuid, Status: 'Error', ErrorChain: [{ ErrorCode: 12021, ErrorDomain: 'MCMDMErrorDomain' }] });
    const after = await stack.database.db.selectFrom('command_queue').select(['status', 'result_status', 'answered_at']).where('command_uuid', '=', commandUuid).executeTakeFirstOrThrow();
    expect(after).toEqual(first);
    const history = await json(await stack.admin(`/api/v1/enrollments/${enrolled.id}/commands`));
    expect(history.items.filter((c: any) => c.commandUuid === commandUuid)).toHaveLength(1);

    // Contradicting results at the same moment: one of them is stored whole, never a mix.
    const second = await json(await stack.admin(`/api/v1/enrollments/${enrolled.id}/actions`, { method: 'POST', body: JSON.stringify({ type: 'device_lock', message: 'Again' }) }));
    await eventually(async () => ((await enrolled.device.report({ Status: 'Idle' }))?.CommandUUID === second.commandUuid ? true : undefined));
    await Promise.all([
      enrolled.device.report({ CommandUUID: second.commandUuid, Status: 'Acknowledged' }),
      enrolled.device.report({ CommandUUID: second.commandUuid, Status: 'Error', ErrorChain: [{ ErrorCode: 12021, ErrorDomain: 'MCMDMErrorDomain' }] }),
    ]);
    const settled = await stack.database.db.selectFrom('command_queue').select(['status', 'result_status', 'result']).where('command_uuid', '=', second.commandUuid).executeTakeFirstOrThrow();
    expect([['acknowledged', 'Acknowledged'], ['error', 'Error']]).toContainEqual([settled.status, settled.result_status]);
    expect((settled.result as { Status?: string }).Status).toBe(settled.result_status);
  });

  it('a result for a command the device was never sent is taken and ignored', async () => {
    const before = await stack.database.db.selectFrom('command_queue').select(['command_uuid', 'status']).orderBy('id').execute();
    expect(await enrolled.device.report({ CommandUUID: '5B4E8D34-6E0B-4C43-9A5F-2D7C1E7A9F10', Status: 'Acknowledged' })).toBeUndefined();
    expect(await stack.database.db.selectFrom('command_queue').select(['command_uuid', 'status']).orderBy('id').execute()).toEqual(before);
  });

  it('five concurrent creates with one Idempotency-Key make one enrollment and one invite', async () => {
    const email = `idem.${Date.now()}@example.com`;
    const body = JSON.stringify({ user: { name: 'Idem User', email }, channel: 'email', ownership: 'personal', authMode: 'open', managedAppleId: `idem.${Date.now()}@acme.example` });
    const responses = await Promise.all([1, 2, 3, 4, 5].map(() => stack.admin('/api/v1/enrollments', { method: 'POST', body, headers: { 'idempotency-key': `burst-${email}` } })));
    expect(responses.map((r) => r.status).sort()).toEqual([200, 200, 200, 200, 201]);
    const ids = new Set(await Promise.all(responses.map(async (r) => (await json(r)).id as string)));
    expect(ids.size).toBe(1);
    await stack.smtp.waitFor((m) => m.to.includes(email), 15_000);
    // The enrollment workflow has delivered and waits for nothing soon: a second invite would be here.
    const settled = await untilSettled(stack.client, enrollmentWorkflowId([...ids][0]!));
    expect(settled.activitiesScheduled('deliverInvite')).toBe(1);
    expect(stack.smtp.messages.filter((m) => m.to.includes(email))).toHaveLength(1);
    await eventually(async () => ((await stack.database.db.selectFrom('outbox').select('id').where('workflow_id', '=', enrollmentWorkflowId([...ids][0]!)).execute()).length === 1 ? true : undefined));
  });

  it('two concurrent invites for one new person make one user, not a server error', async () => {
    const email = `twin.${Date.now()}@example.com`;
    const body = JSON.stringify({ user: { name: 'Twin User', email }, channel: 'email', ownership: 'personal', authMode: 'open', managedAppleId: `twin.${Date.now()}@acme.example` });
    const responses = await Promise.all([1, 2].map(() => stack.admin('/api/v1/enrollments', { method: 'POST', body })));
    for (const r of responses) expect([201, 409], await r.clone().text()).toContain(r.status);
    const users = await stack.database.db.selectFrom('users').select('id').where('email', '=', email).execute();
    expect(users).toHaveLength(1);
  });
});
