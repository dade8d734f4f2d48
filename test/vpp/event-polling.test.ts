/**
 * Apple asks for at least 30 s between status queries while an Apps and Books event is PENDING
 * ("Subscribing to notifications"). Production follows that; only NODE_ENV=test may poll faster.
 * Measured on the real activity, built the way the worker builds it, against the local server.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appDeploymentActivities } from '../../activities/app-deployment.js';
import { loadEnv } from '../../config/env.js';
import { VppSettingsStore } from '../../db/settings.js';
import { startVppServer, type VppServer } from '../../scripts/sandbox/vpp-server.js';
import { generateMasterKey, SecretBox } from '../../security/secret-box.js';
import { activityDepsFromEnv } from '../../worker/activity-deps.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

const APP = '1434567890';
let database: TestDatabase;
let vpp: VppServer;
const box = new SecretBox(generateMasterKey());

beforeAll(async () => {
  [database, vpp] = await Promise.all([createTestDatabase(), startVppServer({ assets: [{ adamId: APP, pricingParam: 'STDQ', totalCount: 10 }] })]);
  await new VppSettingsStore(database.db, box).put(
    { orgName: 'Acme', expiresAt: new Date(Date.now() + 86_400_000).toISOString(), uploadedAt: new Date().toISOString(), agent: { adamId: APP, bundleId: 'com.acme.agent', pricingParam: 'STDQ' } },
    vpp.sToken,
  );
}, 60_000);
afterAll(async () => {
  await Promise.all([database?.stop(), vpp?.stop()]);
});

/** A device-enrolled device (one associate event to wait for), with its serial number. */
async function deviceEnrollment(): Promise<string> {
  const db = database.db;
  const userId = randomUUID();
  const enrollmentId = randomUUID();
  await db.insertInto('users').values({ id: userId, name: 'Poll Test' }).execute();
  await db
    .insertInto('enrollments')
    .values({ id: enrollmentId, user_id: userId, channel: 'email', ownership: 'corporate', enrollment_type: 'device', auth_mode: 'open', status: 'enrolled', username: `u-${enrollmentId}`, workflow_id: `wf-${enrollmentId}`, expires_at: new Date(Date.now() + 86_400_000), created_by: 'test' })
    .execute();
  const device = await db.insertInto('devices').values({ enrollment_id: enrollmentId, kind: 'device' }).returning('id').executeTakeFirstOrThrow();
  await db.insertInto('device_hardware_ids').values({ device_id: device.id, serial_number: `F${enrollmentId.slice(0, 10).toUpperCase()}` }).execute();
  return enrollmentId;
}

/** Assigns a licence with activities built for NODE_ENV, asking for 100 ms polls; returns the gaps between status queries. */
async function statusPollGaps(nodeEnv: 'production' | 'test'): Promise<number[]> {
  const env = loadEnv({ NODE_ENV: nodeEnv, VPP_API_URL: vpp.baseUrl, TANDEM_ORGANIZATION: 'Acme' }, 'test');
  const deps = activityDepsFromEnv(env, database.db, box, { sandbox: true, publicUrl: 'http://127.0.0.1:9', vppEventPollMs: 100 });
  const enrollmentId = await deviceEnrollment();
  const from = vpp.requests.length;
  await appDeploymentActivities(deps).assignLicence({ enrollmentId, adamId: APP, bundleId: 'com.acme.agent', idempotencyKey: `poll-${enrollmentId}` });
  const polls = vpp.requests.slice(from).filter((r) => r.path.endsWith('/status'));
  expect(polls.length).toBeGreaterThanOrEqual(2); // the local server answers PENDING once, as Apple may
  return polls.slice(1).map((p, i) => p.at.getTime() - polls[i]!.at.getTime());
}

describe('Apps and Books event status polling', () => {
  it('waits at least 30 s between status queries in production, whatever a caller asks for', { timeout: 90_000 }, async () => {
    const gaps = await statusPollGaps('production');
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(30_000 - 5);
  });

  it('polls as fast as asked only under NODE_ENV=test', { timeout: 30_000 }, async () => {
    const gaps = await statusPollGaps('test');
    expect(Math.max(...gaps)).toBeLessThan(5_000);
  });
});
