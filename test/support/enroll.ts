/**
 * The common opening of device tests: an admin invite by email, the simulated iPhone walking the
 * portal with the invite's credentials, installing the profile, Authenticate and TokenUpdate.
 */
import { expect } from 'vitest';
import { parseInvite, SimulatedDevice, type SimulatorOptions } from '../../scripts/simulator/device.js';
import type { TestStack } from './stack.js';

export interface EnrollOptions {
  ownership?: 'personal' | 'corporate';
  authMode?: 'open' | 'authenticated';
  email?: string;
  managedAppleId?: string;
  device?: SimulatorOptions;
  /** apps the device knows, by App Store id, with the statuses its install prompt goes through */
  apps?: { adamId: string; bundleId: string; statuses: string[] }[];
  /** wait for the first push, as a real iPhone polls only when pushed (default true) */
  waitForPush?: boolean;
  /** stop after Authenticate: the test sends TokenUpdate itself (no push is awaited then) */
  stopAfterAuthenticate?: boolean;
}

export interface EnrolledDevice {
  id: string;
  workflowId: string;
  email: string;
  managedAppleId: string | undefined;
  userId: string;
  device: SimulatedDevice;
}

const tag = () => Math.random().toString(36).slice(2, 8);

export async function enrollSimulatedDevice(stack: TestStack, opts: EnrollOptions = {}): Promise<EnrolledDevice> {
  const ownership = opts.ownership ?? 'personal';
  const email = opts.email ?? `device.${tag()}@example.com`;
  const managedAppleId = ownership === 'personal' ? (opts.managedAppleId ?? `device.${tag()}@acme.example`) : opts.managedAppleId;
  const res = await stack.admin('/api/v1/enrollments', {
    method: 'POST',
    body: JSON.stringify({ user: { name: 'Device User', email }, channel: 'email', ownership, authMode: opts.authMode ?? 'open', ...(managedAppleId ? { managedAppleId } : {}) }),
  });
  expect(res.status, await res.clone().text()).toBe(201);
  const created = (await res.json()) as { id: string; workflowId: string };
  const invite = parseInvite((await stack.smtp.waitFor((m) => m.to.includes(email) && m.text.includes(created.id), 15_000)).text);
  // Installs are licence-checked by the local Apps and Books server, as the App Store does.
  const device = new SimulatedDevice({ appStore: (adamId, who) => stack.vpp.installCheck(adamId, who), ...opts.device });
  for (const app of opts.apps ?? []) device.apps.set(Number(app.adamId), { bundleId: app.bundleId, statuses: [...app.statuses] });
  device.installProfile(await device.enrollThroughPortal(invite.enrollmentUrl, { username: invite.username, ...(invite.password ? { password: invite.password } : {}) }));
  await device.authenticate();
  if (!opts.stopAfterAuthenticate) {
    await device.tokenUpdate();
    if (opts.waitForPush ?? true) await stack.apns.waitFor((p) => p.token === device.pushToken.toString('hex'), 15_000);
  }
  const userId = (await stack.database.db.selectFrom('enrollments').select('user_id').where('id', '=', created.id).executeTakeFirstOrThrow()).user_id;
  return { id: created.id, workflowId: created.workflowId, email, managedAppleId, userId, device };
}
