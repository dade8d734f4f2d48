/**
 * Shared test PKI (made once per test file) and helpers to take a CMS SignedData apart and put it
 * back together, for the forged-signature cases.
 */
import forge from 'node-forge';
import { createCertificateAuthority, issueCertificate, type CertificateAndKey } from '../../mdm/certificates.js';
import { children, parseDer, toDer, type Asn1 } from '../../mdm/asn1.js';

export interface TestPki {
  ca: CertificateAndKey;
  otherCa: CertificateAndKey;
  device: CertificateAndKey & { serialNumber: string };
  otherDevice: CertificateAndKey & { serialNumber: string };
  signer: CertificateAndKey & { serialNumber: string };
}

let pki: TestPki | undefined;

export function testPki(): TestPki {
  if (pki) return pki;
  const ca = createCertificateAuthority({ commonName: 'Tandem Test CA', organization: 'Tandem Tests Société' });
  pki = {
    ca,
    otherCa: createCertificateAuthority({ commonName: 'Someone Else CA', organization: 'Elsewhere' }),
    device: issueCertificate(ca, { commonName: 'device-1', validDays: 30, usage: 'device-identity' }),
    otherDevice: issueCertificate(ca, { commonName: 'device-2', validDays: 30, usage: 'device-identity' }),
    signer: issueCertificate(ca, { commonName: 'Tandem profile signing', organization: 'Tandem', validDays: 30, usage: 'profile-signing' }),
  };
  return pki;
}

export function pemToDer(pem: string): Buffer {
  return Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
}

/** The pieces of a SignedData that the tamper tests touch (mutable; re-encode with `encode`). */
export interface SignedDataParts {
  root: Asn1;
  fields: Asn1[];
  certificates: Asn1[];
  signerInfo: Asn1[];
  encode(): Buffer;
}

export function openSignedData(der: Buffer): SignedDataParts {
  const root = parseDer(der);
  const fields = children(children(children(root)[1])[0]);
  const certificatesField = fields.find((f) => f.tagClass === forge.asn1.Class.CONTEXT_SPECIFIC && f.type === 0)!;
  const signerInfos = fields[fields.length - 1]!;
  return {
    root,
    fields,
    certificates: children(certificatesField),
    signerInfo: children(children(signerInfos)[0]),
    encode: () => toDer(root),
  };
}

export function certificateAsn1(pem: string): Asn1 {
  return parseDer(pemToDer(pem));
}

/** An IssuerAndSerialNumber that names `pem`. */
export function issuerAndSerial(pem: string): Asn1 {
  const tbs = children(children(certificateAsn1(pem))[0]);
  const [serial, , issuer] = tbs.slice(1); // skip the [0] version
  return forge.asn1.create(forge.asn1.Class.UNIVERSAL, forge.asn1.Type.SEQUENCE, true, [issuer!, serial!]);
}

export function flipLastByte(node: Asn1): void {
  const bytes = node.value as string;
  node.value = bytes.slice(0, -1) + String.fromCharCode(bytes.charCodeAt(bytes.length - 1) ^ 1);
}
