/**
 * The enrollment profile (`.mobileconfig`; Apple: "TopLevel", "MDM" payload, "Deploying device
 * management enrollment profiles"; docs/apple-protocol-notes.md §1): trust anchors, the device
 * identity as PKCS#12, and the `com.apple.mdm` payload, signed as CMS SignedData with the plist
 * attached.
 */
import { randomUUID, X509Certificate } from 'node:crypto';
import { verifySignedData, signCms } from './cms.js';
import { describeCertificate, type CertificateAndKey } from './certificates.js';
import { buildPlist, parsePlist } from './plist-codec.js';

export type EnrollmentKind = 'user' | 'device';
export type EnrollmentFlavor = 'profile-based' | 'account-driven';

export interface EnrollmentProfileOptions {
  enrollmentId: string;
  kind: EnrollmentKind;
  flavor: EnrollmentFlavor;
  serverUrl: string;
  checkInUrl: string;
  topic: string;
  organization: string;
  identity: { p12: Buffer; password: string };
  managedAppleId?: string;
  requiredAppIdForMdm?: number;
  trustAnchorsDer?: Buffer[];
}

/** Every access right (bits 1…4096); device enrollments only. */
const ALL_ACCESS_RIGHTS = 8191;

/** The PayloadIdentifier of an enrollment's profile; `RemoveProfile` takes this value. */
export function enrollmentProfileIdentifier(enrollmentId: string): string {
  return `com.tandem.enrollment.${enrollmentId}`;
}

export function buildEnrollmentProfile(opts: EnrollmentProfileOptions): Record<string, unknown> {
  if (!/^[A-Za-z0-9][A-Za-z0-9_-]*$/.test(opts.enrollmentId)) {
    throw new Error('enrollmentId must be letters, digits, "-" or "_" (it becomes part of a reverse-DNS identifier)');
  }
  if (!opts.topic.startsWith('com.apple.mgmt.')) throw new Error('the MDM topic must start with "com.apple.mgmt."');
  const serverUrl = requireMdmUrl('serverUrl', opts.serverUrl);
  const checkInUrl = requireMdmUrl('checkInUrl', opts.checkInUrl);

  const base = enrollmentProfileIdentifier(opts.enrollmentId);
  const payload = (type: string, suffix: string, displayName: string, keys: Record<string, unknown>) => ({
    PayloadType: type,
    PayloadVersion: 1,
    PayloadIdentifier: `${base}.${suffix}`,
    PayloadUUID: newUuid(),
    PayloadDisplayName: displayName,
    ...keys,
  });

  const trustAnchors = (opts.trustAnchorsDer ?? []).map((der, index) =>
    payload('com.apple.security.root', `trust.${index + 1}`, trustAnchorName(der), {
      PayloadContent: der,
      PayloadCertificateFileName: `trust-anchor-${index + 1}.cer`,
    }),
  );
  const identity = payload('com.apple.security.pkcs12', 'identity', 'Device identity', {
    PayloadContent: opts.identity.p12,
    Password: opts.identity.password,
    PayloadCertificateFileName: 'device-identity.p12',
  });
  const mdm = payload('com.apple.mdm', 'mdm', 'Device management', {
    ServerURL: serverUrl,
    CheckInURL: checkInUrl,
    Topic: opts.topic,
    IdentityCertificateUUID: identity.PayloadUUID,
    SignMessage: true,
    CheckOutWhenRemoved: true,
    // No ServerCapabilities: `com.apple.mdm.token` would promise GetToken, which the check-in
    // endpoint refuses (400). Advertise a capability only once it is served.
    ...enrollmentModeKeys(opts),
  });

  return {
    PayloadType: 'Configuration',
    PayloadVersion: 1,
    PayloadIdentifier: base,
    PayloadUUID: newUuid(),
    PayloadDisplayName: `${opts.organization} device management`,
    PayloadOrganization: opts.organization,
    PayloadDescription:
      opts.kind === 'user'
        ? `Lets ${opts.organization} manage work apps and data in a separate space on this device. Your personal apps and data stay private.`
        : `Enrolls this device in ${opts.organization}'s device management.`,
    TargetDeviceType: 1, // iPhone/iPad; spares the user a device picker
    // Certificates install before the MDM payload that refers to them (§1.2). Never
    // PayloadRemovalDisallowed: it is forbidden under User Enrollment and supervised-only anyway.
    PayloadContent: [...trustAnchors, identity, mdm],
  };
}

