/**
 * Issues an enrollment profile: a fresh device identity from Tandem's CA (PKCS#12 in the profile),
 * the com.apple.mdm payload, a CMS signature, and the `profile_issued` event for the workflow,
 * all bound to one single-use download.
 */
import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import type { Db } from '../../db/connection.js';
import { recordEnrollmentEvent } from '../../db/outbox.js';
import { SettingsStore } from '../../db/settings.js';
import { certificateFingerprint, describeCertificate, issueCertificate, toPkcs12 } from '../../mdm/certificates.js';
import { buildEnrollmentProfile, signProfile } from '../../mdm/profile.js';
import type { SecretBox } from '../../security/secret-box.js';
import type { EnrollmentKind } from '../../workflows/messages.js';

export interface ProfileIssuerDeps {
  db: Db;
  box: SecretBox;
  organization: string;
  publicUrl: string;
}

export interface IssuedProfile {
  der: Buffer;
  kind: EnrollmentKind;
}

export const mdmPaths = { checkIn: '/mdm/checkin', server: '/mdm/connect' };

/** Consumes the download (once) and returns the signed profile, or undefined if the link is spent. */
export async function issueProfile(deps: ProfileIssuerDeps, enrollmentId: string, tokenHash: string): Promise<IssuedProfile | undefined> {
  const signing = await signingMaterial(deps);
  return deps.db.transaction().execute(async (trx) => {
    const download = await trx
      .updateTable('profile_downloads')
      .set({ used_at: sql`now()` })
      .where('enrollment_id', '=', enrollmentId)
      .where('token_hash', '=', tokenHash)
      .where('used_at', 'is', null)
      .where('expires_at', '>', sql<Date>`now()`)
      .returning(['enrollment_type'])
      .executeTakeFirst();
    if (!download) return undefined;
    return signedProfile(deps, trx, signing, { enrollmentId, kind: download.enrollment_type, flavor: 'profile-based', dedupe: tokenHash.slice(0, 16) });
  });
}

/** The account-driven profile, answered to the device's authorized enrollment POST. */
export async function issueAccountDrivenProfile(deps: ProfileIssuerDeps, enrollmentId: string, kind: EnrollmentKind, dedupe: string): Promise<IssuedProfile> {
  const signing = await signingMaterial(deps);
  return deps.db.transaction().execute((trx) => signedProfile(deps, trx, signing, { enrollmentId, kind, flavor: 'account-driven', dedupe }));
}

async function signingMaterial(deps: ProfileIssuerDeps) {
  const settings = new SettingsStore(deps.db, deps.box);
  const [ca, signer, apns] = await Promise.all([
    settings.certificateAuthority(deps.organization),
    settings.profileSigner(deps.organization),
    settings.getApns(),
  ]);
  if (!apns) throw new Error('no APNs push certificate is configured');
  return { ca, signer, topic: apns.topic };
}

async function signedProfile(
  deps: ProfileIssuerDeps,
  trx: Db,
  { ca, signer, topic }: Awaited<ReturnType<typeof signingMaterial>>,
  req: { enrollmentId: string; kind: EnrollmentKind; flavor: 'profile-based' | 'account-driven'; dedupe: string },
): Promise<IssuedProfile> {
  const { enrollmentId, kind, flavor } = req;
  const enrollment = await trx
    .selectFrom('enrollments as e')
    .innerJoin('users as u', 'u.id', 'e.user_id')
    .select(['e.ownership', 'e.device_ownership', 'u.managed_apple_id'])
    .where('e.id', '=', enrollmentId)
    .executeTakeFirstOrThrow();

  const identity = issueCertificate(ca, { commonName: `Tandem device ${enrollmentId}`, organization: deps.organization, validDays: 730, usage: 'device-identity' });
  const password = randomBytes(18).toString('base64url');
  const p12 = toPkcs12(identity, [ca.certPem], password, 'Tandem device identity');
  await trx
    .insertInto('enrollment_identities')
    .values({
      fingerprint: certificateFingerprint(identity.certPem),
      enrollment_id: enrollmentId,
      enrollment_type: kind,
      flavor,
      serial_number: identity.serialNumber,
      not_after: describeCertificate(identity.certPem).notAfter,
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
    topic,
    organization: deps.organization,
    identity: { p12, password },
    ...(needsAppleId ? { managedAppleId: enrollment.managed_apple_id! } : {}),
    trustAnchorsDer: [Buffer.from(ca.certPem.replace(/-----[^-]+-----|\s/g, ''), 'base64')],
  });
  const der = signProfile(profile, signer, [ca.certPem]);

  const ownership = enrollment.device_ownership ?? (enrollment.ownership === 'corporate' ? 'corporate' : 'personal');
  await recordEnrollmentEvent(trx, enrollmentId, { type: 'profile_issued', enrollmentType: kind, ownership }, `profile-issued:${req.dedupe}`);
  return { der, kind };
}
