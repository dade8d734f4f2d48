/**
 * Apps and Books (VPP) deployment of the agent app, InstallApplication with PurchaseMethod 1, status
 * from the device's ManagedApplicationList answers, reminders, and licence release on disenrollment.
 *
 * Which licence a device gets depends on how it enrolled:
 * - User Enrollment: a user licence, for a VPP user created with the Managed Apple Account (so it is
 *   Associated at once). A user-enrolled device never reveals its serial number.
 * - Device Enrollment: a device licence for the serial number the device reported (Authenticate or
 *   DeviceInformation). There is no Managed Apple Account to associate a VPP user with, and a
 *   Registered user's licence never installs. The app must be `deviceAssignable`.
 *
 * appDeploymentWorkflow uses the combined steps (licenseApp, installApp, recheckApp): each records
 * the status, queues the command and pushes in one activity, and the device's answers come back
 * through the MDM endpoint as signals (db/app-deployments.ts). agentDeploymentWorkflow's older
 * steps (queueAppInstall, checkAppStatus, remindAppApproval) stay for deployments still running.
 */
import { ApplicationFailure, log } from '@temporalio/activity';
import { sql } from 'kysely';
import { enqueueCommand } from '../db/commands.js';
import type { Db } from '../db/connection.js';
import { VppSettingsStore } from '../db/settings.js';
import type { SecretBox } from '../security/secret-box.js';
import type { LegacyAppDeploymentActivities, AppActivities, AppTarget, EnrollmentActivities, LicenceOutcome } from '../workflows/activity-types.js';
import { writeAppStatus } from '../db/app-deployments.js';
import { esc } from './messages/invite-message.js';
import { messageIdFor, type Mailer } from '../integrations/mail/mailer.js';
import { once } from './effects.js';
import { createVppClient, type VppClient } from '../integrations/apple/vpp/client.js';
import { VppError } from '../integrations/apple/vpp/errors.js';

export interface AppDeploymentDeps {
  db: Db;
  box: SecretBox;
  organization: string;
  mailer: Mailer;
  vpp: {
    baseUrl: string;
    /** how often to poll VPP's async events; default (and production) APPLE_EVENT_POLL_MS */
    eventPollMs?: number;
  };
}

/**
 * Apple: "While the returned eventStatus is PENDING, wait at least 30 seconds between subsequent
 * status queries" (Apple Developer documentation, Device Management, "Subscribing to notifications").
 */
export const APPLE_EVENT_POLL_MS = 30_000;

type Activities = Omit<LegacyAppDeploymentActivities, 'pushDevice'> & AppActivities & Pick<EnrollmentActivities, 'agentConfig' | 'releaseLicences'>;
/** The APNs push (the device-command activities'), so one activity can queue a command and push. */
export type PushDevice = EnrollmentActivities['pushDevice'];

/** Licence failures a person must fix: recorded as the app's status, never thrown at the workflow. */
const stuckOn: Record<string, Exclude<LicenceOutcome['outcome'], 'assigned'>> = { NoLicences: 'waiting_for_licences', VppTokenInvalid: 'vpp_token_invalid', VppRejected: 'failed' };

/** 9716: the VPP user already exists (an earlier deployment for the same person). */
const alreadyExists = (err: unknown) =>
  err instanceof VppError && (err.errorNumber === 9716 || (err.failures ?? []).every((f) => (f as { errorNumber?: number }).errorNumber === 9716));

/** Turns a VppError into what the workflow understands (non-retryable types, Retry-After). */
function asFailure(err: unknown): never {
  if (!(err instanceof VppError)) throw err;
  if (err.kind === 'no_licenses') throw ApplicationFailure.nonRetryable(err.message, 'NoLicences');
  if (err.kind === 'token_invalid') throw ApplicationFailure.nonRetryable(`The Apps and Books token is expired or revoked: upload a new one. (${err.message})`, 'VppTokenInvalid');
  if (err.kind === 'rejected') throw ApplicationFailure.nonRetryable(err.message, 'VppRejected');
  throw ApplicationFailure.create({ message: err.message, type: 'VppUnavailable', ...(err.retryAfterMs ? { nextRetryDelay: err.retryAfterMs } : {}) });
}