/**
 * The keys that decide what kind of enrollment the device performs (§1.1, §1.3):
 * - device: all AccessRights; account-driven adds EnrollmentMode ADDE + AssignedManagedAppleID.
 * - user, profile-based (iOS 13.1–17): ManagedAppleID is the switch; no AccessRights.
 * - user, account-driven: EnrollmentMode BYOD + AssignedManagedAppleID; AccessRights must be absent
 *   or the device cancels the enrollment.
 * RequiredAppIDForMDM only means something to account-driven enrollments, so it is left out elsewhere.
 */
function enrollmentModeKeys(opts: EnrollmentProfileOptions): Record<string, unknown> {
  const keys: Record<string, unknown> = {};
  if (opts.kind === 'device') keys.AccessRights = ALL_ACCESS_RIGHTS;
  if (opts.flavor === 'profile-based') {
    if (opts.kind === 'user') keys.ManagedAppleID = requireManagedAppleId(opts);
    return keys;
  }
  keys.EnrollmentMode = opts.kind === 'user' ? 'BYOD' : 'ADDE';
  keys.AssignedManagedAppleID = requireManagedAppleId(opts);
  if (opts.requiredAppIdForMdm !== undefined) {
    if (!Number.isSafeInteger(opts.requiredAppIdForMdm) || opts.requiredAppIdForMdm <= 0) {
      throw new Error('requiredAppIdForMdm must be a positive App Store ID');
    }
    keys.RequiredAppIDForMDM = opts.requiredAppIdForMdm;
  }
  return keys;
}

function requireManagedAppleId(opts: EnrollmentProfileOptions): string {
  const id = opts.managedAppleId?.trim();
  if (!id) throw new Error(`a ${opts.flavor} ${opts.kind} enrollment needs the user's Managed Apple Account (managedAppleId)`);
  return id;
}

/**
 * Apple requires https:// for ServerURL and CheckInURL. Plain http is let through for localhost and
 * 127.0.0.1 only, where the tests and the sandbox device simulator talk to Tandem without TLS; a real
 * device would never reach such a URL.
 */
function requireMdmUrl(name: string, value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error(`${name} is not a URL: ${value}`);
  }
  const local = url.hostname === 'localhost' || url.hostname === '127.0.0.1';
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && local)) {
    throw new Error(`${name} must be an https:// URL (http:// only for localhost): ${value}`);
  }
  return value;
}

function newUuid(): string {
  return randomUUID().toUpperCase();
}

function trustAnchorName(der: Buffer): string {
  return describeCertificate(new X509Certificate(der).toString()).commonName ?? 'Trust anchor';
}

/** CMS SignedData (SHA-256, DER) with the profile's XML plist attached and the signer chain included. */
export function signProfile(profile: Record<string, unknown>, signer: CertificateAndKey, chainPems: string[] = []): Buffer {
  return signCms(Buffer.from(buildPlist(profile), 'utf8'), signer, { detached: false, chainPems });
}

/** Verifies a signed profile's signature over its content and returns the profile and the signer. */
export function readSignedProfile(der: Buffer): { profile: Record<string, unknown>; signerPem: string } {
  const { content, signerCertificate } = verifySignedData(der);
  return { profile: parsePlist(content), signerPem: new X509Certificate(signerCertificate).toString() };
}
