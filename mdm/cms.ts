/**
 * CMS SignedData (RFC 5652), the envelope of signed enrollment profiles (content attached) and of
 * the `Mdm-Signature` header (content detached). Signing goes through node-forge; forge cannot
 * verify, so verification walks the ASN.1 itself and checks signatures with node:crypto, which
 * also covers the EC keys some device identities have.
 */
import { createHash, verify as verifySignature, X509Certificate } from 'node:crypto';
import forge from 'node-forge';
import {
  children,
  integerHex,
  isTag,
  octetStringBytes,
  oidOf,
  parseDer,
  primitiveBytes,
  toDer,
  Class,
  Type,
  type Asn1,
} from './asn1.js';
import type { CertificateAndKey } from './certificates.js';
import { certificateForSigning } from './forge-names.js';

export class CmsError extends Error {
  override readonly name = 'CmsError';

  constructor(
    /** `malformed`: not a readable SignedData; `invalid`: readable, but it does not verify. */
    readonly code: 'malformed' | 'invalid',
    message: string,
  ) {
    super(message);
  }
}

const OID = {
  signedData: '1.2.840.113549.1.7.2',
  data: '1.2.840.113549.1.7.1',
  contentType: '1.2.840.113549.1.9.3',
  messageDigest: '1.2.840.113549.1.9.4',
  signingTime: '1.2.840.113549.1.9.5',
  subjectKeyIdentifier: '2.5.29.14',
};

const SHA256 = '2.16.840.1.101.3.4.2.1';

const DIGESTS: Record<string, string> = {
  '1.3.14.3.2.26': 'sha1',
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
};

// Signature algorithms that name their hash; bare rsaEncryption / ecPublicKey use the digest algorithm.
const SIGNATURE_HASHES: Record<string, string | null> = {
  '1.2.840.113549.1.1.1': null,
  '1.2.840.113549.1.1.5': 'sha1',
  '1.2.840.113549.1.1.11': 'sha256',
  '1.2.840.113549.1.1.12': 'sha384',
  '1.2.840.113549.1.1.13': 'sha512',
  '1.2.840.10045.2.1': null,
  '1.2.840.10045.4.1': 'sha1',
  '1.2.840.10045.4.3.2': 'sha256',
  '1.2.840.10045.4.3.3': 'sha384',
  '1.2.840.10045.4.3.4': 'sha512',
};

/**
 * Signs `content` with SHA-256 and RSA, including the signer certificate and chain, with the
 * authenticated attributes devices also send (contentType, signingTime, messageDigest; listed in
 * DER SET OF order so the encoding is canonical).
 */
export function signCms(content: Buffer, signer: CertificateAndKey, opts: { detached: boolean; chainPems?: string[] }): Buffer {
  const p7 = forge.pkcs7.createSignedData();
  p7.content = forge.util.createBuffer(content.toString('binary'));
  p7.addCertificate(signer.certPem);
  for (const pem of opts.chainPems ?? []) p7.addCertificate(pem);
  p7.addSigner({
    key: forge.pki.privateKeyFromPem(signer.keyPem),
    certificate: certificateForSigning(signer.certPem),
    digestAlgorithm: SHA256,
    authenticatedAttributes: [
      { type: OID.contentType, value: OID.data },
      { type: OID.signingTime },
      { type: OID.messageDigest },
    ],
  });
  p7.sign({ detached: opts.detached });
  return Buffer.from(forge.asn1.toDer(p7.toAsn1()).getBytes(), 'binary');
}

export interface VerifiedSignedData {
  content: Buffer;
  /** DER of the certificate whose key made the signature. */
  signerCertificate: Buffer;
}

/**
 * Verifies a SignedData with exactly one signer. With `detachedContent` the signature is checked
 * over those bytes (an encapsulated copy, if any, must be identical); otherwise the content must be
 * encapsulated. Does not judge the signer certificate's trust: callers do that.
 */