export function appDeploymentActivities(deps: AppDeploymentDeps, push?: PushDevice): Activities {
  const { db, box } = deps;
  const settings = new VppSettingsStore(db, box);

  async function vpp(): Promise<{ client: VppClient; pricingParam: 'STDQ' | 'PLUS' }> {
    const [config, token] = await Promise.all([settings.get(), settings.token()]);
    if (!config || !token) throw ApplicationFailure.nonRetryable('no Apps and Books token is configured (PUT /api/v1/settings/vpp)', 'VppRejected');
    return { client: createVppClient({ baseUrl: deps.vpp.baseUrl, sToken: token }), pricingParam: config.agent?.pricingParam ?? 'STDQ' };
  }

  // Two polls fit in an activity; a longer PENDING fails the attempt and Temporal sends the (idempotent) request again.
  const waitOptions = { pollMs: deps.vpp.eventPollMs ?? APPLE_EVENT_POLL_MS, timeoutMs: 50_000 };

  /** How the device enrolled and, for Device Enrollment only, the serial number it reported. */
  async function deviceOf(enrollmentId: string) {
    return db
      .selectFrom('devices as d')
      .leftJoin('device_hardware_ids as h', 'h.device_id', 'd.id')
      .select(['d.kind', 'h.serial_number'])
      .where('d.enrollment_id', '=', enrollmentId)
      .executeTakeFirst();
  }

  async function userOf(enrollmentId: string) {
    return db
      .selectFrom('enrollments as e')
      .innerJoin('users as u', 'u.id', 'e.user_id')
      .select(['u.id', 'u.name', 'u.email', 'u.managed_apple_id', 'e.enrollment_type'])
      .where('e.id', '=', enrollmentId)
      .executeTakeFirstOrThrow();
  }

  const deviceIdOf = async (enrollmentId: string) => (await db.selectFrom('devices').select('id').where('enrollment_id', '=', enrollmentId).executeTakeFirstOrThrow()).id;

  /** Pushes so the device fetches what was just queued; a device without a push token finds it at its next check-in. */
  async function pushSoon(enrollmentId: string, idempotencyKey: string) {
    if (!push) return;
    try {
      await push({ enrollmentId, idempotencyKey });
    } catch (err) {
      if (!(err instanceof ApplicationFailure && err.nonRetryable)) throw err;
      log.warn('push refused; the device gets the command at its next check-in', { enrollmentId, type: err.type });
    }
  }

  const activities: Activities = {
    async agentConfig() {
      const [config, token] = await Promise.all([settings.get(), settings.token()]);
      return config?.agent && token ? { adamId: config.agent.adamId, bundleId: config.agent.bundleId } : null;
    },

    async assignLicence({ enrollmentId, adamId }) {
      const { client, pricingParam } = await vpp();
      const [user, device] = await Promise.all([userOf(enrollmentId), deviceOf(enrollmentId)]);
      try {
        if (device?.kind === 'device') {
          if (!device.serial_number) {
            // Retried by Temporal: the DeviceInformation answer that carries it is on its way.
            throw ApplicationFailure.create({ message: 'the device has not reported its serial number yet', type: 'SerialNumberPending' });
          }
          const associated = await client.associateAssets({ assets: [{ adamId, pricingParam }], serialNumbers: [device.serial_number] });
          await client.waitForEvent(associated.eventId, waitOptions);
        } else {
          // Supplying the Managed Apple ID associates the VPP user at once (no invitation email).
          const created = await client.createUsers([{ clientUserId: user.id, ...(user.managed_apple_id ? { managedAppleId: user.managed_apple_id } : {}) }]);
          await client.waitForEvent(created.eventId, waitOptions).catch((err: unknown) => {
            if (!alreadyExists(err)) throw err; // a second deployment for the same user
          });
          const associated = await client.associateAssets({ assets: [{ adamId, pricingParam }], clientUserIds: [user.id] }, { forUserEnrollment: true });
          await client.waitForEvent(associated.eventId, waitOptions);
        }
      } catch (err) {
        if (err instanceof VppError && err.errorNumber === 9707) {
          throw ApplicationFailure.nonRetryable(
            `App ${adamId} cannot be licensed to devices (not deviceAssignable in Apps and Books), and a device-enrolled device can only use a device licence. (${err.message})`,
            'VppRejected',
          );
        }
        asFailure(err);
      }
      await db.updateTable('app_deployments').set({ licence: 'assigned', updated_at: sql`now()` }).where('enrollment_id', '=', enrollmentId).where('adam_id', '=', adamId).execute();
    },

    async queueAppInstall({ enrollmentId, adamId, idempotencyKey }) {
      const device = await db.selectFrom('devices').select('id').where('enrollment_id', '=', enrollmentId).executeTakeFirstOrThrow();
      const commandUuid = await enqueueCommand(db, box, {
        deviceId: device.id,
        requestType: 'InstallApplication',
        // A volume-purchase licence (the user's or the device's); remove the app and its data when the device leaves management.
        params: { iTunesStoreID: Number(adamId), Options: { PurchaseMethod: 1 }, ManagementFlags: 1 },
        idempotencyKey,
        requestedBy: 'agent-deployment',
      });
      return { commandUuid };
    },

    async checkAppStatus({ enrollmentId, bundleId, installCommandUuid, idempotencyKey }) {
      const device = await db.selectFrom('devices').select('id').where('enrollment_id', '=', enrollmentId).executeTakeFirstOrThrow();
      const install = await db.selectFrom('command_queue').select('created_at').where('command_uuid', '=', installCommandUuid).executeTakeFirstOrThrow();
      const latest = await db
        .selectFrom('command_queue')
        .select('result')
        .where('device_id', '=', device.id)
        .where('request_type', '=', 'ManagedApplicationList')
        .where('status', '=', 'acknowledged')
        .where('answered_at', '>', install.created_at)
        .orderBy('answered_at', 'desc')
        .limit(1)
        .executeTakeFirst();
      const list = (latest?.result as { ManagedApplicationList?: Record<string, { Status?: string }> } | null)?.ManagedApplicationList;
      await enqueueCommand(db, box, { deviceId: device.id, requestType: 'ManagedApplicationList', params: { Identifiers: [bundleId] }, idempotencyKey });
      await db.updateTable('app_deployments').set({ last_checked_at: sql`now()` }).where('enrollment_id', '=', enrollmentId).where('bundle_id', '=', bundleId).execute();
      return { deviceStatus: list?.[bundleId]?.Status ?? null };
    },

    async recordAppStatus({ enrollmentId, adamId, bundleId, status, detail, idempotencyKey }) {
      await once(db, idempotencyKey, async () => {
        await db.transaction().execute((trx) =>
          // Never approved in time, unless the device answered meanwhile (its answer was recorded).
          writeAppStatus(trx, { enrollmentId, adamId, bundleId }, status, detail, idempotencyKey, status === 'not_approved' ? { notOver: ['installed', 'denied', 'failed'] } : {}),
        );
        return {};
      });
    },

    async licenseApp(input) {
      const app = { enrollmentId: input.enrollmentId, adamId: input.adamId, bundleId: input.bundleId };
      const stuck = async (outcome: Exclude<LicenceOutcome['outcome'], 'assigned'>, detail: string): Promise<LicenceOutcome> => {
        // A re-check that finds the same trouble writes nothing (and tells the enrollment nothing).
        await db.transaction().execute((trx) => writeAppStatus(trx, app, outcome, detail, input.idempotencyKey, { onlyIfChanged: true }));
        return { outcome, detail };
      };
      const [config, token] = await Promise.all([settings.get(), settings.token()]);
      if (!config || !token) return stuck('vpp_not_configured', 'No Apps and Books token is configured: upload one (PUT /api/v1/settings/vpp).');
      await db.transaction().execute((trx) =>
        writeAppStatus(trx, app, 'licensing', undefined, input.idempotencyKey, { onlyIfChanged: true, notOver: ['waiting_for_licences', 'vpp_token_invalid', 'vpp_not_configured'] }),
      );
      try {
        await activities.assignLicence(input);
      } catch (err) {
        const outcome = err instanceof ApplicationFailure && err.type ? stuckOn[err.type] : undefined;
        if (!outcome) throw err;
        return stuck(outcome, (err as ApplicationFailure).message);
      }
      return { outcome: 'assigned' };
    },

    async installApp({ enrollmentId, adamId, bundleId, idempotencyKey }) {
      const deviceId = await deviceIdOf(enrollmentId);
      const commandUuid = await db.transaction().execute(async (trx) => {
        const queued = await trx.selectFrom('command_queue').select('command_uuid').where('idempotency_key', '=', idempotencyKey).executeTakeFirst();
        if (queued) return queued.command_uuid; // a retry: recorded and queued already
        // The status first: the device's answer to the command, recorded by the MDM endpoint, comes after it.
        await writeAppStatus(trx, { enrollmentId, adamId, bundleId }, 'installing', undefined, idempotencyKey);
        return enqueueCommand(trx, box, {
          deviceId,
          requestType: 'InstallApplication',
          // User-based licence; remove the app and its data when the device leaves management.
          params: { iTunesStoreID: Number(adamId), Options: { PurchaseMethod: 1 }, ManagementFlags: 1 },
          idempotencyKey,
          requestedBy: 'app-deployment',
        });
      });
      await pushSoon(enrollmentId, idempotencyKey);
      return { commandUuid };
    },

    async recheckApp({ enrollmentId, adamId, bundleId, idempotencyKey, remind }) {
      const deviceId = await deviceIdOf(enrollmentId);
      // Filtered to this app: the answer comes back through the MDM endpoint as a signal.
      await enqueueCommand(db, box, { deviceId, requestType: 'ManagedApplicationList', params: { Identifiers: [bundleId] }, idempotencyKey, requestedBy: 'app-deployment' });
      await db.updateTable('app_deployments').set({ last_checked_at: sql`now()` }).where('enrollment_id', '=', enrollmentId).where('adam_id', '=', adamId).execute();
      await pushSoon(enrollmentId, idempotencyKey);
      if (remind) await activities.remindAppApproval({ enrollmentId, adamId, bundleId, idempotencyKey: `${idempotencyKey}:reminder` });
    },

    async remindAppApproval({ enrollmentId, idempotencyKey }: AppTarget & { idempotencyKey: string }) {
      const user = await userOf(enrollmentId);
      if (!user.email) return;
      await once(db, idempotencyKey, () => {
        const text = `Hello ${user.name},\n\nYour iPhone is asking whether to install the ${deps.organization} app. Tap Install on the prompt to finish setting up your work apps. You can also decline.\n`;
        return deps.mailer.send({
          to: user.email!,
          subject: `Please approve the ${deps.organization} app on your device`,
          text,
          html: `<p style="font:16px/1.5 -apple-system,Helvetica,Arial,sans-serif">${esc(text).replace(/\n/g, '<br>')}</p>`,
          messageId: messageIdFor(idempotencyKey),
        });
      });
    },

    async releaseLicences({ enrollmentId }) {
      const held = await db.selectFrom('app_deployments').select(['adam_id']).where('enrollment_id', '=', enrollmentId).where('licence', '=', 'assigned').execute();
      if (!held.length) return { released: 0 };
      const device = await deviceOf(enrollmentId);
      let assignee: { clientUserIds: string[] } | { serialNumbers: string[] };
      if (device?.kind === 'device' && device.serial_number) {
        // A device licence belongs to this device alone (assignLicence gives one only with a serial).
        assignee = { serialNumbers: [device.serial_number] };
      } else {
        const user = await userOf(enrollmentId);
        const others = await db
          .selectFrom('enrollments')
          .select('id')
          .where('user_id', '=', user.id)
          .where('id', '!=', enrollmentId)
          .where('status', 'in', ['enrolled', 'inactive', 'authenticated', 'profile_issued'])
          // a device-enrolled device of the same person holds a device licence, not this one
          .where((eb) => eb.or([eb('enrollment_type', 'is', null), eb('enrollment_type', '!=', 'device')]))
          .executeTakeFirst();
        if (others) {
          log.info('licence kept: the user has another enrollment', { enrollmentId });
          await db.updateTable('app_deployments').set({ licence: 'released' }).where('enrollment_id', '=', enrollmentId).execute();
          return { released: 0 };
        }
        assignee = { clientUserIds: [user.id] };
      }
      const { client, pricingParam } = await vpp();
      try {
        const event = await client.disassociateAssets({ assets: held.map((h) => ({ adamId: h.adam_id, pricingParam })), ...assignee });
        await client.waitForEvent(event.eventId, waitOptions);
      } catch (err) {
        asFailure(err);
      }
      await db.updateTable('app_deployments').set({ licence: 'released', updated_at: sql`now()` }).where('enrollment_id', '=', enrollmentId).execute();
      return { released: held.length };
    },
  };
  return activities;
}
