import { createHash } from 'node:crypto';
import forge from 'node-forge';
import { beforeAll, describe, expect, it } from 'vitest';
import { certificateFingerprint, issueCertificate } from '../../mdm/certificates.js';
import { oidOf, primitiveBytes, toDer, type Asn1 } from '../../mdm/asn1.js';
import {
  MdmSignatureError,
  signMdmMessage,
  verifyCertificateIssuedBy,
  verifyMdmSignature,
  type MdmSignatureErrorCode,
} from '../../mdm/mdm-signature.js';
import { buildPlist } from '../../mdm/plist-codec.js';
import { certificateAsn1, flipLastByte, issuerAndSerial, openSignedData, testPki, type TestPki } from './fixtures.js';

const body = Buffer.from(
  buildPlist({ MessageType: 'Authenticate', Topic: 'com.apple.mgmt.External.x', EnrollmentID: 'FB833D84-0000-4000-8000-000000000001' }),
);

function codeOf(run: () => unknown): MdmSignatureErrorCode {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(MdmSignatureError);
    return (error as MdmSignatureError).code;
  }
  throw new Error('expected an MdmSignatureError');
}

const reencode = (der: Buffer) => der.toString('base64');

/** The signed attributes of the single signer, by OID. */
function signedAttributes(signerInfo: Asn1[]): Map<string, Asn1> {
  const attrs = signerInfo.find((n) => n.tagClass === forge.asn1.Class.CONTEXT_SPECIFIC && n.type === 0)!;
  return new Map((attrs.value as Asn1[]).map((a) => [oidOf((a.value as Asn1[])[0]), ((a.value as Asn1[])[1]!.value as Asn1[])[0]!]));
}

let pki: TestPki;
beforeAll(() => {
  pki = testPki();
});

describe('signMdmMessage', () => {
  it('makes a detached SHA-256 SignedData with the signer certificate and the usual attributes', () => {
    const header = signMdmMessage(body, pki.device);
    expect(header).toMatch(/^[A-Za-z0-9+/]+=*$/);
    const parts = openSignedData(Buffer.from(header, 'base64'));
    const encapsulated = parts.fields[2]!.value as Asn1[];
    expect(encapsulated).toHaveLength(1); // eContentType only: detached
    expect(Buffer.from(header, 'base64').includes(body)).toBe(false);
    expect(parts.certificates.map((c) => toDer(c))).toEqual([toDer(certificateAsn1(pki.device.certPem))]);

    const attributes = signedAttributes(parts.signerInfo);
    expect([...attributes.keys()]).toEqual(['1.2.840.113549.1.9.3', '1.2.840.113549.1.9.5', '1.2.840.113549.1.9.4']);
    expect(oidOf(attributes.get('1.2.840.113549.1.9.3'))).toBe('1.2.840.113549.1.7.1');
    expect(primitiveBytes(attributes.get('1.2.840.113549.1.9.4'))).toEqual(createHash('sha256').update(body).digest());
    const digestAlgorithm = (parts.signerInfo[2]!.value as Asn1[])[0];
    expect(oidOf(digestAlgorithm)).toBe('2.16.840.1.101.3.4.2.1');
  });
});