export function verifySignedData(der: Buffer, detachedContent?: Buffer): VerifiedSignedData {
  const signedData = readSignedData(der);
  let content: Buffer;
  if (detachedContent !== undefined) {
    if (signedData.encapsulated !== undefined && !signedData.encapsulated.equals(detachedContent)) {
      throw new CmsError('invalid', 'the signed content differs from the message');
    }
    content = detachedContent;
  } else {
    if (signedData.encapsulated === undefined) throw new CmsError('malformed', 'the SignedData carries no content');
    content = signedData.encapsulated;
  }

  const { signer } = signedData;
  const certificate = signedData.certificates.find((candidate) => identifies(signer.sid, candidate));
  if (certificate === undefined) throw new CmsError('invalid', 'the signer certificate is not in the SignedData');

  const digestName = DIGESTS[signer.digestAlgorithm];
  if (digestName === undefined) throw new CmsError('invalid', `unsupported digest algorithm ${signer.digestAlgorithm}`);
  const signatureHash = SIGNATURE_HASHES[signer.signatureAlgorithm];
  if (signatureHash === undefined) throw new CmsError('invalid', `unsupported signature algorithm ${signer.signatureAlgorithm}`);

  let signedBytes = content;
  if (signer.signedAttributes !== undefined) {
    const attributes = attributeValues(signer.signedAttributes);
    const digests = attributes.get(OID.messageDigest) ?? [];
    if (digests.length !== 1) throw new CmsError('invalid', 'the signed attributes need exactly one messageDigest');
    const expected = createHash(digestName).update(content).digest();
    if (!octetString(digests[0]).equals(expected)) throw new CmsError('invalid', 'the message digest does not match the content');
    const contentTypes = attributes.get(OID.contentType) ?? [];
    if (contentTypes.length !== 1 || oidOrUndefined(contentTypes[0]) !== signedData.contentType) {
      throw new CmsError('invalid', 'the contentType attribute does not match the content');
    }
    // The signature covers the attributes encoded as a SET OF, not with their [0] IMPLICIT tag.
    signedBytes = toDer(forge.asn1.create(Class.UNIVERSAL, Type.SET, true, children(signer.signedAttributes)));
  }

  const x509 = parseCertificate(certificate.der);
  let verified = false;
  try {
    verified = verifySignature(signatureHash ?? digestName, signedBytes, x509.publicKey, signer.signature);
  } catch {
    verified = false;
  }
  if (!verified) throw new CmsError('invalid', 'the signature does not verify with the signer certificate');
  return { content, signerCertificate: certificate.der };
}

interface SignerInfo {
  sid: { issuer: Buffer; serial: string } | { subjectKeyIdentifier: Buffer };
  digestAlgorithm: string;
  signedAttributes: Asn1 | undefined;
  signatureAlgorithm: string;
  signature: Buffer;
}

interface EmbeddedCertificate {
  der: Buffer;
  issuer: Buffer;
  serial: string;
  subjectKeyIdentifier: Buffer | undefined;
}

function readSignedData(der: Buffer): {
  contentType: string;
  encapsulated: Buffer | undefined;
  certificates: EmbeddedCertificate[];
  signer: SignerInfo;
} {
  try {
    const [contentType, explicitContent] = children(parseDer(der));
    if (oidOf(contentType) !== OID.signedData) throw new Error('not a SignedData');
    if (!isTag(explicitContent, Class.CONTEXT_SPECIFIC, 0)) throw new Error('missing [0] content');
    const fields = children(children(explicitContent)[0]);
    const [, , encapContentInfo] = fields; // version, digestAlgorithms, encapContentInfo
    const [eContentType, eContent] = children(encapContentInfo);

    let certificates: EmbeddedCertificate[] = [];
    let signerInfos: Asn1 | undefined;
    for (const field of fields.slice(3)) {
      if (isTag(field, Class.CONTEXT_SPECIFIC, 0)) certificates = children(field).map(readEmbeddedCertificate);
      else if (isTag(field, Class.UNIVERSAL, Type.SET)) signerInfos = field;
    }
    const signers = children(signerInfos);
    if (signers.length !== 1) throw new Error(`expected one signer, found ${signers.length}`);

    return {
      contentType: oidOf(eContentType),
      encapsulated: eContent === undefined ? undefined : octetStringBytes(children(eContent)[0]),
      certificates,
      signer: readSignerInfo(signers[0]!),
    };
  } catch (error) {
    throw new CmsError('malformed', `not a readable CMS SignedData: ${error instanceof Error ? error.message : String(error)}`);
  }
}

