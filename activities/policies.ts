import { enqueueCommand } from '../db/commands.js';
import type { Db } from '../db/connection.js';
import { policiesFor, policyProfileIdentifier } from '../db/policies.js';
import { planAction } from '../mdm/actions.js';
import { isSupervised } from '../mdm/device-queries.js';
import type { SecretBox } from '../security/secret-box.js';
import type { EnrollmentActivities } from '../workflows/activity-types.js';

/**
 * Queues an InstallProfile for every policy version the enrollment has not received yet, each
 * checked against its enrollment type first: a policy this device may not take is recorded as
 * refused (visible to the admin), never sent.
 */
export function policyActivities({ db, box }: { db: Db; box: SecretBox }): Pick<EnrollmentActivities, 'applyPolicies'> {
  return {
    async applyPolicies({ enrollmentId, idempotencyKey }) {
      const device = await db.selectFrom('devices').select(['id', 'kind', 'facts']).where('enrollment_id', '=', enrollmentId).executeTakeFirst();
      if (!device) return { queued: 0, apps: [] };
      const supervised = isSupervised(device.kind, device.facts);
      let queued = 0;
      const apps: { adamId: string; bundleId: string }[] = [];
      for (const policy of await policiesFor(db, box, enrollmentId)) {
        const done = await db
          .selectFrom('policy_applications')
          .select('id')
          .where('enrollment_id', '=', enrollmentId)
          .where('policy_id', '=', policy.id)
          .where('version', '=', policy.version)
          .executeTakeFirst();
        if (done) continue;
        apps.push(...policy.requiredApps);
        if (!policy.profile) {
          // Required apps only: the workflow deploys them through Apps and Books.
          await db
            .insertInto('policy_applications')
            .values({ enrollment_id: enrollmentId, policy_id: policy.id, version: policy.version, command_uuid: null, refused_code: null, refused_message: null, notes: JSON.stringify([{ kind: 'required_apps', apps: policy.requiredApps }]) })
            .onConflict((oc) => oc.columns(['enrollment_id', 'policy_id', 'version']).doNothing())
            .execute();
          continue;
        }
        const plan = planAction({ type: 'install_profile', profile: { ...policy.profile, identifier: policyProfileIdentifier(policy.id) } }, { kind: device.kind, supervised });
        const record = { enrollment_id: enrollmentId, policy_id: policy.id, version: policy.version };
        if (!plan.ok) {
          await db
            .insertInto('policy_applications')
            .values({ ...record, command_uuid: null, refused_code: plan.code, refused_message: plan.message })
            .onConflict((oc) => oc.columns(['enrollment_id', 'policy_id', 'version']).doNothing())
            .execute();
          continue;
        }
        const commandUuid = await enqueueCommand(db, box, {
          deviceId: device.id,
          requestType: plan.requestType,
          params: plan.params,
          idempotencyKey: `${idempotencyKey}:${policy.id}:${policy.version}`,
          requestedBy: `policy:${policy.name}`,
          action: { type: 'policy', policyId: policy.id, version: policy.version },
        });
        await db
          .insertInto('policy_applications')
          .values({ ...record, command_uuid: commandUuid, refused_code: null, refused_message: null, notes: JSON.stringify(plan.notes) })
          .onConflict((oc) => oc.columns(['enrollment_id', 'policy_id', 'version']).doNothing())
          .execute();
        queued += 1;
      }
      return { queued, apps };
    },
  };
}
