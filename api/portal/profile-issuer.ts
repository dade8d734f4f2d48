/**
 * Issues an enrollment profile: a fresh device identity from Tandem's CA (PKCS#12 in the profile),
 * the com.apple.mdm payload, a CMS signature, and the `profile_issued` event for the workflow,
 * all bound to one single-use download.
 */
import { sql } from 'kysely';
import type { Db } from '../../db/connection.js';
import { issueIdentityProfile, signingMaterial, type IdentityProfileDeps, type SigningMaterial } from '../../db/identity-profiles.js';
import { recordEnrollmentEvent } from '../../db/outbox.js';
import type { EnrollmentKind } from '../../workflows/messages.js';

export { mdmPaths } from '../../db/identity-profiles.js';

export type ProfileIssuerDeps = IdentityProfileDeps;

export interface IssuedProfile {
  der: Buffer;
  kind: EnrollmentKind;
}

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

async function signedProfile(
  deps: ProfileIssuerDeps,
  trx: Db,
  signing: SigningMaterial,
  req: { enrollmentId: string; kind: EnrollmentKind; flavor: 'profile-based' | 'account-driven'; dedupe: string },
): Promise<IssuedProfile> {
  const { enrollmentId, kind, flavor } = req;
  const { der } = await issueIdentityProfile(deps, trx, signing, { enrollmentId, kind, flavor });
  const enrollment = await trx.selectFrom('enrollments').select(['ownership', 'device_ownership']).where('id', '=', enrollmentId).executeTakeFirstOrThrow();
  const ownership = enrollment.device_ownership ?? (enrollment.ownership === 'corporate' ? 'corporate' : 'personal');
  await recordEnrollmentEvent(trx, enrollmentId, { type: 'profile_issued', enrollmentType: kind, ownership }, `profile-issued:${req.dedupe}`);
  return { der, kind };
}