function readSignerInfo(node: Asn1): SignerInfo {
  const [, sidNode, digestAlgorithm, ...rest] = children(node); // version first
  const sid = isTag(sidNode, Class.CONTEXT_SPECIFIC, 0)
    ? { subjectKeyIdentifier: primitiveBytes(sidNode) }
    : { issuer: toDer(children(sidNode)[0]!), serial: integerHex(children(sidNode)[1]) };
  const signedAttributes = isTag(rest[0], Class.CONTEXT_SPECIFIC, 0) ? rest.shift() : undefined;
  const [signatureAlgorithm, signature] = rest;
  return {
    sid,
    digestAlgorithm: oidOf(children(digestAlgorithm)[0]),
    signedAttributes,
    signatureAlgorithm: oidOf(children(signatureAlgorithm)[0]),
    signature: octetStringBytes(signature),
  };
}

function readEmbeddedCertificate(node: Asn1): EmbeddedCertificate {
  const tbs = children(children(node)[0]);
  const fields = isTag(tbs[0], Class.CONTEXT_SPECIFIC, 0) ? tbs.slice(1) : tbs;
  const [serial, , issuer] = fields;
  let subjectKeyIdentifier: Buffer | undefined;
  const extensions = fields.find((field) => isTag(field, Class.CONTEXT_SPECIFIC, 3));
  for (const extension of extensions ? children(children(extensions)[0]) : []) {
    const parts = children(extension);
    if (oidOf(parts[0]) === OID.subjectKeyIdentifier) {
      subjectKeyIdentifier = octetStringBytes(parseDer(octetStringBytes(parts[parts.length - 1])));
    }
  }
  return { der: toDer(node), issuer: toDer(issuer!), serial: integerHex(serial), subjectKeyIdentifier };
}

function identifies(sid: SignerInfo['sid'], certificate: EmbeddedCertificate): boolean {
  if ('subjectKeyIdentifier' in sid) return certificate.subjectKeyIdentifier?.equals(sid.subjectKeyIdentifier) ?? false;
  return certificate.serial === sid.serial && certificate.issuer.equals(sid.issuer);
}

/** Attribute OID → its values, from a SET OF Attribute. */
function attributeValues(attributes: Asn1): Map<string, Asn1[]> {
  const values = new Map<string, Asn1[]>();
  try {
    for (const attribute of children(attributes)) {
      const [type, set] = children(attribute);
      const oid = oidOf(type);
      values.set(oid, [...(values.get(oid) ?? []), ...children(set)]);
    }
  } catch (error) {
    throw new CmsError('malformed', `unreadable signed attributes: ${error instanceof Error ? error.message : String(error)}`);
  }
  return values;
}

function octetString(node: Asn1 | undefined): Buffer {
  try {
    return octetStringBytes(node);
  } catch {
    throw new CmsError('malformed', 'the messageDigest attribute is not an OCTET STRING');
  }
}

function oidOrUndefined(node: Asn1 | undefined): string | undefined {
  try {
    return oidOf(node);
  } catch {
    return undefined;
  }
}

function parseCertificate(der: Buffer): X509Certificate {
  try {
    return new X509Certificate(der);
  } catch {
    throw new CmsError('malformed', 'the signer certificate is not a readable X.509 certificate');
  }
}
