import forge from 'node-forge';

// A name attribute's `valueTagClass` holds an ASN.1 type; the typings mistake it for a tag class.
export const UTF8_TAG = forge.asn1.Type.UTF8 as number as forge.asn1.Class;

/**
 * Forge reads UTF8String name values as raw UTF-8 bytes but UTF-8-encodes them again when it writes
 * a name, so a non-ASCII name taken from a parsed certificate comes out garbled (and no longer
 * matches the original). Decode the values before handing the name back to forge.
 */
export function reusableName(fields: forge.pki.CertificateField[]): forge.pki.CertificateField[] {
  return fields.map((field) =>
    field.valueTagClass === UTF8_TAG && typeof field.value === 'string' ? { ...field, value: forge.util.decodeUtf8(field.value) } : field,
  );
}

/** A parsed certificate whose issuer name forge can write back correctly (e.g. into a CMS signer id). */
export function certificateForSigning(certPem: string): forge.pki.Certificate {
  const cert = forge.pki.certificateFromPem(certPem);
  // Only the name fields change; forge keeps the original TBSCertificate for the certificate's own DER.
  cert.issuer.attributes = reusableName(cert.issuer.attributes);
  return cert;
}
