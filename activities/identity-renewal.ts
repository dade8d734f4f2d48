/**
 * Device identity renewal, below the enrollment workflow (which decides when: from
 * `TANDEM_IDENTITY_RENEW_AT` percent of the identity's life, default 80).
 *
 * How Apple documents it, for every enrollment Tandem makes (details and the uncertain points in
 * docs/identity-renewal.md):
 * - "Managing certificates for device management services and devices"
 *   (developer.apple.com/documentation/devicemanagement/managing-certificates-for-device-management-services-and-devices):
 *   "Replace the profile that contains your MDM payload before any of the certificates in that
 *   profile expire."
 * - "MDM" payload (developer.apple.com/documentation/devicemanagement/mdm): PayloadIdentifier is
 *   what the device uses "to determine whether to replace an existing profile or add a new one";
 *   and when the payload is updated, ServerURL, CheckInURL, Topic, AssignedManagedAppleID,
 *   EnrollmentMode and RequiredAppIDForMDM must not change and no access right may be added, or
 *   the update is rejected.
 * - "Install Profile" command (developer.apple.com/documentation/devicemanagement/install-profile-command):
 *   allowed under User Enrollment; needs the Profile Installation and Removal right, which Device
 *   Enrollment profiles grant (AccessRights 8191) and User Enrollment has by definition.
 * - "Automatically renew certificates delivered via a configuration profile" (support.apple.com/HT204836):
 *   certificates in a profile with an MDM payload are never renewed by the device itself.
 * So the server renews: a new identity in the same enrollment profile (same PayloadIdentifier, same
 * MDM keys), signed, sent with InstallProfile. This holds for profile-based User Enrollment, Device
 * Enrollment and account-driven enrollment alike (the update rules above name the account-driven
 * keys, so Apple expects such profiles to be updated); the account-driven bearer token belongs to
 * the enrollment, not to the identity, and stays valid.
 *
 * The device then signs with the new identity; api/device/identity-binding.ts binds it on first use
 * and revokes the old one.
 */
import { ApplicationFailure } from '@temporalio/activity';
import { sql } from 'kysely';
import { enqueueCommand } from '../db/commands.js';
import type { Db } from '../db/connection.js';
import { issueIdentityProfile, signingMaterial } from '../db/identity-profiles.js';
import type { SecretBox } from '../security/secret-box.js';
import type { EnrollmentActivities } from '../workflows/activity-types.js';

export interface IdentityRenewalDeps {
  db: Db;
  box: SecretBox;
  organization: string;
  publicUrl: string;
  identity: {
    /** TANDEM_IDENTITY_VALIDITY */
    validityMs: number;
    /** TANDEM_IDENTITY_RENEW_AT: percent of an identity's life after which it is renewed */
    renewAtPercent: number;
  };
}

/** Enrollment statuses in which a device is managed and can be sent a renewal. */
const renewable = ['enrolled', 'inactive'];

export function identityRenewalActivities(deps: IdentityRenewalDeps): Pick<EnrollmentActivities, 'identityStatus' | 'renewIdentity'> {
  /** The device and the identity it is bound to. */
  const boundIdentity = (db: Db, enrollmentId: string) =>
    db
      .selectFrom('devices as d')
      .innerJoin('enrollment_identities as i', 'i.fingerprint', 'd.identity_fingerprint')
      .innerJoin('enrollments as e', 'e.id', 'd.enrollment_id')
      .select(['d.id as device_id', 'd.topic', 'i.fingerprint', 'i.enrollment_type', 'i.flavor', 'i.issued_at', 'i.not_after', 'e.status'])
      .where('d.enrollment_id', '=', enrollmentId)
      .executeTakeFirst();

  return {
    async identityStatus({ enrollmentId }) {
      const bound = await boundIdentity(deps.db, enrollmentId);
      if (!bound) throw ApplicationFailure.nonRetryable(`enrollment ${enrollmentId} has no device with a bound identity`, 'NoDevice');
      const pending = await deps.db
        .selectFrom('enrollment_identities')
        .select('fingerprint')
        .where('enrollment_id', '=', enrollmentId)
        .where('renewal_of', 'is not', null)
        .where('bound_at', 'is', null)
        .where('revoked_at', 'is', null)
        .executeTakeFirst();
      const issued = bound.issued_at.getTime();
      const life = bound.not_after.getTime() - issued;
      return {
        issuedAt: bound.issued_at.toISOString(),
        expiresAt: bound.not_after.toISOString(),
        renewAt: new Date(issued + Math.floor((life * deps.identity.renewAtPercent) / 100)).toISOString(),
        pendingRenewal: !!pending,
      };
    },

    async renewIdentity({ enrollmentId, idempotencyKey }) {
      const signing = await signingMaterial(deps);
      return deps.db.transaction().execute(async (trx) => {
        // One renewal at a time per enrollment; a retried call finds what the first one issued.
        await sql`select pg_advisory_xact_lock(hashtextextended(${`identity-renewal:${enrollmentId}`}, 0))`.execute(trx);
        const earlier = await trx.selectFrom('enrollment_identities').select(['command_uuid', 'not_after']).where('idempotency_key', '=', idempotencyKey).executeTakeFirst();
        if (earlier?.command_uuid) return { commandUuid: earlier.command_uuid, expiresAt: earlier.not_after.toISOString() };

        const bound = await boundIdentity(trx, enrollmentId);
        if (!bound) throw ApplicationFailure.nonRetryable(`enrollment ${enrollmentId} has no device with a bound identity`, 'NoDevice');
        if (!renewable.includes(bound.status)) throw ApplicationFailure.nonRetryable(`enrollment ${enrollmentId} is ${bound.status}: nothing to renew`, 'NotManaged');

        // An earlier renewal the device never received is withdrawn (its identity can never be used);
        // one it may have installed already stays valid until the device signs with a newer one.
        const unsent = await trx
          .selectFrom('enrollment_identities as i')
          .innerJoin('command_queue as c', 'c.command_uuid', 'i.command_uuid')
          .select(['i.fingerprint', 'c.id as command_id'])
          .where('i.enrollment_id', '=', enrollmentId)
          .where('i.bound_at', 'is', null)
          .where('i.revoked_at', 'is', null)
          .where('c.status', 'in', ['queued', 'not_now'])
          .execute();
        if (unsent.length) {
          await trx.updateTable('command_queue').set({ status: 'cancelled' }).where('id', 'in', unsent.map((u) => u.command_id)).execute();
          await trx.updateTable('enrollment_identities').set({ revoked_at: sql`now()` }).where('fingerprint', 'in', unsent.map((u) => u.fingerprint)).execute();
        }

        // The same profile as at enrollment (same PayloadIdentifier, URLs, topic, kind and flavor) with a new identity.
        const profile = await issueIdentityProfile({ ...deps, identityValidityMs: deps.identity.validityMs }, trx, signing, {
          enrollmentId,
          kind: bound.enrollment_type,
          flavor: bound.flavor,
          renewal: { of: bound.fingerprint, idempotencyKey },
          ...(bound.topic ? { topic: bound.topic } : {}),
        });
        const commandUuid = await enqueueCommand(trx, deps.box, {
          deviceId: bound.device_id,
          requestType: 'InstallProfile',
          params: { Payload: profile.der },
          idempotencyKey: `${idempotencyKey}:install-profile`,
        });
        await trx.updateTable('enrollment_identities').set({ command_uuid: commandUuid }).where('fingerprint', '=', profile.fingerprint).execute();
        return { commandUuid, expiresAt: profile.notAfter.toISOString() };
      });
    },
  };
}