describe('verifyMdmSignature', () => {
  it('returns the signer certificate and its fingerprint', () => {
    const result = verifyMdmSignature(signMdmMessage(body, pki.device), body);
    expect(result.certificatePem).toBe(pki.device.certPem);
    expect(result.fingerprint).toBe(certificateFingerprint(pki.device.certPem));
    // The caller's follow-up check.
    expect(verifyCertificateIssuedBy(result.certificatePem, pki.ca.certPem)).toBe(true);
    expect(verifyMdmSignature(signMdmMessage(body, pki.otherDevice), body).fingerprint).toBe(certificateFingerprint(pki.otherDevice.certPem));
  });

  it('accepts an empty body and a header folded with whitespace', () => {
    expect(verifyMdmSignature(signMdmMessage(Buffer.alloc(0), pki.device), Buffer.alloc(0)).certificatePem).toBe(pki.device.certPem);
    const folded = signMdmMessage(body, pki.device).replace(/(.{64})/g, '$1\r\n ');
    expect(verifyMdmSignature(folded, body).certificatePem).toBe(pki.device.certPem);
  });

  it('signature_missing without a header', () => {
    expect(codeOf(() => verifyMdmSignature(undefined, body))).toBe('signature_missing');
    expect(codeOf(() => verifyMdmSignature('', body))).toBe('signature_missing');
    expect(codeOf(() => verifyMdmSignature('  ', body))).toBe('signature_missing');
  });

  it('signature_malformed for garbage', () => {
    expect(codeOf(() => verifyMdmSignature('not base64 at all!', body))).toBe('signature_malformed');
    expect(codeOf(() => verifyMdmSignature('AAAAA', body))).toBe('signature_malformed');
    expect(codeOf(() => verifyMdmSignature(Buffer.from('hello world').toString('base64'), body))).toBe('signature_malformed');
    expect(codeOf(() => verifyMdmSignature(reencode(toDer(certificateAsn1(pki.device.certPem))), body))).toBe('signature_malformed');
    const truncated = Buffer.from(signMdmMessage(body, pki.device), 'base64').subarray(0, 200);
    expect(codeOf(() => verifyMdmSignature(reencode(truncated), body))).toBe('signature_malformed');
  });

  it('signature_invalid for a tampered body', () => {
    const header = signMdmMessage(body, pki.device);
    const tampered = Buffer.from(body.toString().replace('Authenticate', 'TokenUpdate'));
    expect(codeOf(() => verifyMdmSignature(header, tampered))).toBe('signature_invalid');
    expect(codeOf(() => verifyMdmSignature(header, Buffer.concat([body, Buffer.from('\n')])))).toBe('signature_invalid');
    expect(codeOf(() => verifyMdmSignature(header, Buffer.alloc(0)))).toBe('signature_invalid');
  });

  it('signature_invalid for a forged signature or altered signed attributes', () => {
    const der = Buffer.from(signMdmMessage(body, pki.device), 'base64');

    const forged = openSignedData(der);
    flipLastByte(forged.signerInfo[forged.signerInfo.length - 1]!);
    expect(codeOf(() => verifyMdmSignature(reencode(forged.encode()), body))).toBe('signature_invalid');

    // A later signing time makes the signature over the attributes wrong.
    const retimed = openSignedData(der);
    const time = signedAttributes(retimed.signerInfo).get('1.2.840.113549.1.9.5')!;
    time.value = forge.asn1.dateToUtcTime(new Date(Date.now() + 3_600_000));
    expect(codeOf(() => verifyMdmSignature(reencode(retimed.encode()), body))).toBe('signature_invalid');

    // Re-pointing the digest at another body without re-signing.
    const redirected = openSignedData(der);
    const other = Buffer.from('<plist><dict/></plist>');
    signedAttributes(redirected.signerInfo).get('1.2.840.113549.1.9.4')!.value = createHash('sha256').update(other).digest().toString('binary');
    expect(codeOf(() => verifyMdmSignature(reencode(redirected.encode()), other))).toBe('signature_invalid');
  });

  it('signature_invalid for a swapped certificate', () => {
    const der = Buffer.from(signMdmMessage(body, pki.device), 'base64');

    // Another device's certificate in place of the signer's: the signer id no longer finds it.
    const swapped = openSignedData(der);
    swapped.certificates[0] = certificateAsn1(pki.otherDevice.certPem);
    expect(codeOf(() => verifyMdmSignature(reencode(swapped.encode()), body))).toBe('signature_invalid');

    // ...and with the signer id re-pointed at it, the signature does not verify with its key.
    const repointed = openSignedData(der);
    repointed.certificates[0] = certificateAsn1(pki.otherDevice.certPem);
    repointed.signerInfo[1] = issuerAndSerial(pki.otherDevice.certPem);
    expect(codeOf(() => verifyMdmSignature(reencode(repointed.encode()), body))).toBe('signature_invalid');

    // An identity from another CA still verifies here: whom to trust is the caller's check.
    const foreign = issueCertificate(pki.otherCa, { commonName: 'device-1', validDays: 1, usage: 'device-identity' });
    const result = verifyMdmSignature(signMdmMessage(body, foreign), body);
    expect(verifyCertificateIssuedBy(result.certificatePem, pki.ca.certPem)).toBe(false);
  });

  it('signature_invalid when the signer certificate is missing', () => {
    const parts = openSignedData(Buffer.from(signMdmMessage(body, pki.device), 'base64'));
    parts.certificates.length = 0;
    expect(codeOf(() => verifyMdmSignature(reencode(parts.encode()), body))).toBe('signature_invalid');
  });
});
