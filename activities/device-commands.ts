import { ApplicationFailure, log } from '@temporalio/activity';
import { sql } from 'kysely';
import { enqueueCommand } from '../db/commands.js';
import type { Db } from '../db/connection.js';
import { SettingsStore } from '../db/settings.js';
import { certificateFingerprint } from '../mdm/certificates.js';
import { queriesFor } from '../mdm/device-queries.js';
import type { SecretBox } from '../security/secret-box.js';
import type { EnrollmentActivities } from '../workflows/activity-types.js';
import { createApnsClient, type ApnsClient } from '../integrations/apple/apns.js';
import { pushMagicContext, pushTokenContext } from '../db/seal-contexts.js';

export interface DeviceCommandDeps {
  db: Db;
  box: SecretBox;
  apns: { origin: string; /** extra trusted CA (the local sink in sandbox mode and tests) */ ca?: string };
}


export function deviceCommandActivities(deps: DeviceCommandDeps): Pick<EnrollmentActivities, 'queueInitialCommands' | 'pushDevice' | 'releaseCommand'> & { close(): Promise<void> } {
  const settings = new SettingsStore(deps.db, deps.box);
  // One HTTP/2 session per push certificate, reused across activities.
  let client: { fingerprint: string; apns: ApnsClient } | undefined;

  async function apnsClient(): Promise<ApnsClient> {
    const cred = await settings.getApnsCredentials();
    if (!cred) throw ApplicationFailure.nonRetryable('no APNs push certificate is configured (PUT /api/v1/settings/apns)', 'ApnsNotConfigured');
    const fingerprint = certificateFingerprint(cred.certPem);
    const current = client;
    if (current && current.fingerprint === fingerprint) return current.apns;
    await current?.apns.close();
    const apns = createApnsClient({ origin: deps.apns.origin, certPem: cred.certPem, keyPem: cred.keyPem, ...(deps.apns.ca ? { ca: deps.apns.ca } : {}) });
    client = { fingerprint, apns };
    return apns;
  }

  async function deviceOf(enrollmentId: string) {
    return deps.db
      .selectFrom('devices as d')
      .innerJoin('enrollments as e', 'e.id', 'd.enrollment_id')
      .select(['d.id', 'd.kind', 'd.topic', 'd.push_token_sealed', 'd.push_magic_sealed'])
      .where('d.enrollment_id', '=', enrollmentId)
      .executeTakeFirst();
  }

  return {
    async queueInitialCommands({ enrollmentId, idempotencyKey }) {
      const device = await deviceOf(enrollmentId);
      if (!device) throw ApplicationFailure.nonRetryable(`enrollment ${enrollmentId} has no device`, 'NoDevice');
      const commandUuids = [
        await enqueueCommand(deps.db, deps.box, { deviceId: device.id, requestType: 'SecurityInfo', idempotencyKey: `${idempotencyKey}:security-info` }),
        await enqueueCommand(deps.db, deps.box, {
          deviceId: device.id,
          requestType: 'DeviceInformation',
          params: { Queries: [...queriesFor(device.kind)] },
          idempotencyKey: `${idempotencyKey}:device-information`,
        }),
      ];
      return { commandUuids };
    },

    async releaseCommand({ enrollmentId, commandUuid }) {
      const device = await deviceOf(enrollmentId);
      if (!device) throw ApplicationFailure.nonRetryable(`enrollment ${enrollmentId} has no device`, 'NoDevice');
      // Idempotent: only a staged command moves; a retry finds it queued already.
      await deps.db
        .updateTable('command_queue')
        .set({ status: 'queued' })
        .where('command_uuid', '=', commandUuid)
        .where('device_id', '=', device.id)
        .where('status', '=', 'staged')
        .execute();
    },

    async pushDevice({ enrollmentId }) {
      const device = await deviceOf(enrollmentId);
      if (!device?.push_token_sealed || !device.push_magic_sealed || !device.topic) return { outcome: 'no_token' as const };
      const apns = await apnsClient();
      const outcome = await apns.push({
        token: deps.box.open(device.push_token_sealed, pushTokenContext(device.id)),
        pushMagic: deps.box.openText(device.push_magic_sealed, pushMagicContext(device.id)),
        topic: device.topic,
      });
      switch (outcome.kind) {
        case 'delivered':
          // The commands waiting for this device have now been announced (GET .../commands shows it).
          await deps.db.updateTable('command_queue').set({ pushed_at: sql`now()` }).where('device_id', '=', device.id).where('status', '=', 'queued').where('pushed_at', 'is', null).execute();
          return { outcome: 'delivered' as const };
        case 'unregistered':
          // The device is gone from APNs (typically it removed the profile): mark it inactive.
          await deps.db.updateTable('devices').set({ push_unregistered_at: sql`now()` }).where('id', '=', device.id).execute();
          return { outcome: 'unregistered' as const };
        case 'retry':
          throw ApplicationFailure.create({
            message: `APNs answered ${outcome.status}${outcome.reason ? ` ${outcome.reason}` : ''}`,
            type: 'ApnsUnavailable',
            ...(outcome.retryAfterMs ? { nextRetryDelay: outcome.retryAfterMs } : {}),
          });
        case 'rejected':
          log.error('APNs rejected the push', { status: outcome.status, reason: outcome.reason });
          throw ApplicationFailure.nonRetryable(`APNs rejected the push: ${outcome.status} ${outcome.reason}`, 'ApnsRejected');
      }
    },

    async close() {
      await client?.apns.close();
    },
  };
}
