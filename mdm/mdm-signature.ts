/**
 * The `Mdm-Signature` header (Apple: "MDM" payload, `SignMessage`; docs/apple-protocol-notes.md §2):
 * with `SignMessage` set, every device request carries a base64 CMS SignedData over the raw HTTP
 * body, detached, signed with the device identity.
 * Verifying it proves the sender holds the identity key even when TLS ends at a proxy. Whether that
 * identity is the one bound to the enrollment, and was issued by Tandem's CA, is the caller's call.
 */
import { X509Certificate } from 'node:crypto';
import { CmsError, signCms, verifySignedData } from './cms.js';
import { certificateFingerprint, type CertificateAndKey } from './certificates.js';

export { verifyCertificateIssuedBy } from './certificates.js';

export type MdmSignatureErrorCode = 'signature_missing' | 'signature_malformed' | 'signature_invalid';

export class MdmSignatureError extends Error {
  override readonly name = 'MdmSignatureError';

  constructor(
    readonly code: MdmSignatureErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** What a device does: the header value for `body`, signed with its identity (used by the simulator). */
export function signMdmMessage(body: Buffer, identity: CertificateAndKey): string {
  return signCms(body, identity, { detached: true }).toString('base64');
}

/** Checks the header against the raw body; returns the signer certificate and its SHA-256 fingerprint. */
export function verifyMdmSignature(header: string | undefined, body: Buffer): { certificatePem: string; fingerprint: string } {
  const compact = header?.replace(/\s+/g, '') ?? '';
  if (compact === '') throw new MdmSignatureError('signature_missing', 'the request has no Mdm-Signature header');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(compact) || compact.length % 4 === 1) {
    throw new MdmSignatureError('signature_malformed', 'the Mdm-Signature header is not base64');
  }

  let signerCertificate: Buffer;
  try {
    ({ signerCertificate } = verifySignedData(Buffer.from(compact, 'base64'), body));
  } catch (error) {
    if (error instanceof CmsError) {
      const code = error.code === 'malformed' ? 'signature_malformed' : 'signature_invalid';
      throw new MdmSignatureError(code, `Mdm-Signature: ${error.message}`);
    }
    throw error;
  }
  return { certificatePem: new X509Certificate(signerCertificate).toString(), fingerprint: certificateFingerprint(signerCertificate) };
}
