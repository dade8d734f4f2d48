/**
 * The device's answers about apps, as the MDM endpoint records them: the app's status and one
 * `device_status` event for its deployment workflow per change (a repeated answer is nothing),
 * attributed to the latest install attempt; and attention events for the enrollment when a
 * deployment starts or stops needing a person.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordDeviceAppAnswer, writeAppStatus, type DeviceAnswer } from '../../db/app-deployments.js';
import { enqueueCommand } from '../../db/commands.js';
import { generateMasterKey, SecretBox } from '../../security/secret-box.js';
import { appDeploymentWorkflowId, enrollmentWorkflowId } from '../../workflows/messages.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

let t: TestDatabase;
const box = new SecretBox(generateMasterKey());
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(() => t?.stop());

const ADAM = '555000111';
const BUNDLE = 'com.acme.notes';

async function seed(kind: 'user' | 'device' = 'user') {
  const userId = crypto.randomUUID();
  const enrollmentId = crypto.randomUUID();
  await t.db.insertInto('users').values({ id: userId, name: 'Test User', email: `${userId}@example.com`, phone: null, managed_apple_id: null }).execute();
  await t.db
    .insertInto('enrollments')
    .values({ id: enrollmentId, user_id: userId, channel: 'email', ownership: 'personal', enrollment_type: kind, auth_mode: 'authenticated', status: 'enrolled', username: 'u', workflow_id: enrollmentWorkflowId(enrollmentId), expires_at: new Date(Date.now() + 86_400_000), created_by: 'test' })
    .execute();
  const device = await t.db.insertInto('devices').values({ enrollment_id: enrollmentId, kind, apple_enrollment_id: null }).returning('id').executeTakeFirstOrThrow();
  const app = { enrollmentId, adamId: ADAM, bundleId: BUNDLE };
  await t.db.transaction().execute((trx) => writeAppStatus(trx, app, 'installing', undefined, 'seed'));
  const install = (attempt: number) =>
    enqueueCommand(t.db, box, { deviceId: device.id, requestType: 'InstallApplication', params: { iTunesStoreID: Number(ADAM) }, idempotencyKey: `${appDeploymentWorkflowId(enrollmentId, ADAM)}:run:install:${attempt}` });
  const answer = (a: Partial<DeviceAnswer> & Pick<DeviceAnswer, 'requestType' | 'result'>) =>
    t.db.transaction().execute((trx) =>
      recordDeviceAppAnswer(trx, { deviceId: device.id, enrollmentId, commandUuid: crypto.randomUUID(), idempotencyKey: `other:${crypto.randomUUID()}`, resultStatus: 'Acknowledged', managedAppsOnly: kind === 'user', ...a }),
    );
  const signals = async () =>
    (await t.db.selectFrom('outbox').select('payload').where('workflow_id', '=', appDeploymentWorkflowId(enrollmentId, ADAM)).orderBy('id').execute()).map((r) => r.payload.event);
  const row = () => t.db.selectFrom('app_deployments').selectAll().where('enrollment_id', '=', enrollmentId).where('adam_id', '=', ADAM).executeTakeFirstOrThrow();
  return { enrollmentId, app, install, answer, signals, row };
}

const managedList = (status: string) => ({ ManagedApplicationList: { [BUNDLE]: { Status: status } } });

describe('the device answers about apps', () => {
  it('signals each change once, for the latest install attempt, and records it as the app status', async () => {
    const s = await seed();
    const first = await s.install(1);
    const key = `${appDeploymentWorkflowId(s.enrollmentId, ADAM)}:run:install:1`;
    expect(await s.answer({ requestType: 'InstallApplication', commandUuid: first, idempotencyKey: key, result: { Identifier: BUNDLE, State: 'Prompting' } })).toBe(1);
    // The same answer again, from a re-check: nothing to signal, nothing to record.
    expect(await s.answer({ requestType: 'ManagedApplicationList', result: managedList('Prompting') })).toBe(0);
    expect(await s.answer({ requestType: 'ManagedApplicationList', result: managedList('Prompting') })).toBe(0);
    expect(await s.answer({ requestType: 'ManagedApplicationList', result: managedList('UserRejected') })).toBe(1);
    // A second attempt: the same statuses are news again.
    const second = await s.install(2);
    expect(await s.answer({ requestType: 'ManagedApplicationList', result: managedList('Prompting') })).toBe(1);
    expect(await s.answer({ requestType: 'ManagedApplicationList', result: managedList('Managed') })).toBe(1);
    expect(await s.signals()).toEqual([
      { type: 'device_status', status: 'Prompting', installCommandUuid: first },
      { type: 'device_status', status: 'UserRejected', installCommandUuid: first },
      { type: 'device_status', status: 'Prompting', installCommandUuid: second },
      { type: 'device_status', status: 'Managed', installCommandUuid: second },
    ]);
    const row = await s.row();
    expect(row.status).toBe('installed');
    expect(row.history.map((h) => [h.status, h.detail])).toEqual([
      ['installing', undefined],
      ['prompting', 'Prompting'],
      ['denied', 'UserRejected'],
      ['prompting', 'Prompting'],
      ['installed', 'Managed'],
    ]);
  });

  it('reads an install error, a User Enrollment InstalledApplicationList, and never overwrites a cancelled deployment', async () => {
    const s = await seed();
    const cmd = await s.install(1);
    const key = `${appDeploymentWorkflowId(s.enrollmentId, ADAM)}:run:install:1`;
    expect(await s.answer({ requestType: 'InstallApplication', commandUuid: cmd, idempotencyKey: key, resultStatus: 'Error', result: { RejectionReason: 'AppStoreDisabled' } })).toBe(1);
    expect((await s.row()).status).toBe('failed');
    expect(await s.answer({ requestType: 'InstalledApplicationList', result: { InstalledApplicationList: [{ Identifier: 'com.other' }, { Identifier: BUNDLE }] } })).toBe(1);
    expect((await s.row()).status).toBe('installed');
    await t.db.transaction().execute((trx) => writeAppStatus(trx, s.app, 'cancelled', undefined, 'cancel'));
    expect(await s.answer({ requestType: 'ManagedApplicationList', result: managedList('Prompting') })).toBe(1); // the workflow decides
    expect((await s.row()).status).toBe('cancelled');
    // NotNow and answers about apps Tandem never installed say nothing.
    expect(await s.answer({ requestType: 'ManagedApplicationList', resultStatus: 'NotNow', result: managedList('Failed') })).toBe(0);
    const other = await seed();
    expect(await other.answer({ requestType: 'ManagedApplicationList', result: managedList('Managed') })).toBe(0);
  });

  it('ignores InstalledApplicationList on Device Enrollment, where it lists the user’s own apps too', async () => {
    const s = await seed('device');
    await s.install(1);
    expect(await s.answer({ requestType: 'InstalledApplicationList', result: { InstalledApplicationList: [{ Identifier: BUNDLE }] } })).toBe(0);
  });

  it('tells the enrollment when a deployment starts and stops needing a person, once each', async () => {
    const s = await seed();
    const write = (status: string, dedupe: string, opts = {}) => t.db.transaction().execute((trx) => writeAppStatus(trx, s.app, status, undefined, dedupe, opts));
    await write('vpp_token_invalid', 'a');
    await write('vpp_token_invalid', 'b', { onlyIfChanged: true });
    await write('licensing', 'c', { notOver: ['vpp_token_invalid'] }); // a retry that has not got past the token
    await write('installing', 'd');
    await write('prompting', 'e');
    const events = await t.db.selectFrom('outbox').select('payload').where('workflow_id', '=', enrollmentWorkflowId(s.enrollmentId)).orderBy('id').execute();
    expect(events.map((e) => e.payload.event)).toEqual([
      { type: 'app_attention', adamId: ADAM, reason: 'vpp_token_invalid' },
      { type: 'app_attention_cleared', adamId: ADAM },
    ]);
  });
});
