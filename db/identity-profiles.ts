/**
 * Device identities and the signed enrollment profiles that carry them: a fresh identity from
 * Tandem's CA (PKCS#12 in the profile), its `enrollment_identities` row (with `not_after`), the
 * `com.apple.mdm` payload, and the CMS signature. Used for first enrollment (portal download,
 * account-driven POST) and for identity renewal (the same profile, sent again with InstallProfile).
 */
import { randomBytes } from 'node:crypto';
import { certificateFingerprint, describeCertificate, issueCertificate, toPkcs12 } from '../mdm/certificates.js';
import { buildEnrollmentProfile, signProfile, type EnrollmentFlavor } from '../mdm/profile.js';
import type { SecretBox } from '../security/secret-box.js';
import type { EnrollmentKind } from '../domain/kinds.js';
import type { Db } from './connection.js';
import { SettingsStore } from './settings.js';

export const mdmPaths = { checkIn: '/mdm/checkin', server: '/mdm/connect' };

export interface IdentityProfileDeps {
  db: Db;
  box: SecretBox;
  organization: string;
  publicUrl: string;
  /** how long a device identity is valid */
  identityValidityMs: number;
}

export type SigningMaterial = Awaited<ReturnType<typeof signingMaterial>>;

export async function signingMaterial(deps: Pick<IdentityProfileDeps, 'db' | 'box' | 'organization'>) {
  const settings = new SettingsStore(deps.db, deps.box);
  const [ca, signer, apns] = await Promise.all([
    settings.certificateAuthority(deps.organization),
    settings.profileSigner(deps.organization),
    settings.getApns(),
  ]);
  if (!apns) throw new Error('no APNs push certificate is configured');
  return { ca, signer, topic: apns.topic };
}

export interface IdentityProfileRequest {
  enrollmentId: string;
  kind: EnrollmentKind;
  flavor: EnrollmentFlavor;
  /** renewal: the identity this one replaces and the call that issued it */
  renewal?: { of: string; idempotencyKey: string };
  /** renewal: the APNs topic the device was enrolled with (it must never change) */
  topic?: string;
}

export interface IdentityProfile {
  der: Buffer;
  fingerprint: string;
  notAfter: Date;
}

/** Issues an identity, records it, and returns the signed enrollment profile that carries it. Run inside a transaction. */
export async function issueIdentityProfile(deps: IdentityProfileDeps, trx: Db, signing: SigningMaterial, req: IdentityProfileRequest): Promise<IdentityProfile> {
  const { enrollmentId, kind, flavor } = req;
  const { ca, signer } = signing;
  const user = await trx
    .selectFrom('enrollments as e')
    .innerJoin('users as u', 'u.id', 'e.user_id')
    .select(['u.managed_apple_id'])
    .where('e.id', '=', enrollmentId)
    .executeTakeFirstOrThrow();

  const validDays = Math.ceil(deps.identityValidityMs / 86_400_000);
  const identity = issueCertificate(ca, { commonName: `Tandem device ${enrollmentId}`, organization: deps.organization, validDays, validForMs: deps.identityValidityMs, usage: 'device-identity' });
  const password = randomBytes(18).toString('base64url');
  const p12 = toPkcs12(identity, [ca.certPem], password, 'Tandem device identity');
  const fingerprint = certificateFingerprint(identity.certPem);
  const notAfter = describeCertificate(identity.certPem).notAfter;
  await trx
    .insertInto('enrollment_identities')
    .values({
      fingerprint,
      enrollment_id: enrollmentId,
      enrollment_type: kind,
      flavor,
      serial_number: identity.serialNumber,
      not_after: notAfter,
      ...(req.renewal ? { renewal_of: req.renewal.of, idempotency_key: req.renewal.idempotencyKey } : {}),
    })
    .execute();

  // Profile-based UE names the account in ManagedAppleID; account-driven enrollment (both kinds)
  // in AssignedManagedAppleID.
  const needsAppleId = kind === 'user' || flavor === 'account-driven';
  const profile = buildEnrollmentProfile({
    enrollmentId,
    kind,
    flavor,
    serverUrl: new URL(mdmPaths.server, deps.publicUrl).href,
    checkInUrl: new URL(mdmPaths.checkIn, deps.publicUrl).href,
    topic: req.topic ?? signing.topic,
    organization: deps.organization,
    identity: { p12, password },
    ...(needsAppleId ? { managedAppleId: user.managed_apple_id! } : {}),
    trustAnchorsDer: [Buffer.from(ca.certPem.replace(/-----[^-]+-----|\s/g, ''), 'base64')],
  });
  return { der: signProfile(profile, signer, [ca.certPem]), fingerprint, notAfter };
}
