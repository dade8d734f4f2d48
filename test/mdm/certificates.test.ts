import { createHash, X509Certificate } from 'node:crypto';
import forge from 'node-forge';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  certificateFingerprint,
  createCertificateAuthority,
  createSandboxPushCertificate,
  describeCertificate,
  fromPkcs12,
  issueCertificate,
  keyMatchesCertificate,
  toPkcs12,
  verifyCertificateIssuedBy,
} from '../../mdm/certificates.js';
import { reusableName } from '../../mdm/forge-names.js';
import { pemToDer, testPki, type TestPki } from './fixtures.js';

const DAY = 24 * 60 * 60 * 1000;

/** Forge's view of an extension, for asserting key usages. */
function extension(pem: string, name: string): Record<string, unknown> | undefined {
  return (forge.pki.certificateFromPem(pem).getExtension(name) ?? undefined) as Record<string, unknown> | undefined;
}

let pki: TestPki;
beforeAll(() => {
  pki = testPki();
});

describe('createCertificateAuthority', () => {
  it('makes a self-signed CA that may sign certificates and CRLs', () => {
    const ca = new X509Certificate(pki.ca.certPem);
    expect(ca.ca).toBe(true);
    expect(ca.verify(ca.publicKey)).toBe(true);
    expect(extension(pki.ca.certPem, 'basicConstraints')).toMatchObject({ cA: true, critical: true });
    expect(extension(pki.ca.certPem, 'keyUsage')).toMatchObject({ keyCertSign: true, cRLSign: true });
    expect(extension(pki.ca.certPem, 'subjectKeyIdentifier')).toBeDefined();
    expect(forge.pki.certificateFromPem(pki.ca.certPem).siginfo.algorithmOid).toBe(forge.pki.oids.sha256WithRSAEncryption);
    expect((forge.pki.certificateFromPem(pki.ca.certPem).publicKey as forge.pki.rsa.PublicKey).n.bitLength()).toBe(2048);
    expect(keyMatchesCertificate(pki.ca.certPem, pki.ca.keyPem)).toBe(true);
  });

  it('is valid for ten years unless told otherwise, and keeps non-ASCII names intact', () => {
    const described = describeCertificate(pki.ca.certPem);
    expect(described.subject).toEqual({ CN: 'Tandem Test CA', O: 'Tandem Tests Société' });
    expect(described.notAfter.getUTCFullYear() - new Date().getUTCFullYear()).toBe(10);
    const short = createCertificateAuthority({ commonName: 'Short', organization: 'Tandem', validYears: 2 });
    expect(describeCertificate(short.certPem).notAfter.getUTCFullYear() - new Date().getUTCFullYear()).toBe(2);
    expect(() => createCertificateAuthority({ commonName: 'x', organization: 'y', validYears: 0 })).toThrow(/validYears/);
    // What it issues never outlives it.
    const issued = issueCertificate(short, { commonName: 'long', validDays: 5 * 365, usage: 'device-identity' });
    expect(describeCertificate(issued.certPem).notAfter).toEqual(describeCertificate(short.certPem).notAfter);
  });
});

describe('issueCertificate', () => {
  it('issues a device identity for TLS client auth, chained to the CA', () => {
    const { device, ca } = pki;
    expect(verifyCertificateIssuedBy(device.certPem, ca.certPem)).toBe(true);
    expect(keyMatchesCertificate(device.certPem, device.keyPem)).toBe(true);
    expect(extension(device.certPem, 'keyUsage')).toMatchObject({ digitalSignature: true, keyEncipherment: true });
    expect(extension(device.certPem, 'extKeyUsage')).toMatchObject({ clientAuth: true });
    expect(extension(device.certPem, 'extKeyUsage')?.serverAuth).toBeFalsy();
    expect(extension(device.certPem, 'basicConstraints')).toMatchObject({ cA: false });
    expect(new X509Certificate(device.certPem).ca).toBe(false);
    // The authority key id points at the CA's subject key id.
    const aki = forge.pki.certificateFromPem(device.certPem).getExtension('authorityKeyIdentifier') as { value: string };
    const ski = extension(ca.certPem, 'subjectKeyIdentifier')!.subjectKeyIdentifier as string;
    expect(Buffer.from(aki.value, 'binary').toString('hex')).toContain(ski);
    expect(new X509Certificate(device.certPem).issuer).toBe(new X509Certificate(ca.certPem).subject);
  });

  it('gives each certificate a random positive serial and the requested validity', () => {
    const { device, otherDevice } = pki;
    expect(device.serialNumber).toMatch(/^[4-7][0-9a-f]{31}$/);
    expect(device.serialNumber).not.toBe(otherDevice.serialNumber);
    expect(describeCertificate(device.certPem).serialNumber).toBe(device.serialNumber);
    expect(new X509Certificate(device.certPem).serialNumber.toLowerCase()).toBe(device.serialNumber);
    const { notBefore, notAfter } = describeCertificate(device.certPem);
    expect(notBefore.getTime()).toBeLessThan(Date.now());
    expect(Math.abs(notAfter.getTime() - (Date.now() + 30 * DAY))).toBeLessThan(60_000);
  });

  it('issues a profile-signing certificate for code signing and S/MIME', () => {
    expect(extension(pki.signer.certPem, 'keyUsage')).toMatchObject({ digitalSignature: true });
    expect(extension(pki.signer.certPem, 'keyUsage')).toMatchObject({ keyEncipherment: false, keyCertSign: false });
    expect(extension(pki.signer.certPem, 'extKeyUsage')).toMatchObject({ codeSigning: true, emailProtection: true });
    expect(describeCertificate(pki.signer.certPem).subject).toEqual({ CN: 'Tandem profile signing', O: 'Tandem' });
  });

  it('issues a TLS server certificate for its DNS names and 127.0.0.1', () => {
    const tls = issueCertificate(pki.ca, { commonName: 'tandem.test', validDays: 7, usage: 'tls-server', dnsNames: ['tandem.test', 'localhost'] });
    expect(extension(tls.certPem, 'extKeyUsage')).toMatchObject({ serverAuth: true });
    const x509 = new X509Certificate(tls.certPem);
    expect(x509.subjectAltName).toBe('DNS:tandem.test, DNS:localhost, IP Address:127.0.0.1');
    expect(x509.checkHost('tandem.test')).toBe('tandem.test');
    expect(x509.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(verifyCertificateIssuedBy(tls.certPem, pki.ca.certPem)).toBe(true);
  });

  it('issues an identity for less than a day with validForMs (TANDEM_IDENTITY_VALIDITY=1h)', () => {
    const before = Date.now();
    const hour = issueCertificate(pki.ca, { commonName: 'hour', validDays: 1, validForMs: 3_600_000, usage: 'device-identity' });
    const notAfter = describeCertificate(hour.certPem).notAfter.getTime();
    expect(notAfter).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000 + 3_600_000 - 1000);
    expect(notAfter).toBeLessThanOrEqual(Date.now() + 3_600_000);
    expect(() => issueCertificate(pki.ca, { commonName: 'x', validDays: 1, validForMs: 0, usage: 'device-identity' })).toThrow(/validForMs/);
  });

  it('refuses a bad validity or a CA key that is not the CA’s', () => {
    expect(() => issueCertificate(pki.ca, { commonName: 'x', validDays: 0, usage: 'device-identity' })).toThrow(/validDays/);
    expect(() => issueCertificate(pki.ca, { commonName: 'x', validDays: 1.5, usage: 'device-identity' })).toThrow(/validDays/);
    const mismatched = { certPem: pki.ca.certPem, keyPem: pki.otherCa.keyPem };
    expect(() => issueCertificate(mismatched, { commonName: 'x', validDays: 1, usage: 'device-identity' })).toThrow(/CA key/);
  });
});

describe('PKCS#12', () => {
  it('round-trips the identity with its chain and friendly name', () => {
    const p12 = toPkcs12(pki.device, [pki.ca.certPem], 'correct horse', 'Tandem device identity');
    const opened = fromPkcs12(p12, 'correct horse');
    expect(opened.certPem).toBe(pki.device.certPem);
    expect(keyMatchesCertificate(opened.certPem, opened.keyPem)).toBe(true);

    const pfx = forge.pkcs12.pkcs12FromAsn1(forge.asn1.fromDer(p12.toString('binary')), 'correct horse');
    const certs = pfx.getBags({ bagType: forge.pki.oids.certBag! })[forge.pki.oids.certBag!]!;
    expect(certs.map((bag) => forge.pki.certificateToPem(bag.cert!).replace(/\r\n/g, '\n'))).toEqual([pki.device.certPem, pki.ca.certPem]);
    const keys = pfx.getBags({ bagType: forge.pki.oids.pkcs8ShroudedKeyBag! })[forge.pki.oids.pkcs8ShroudedKeyBag!]!;
    expect(keys).toHaveLength(1);
    expect(keys[0]!.attributes.friendlyName).toEqual(['Tandem device identity']);
  });

  it('encrypts the key with the legacy PBE-SHA1-3DES scheme iOS accepts', () => {
    const p12 = toPkcs12(pki.device, [], 'pw', 'id');
    const pbeWithSha1And3KeyTripleDesCbc = forge.asn1.oidToDer('1.2.840.113549.1.12.1.3').getBytes();
    // The shrouded key bag sits inside the (unencrypted) authSafe, so its algorithm OID is visible.
    expect(p12.includes(Buffer.from(pbeWithSha1And3KeyTripleDesCbc, 'binary'))).toBe(true);
    expect(p12.includes(Buffer.from(forge.asn1.oidToDer('1.2.840.113549.1.5.13').getBytes(), 'binary'))).toBe(false); // no PBES2
  });

  it('finds the certificate that goes with the key, whatever the bag order', () => {
    const key = forge.pki.privateKeyFromPem(pki.device.keyPem);
    const certs = [pki.ca.certPem, pki.device.certPem].map((pem) => forge.pki.certificateFromPem(pem));
    const p12 = Buffer.from(forge.asn1.toDer(forge.pkcs12.toPkcs12Asn1(key, certs, 'pw', { algorithm: '3des' })).getBytes(), 'binary');
    expect(fromPkcs12(p12, 'pw').certPem).toBe(pki.device.certPem);
  });

  it('says so clearly on a wrong password or a file that is no PKCS#12', () => {
    const p12 = toPkcs12(pki.device, [pki.ca.certPem], 'right', 'id');
    expect(() => fromPkcs12(p12, 'wrong')).toThrow(/wrong password/);
    expect(() => fromPkcs12(p12, '')).toThrow(/wrong password/);
    expect(() => fromPkcs12(Buffer.from('not a p12'), 'right')).toThrow(/cannot read the PKCS#12/);
    expect(() => fromPkcs12(pemToDer(pki.ca.certPem), 'right')).toThrow(/PKCS#12/);
  });
});

describe('certificateFingerprint', () => {
  it('is the lowercase SHA-256 of the DER, from PEM or DER alike', () => {
    const der = pemToDer(pki.device.certPem);
    const expected = createHash('sha256').update(der).digest('hex');
    expect(certificateFingerprint(pki.device.certPem)).toBe(expected);
    expect(certificateFingerprint(der)).toBe(expected);
    expect(expected).toBe(new X509Certificate(der).fingerprint256.replace(/:/g, '').toLowerCase());
    expect(certificateFingerprint(pki.otherDevice.certPem)).not.toBe(expected);
    expect(() => certificateFingerprint('not a certificate')).toThrow();
  });
});

describe('describeCertificate and the sandbox push certificate', () => {
  it('reads the APNs topic from the UID of a push certificate', () => {
    const topic = 'com.apple.mgmt.External.8f0c2a57-3b7e-4c1d-9a5e-2f6b8d4c1e90';
    const push = createSandboxPushCertificate({ topic });
    const described = describeCertificate(push.certPem);
    expect(described.uid).toBe(topic);
    expect(described.commonName).toBe(`APSP:${topic}`);
    expect(described.subject).toEqual({ UID: topic, CN: `APSP:${topic}` });
    expect(Math.round((described.notAfter.getTime() - Date.now()) / DAY)).toBe(365);
    expect(keyMatchesCertificate(push.certPem, push.keyPem)).toBe(true);
    const x509 = new X509Certificate(push.certPem);
    expect(x509.verify(x509.publicKey)).toBe(true); // self-signed
    expect(x509.subject).toContain(`UID=${topic}`);
    expect(Math.round((describeCertificate(createSandboxPushCertificate({ topic, validDays: 10 }).certPem).notAfter.getTime() - Date.now()) / DAY)).toBe(10);
  });

  it('refuses a topic that is not an MDM topic', () => {
    expect(() => createSandboxPushCertificate({ topic: 'com.example.app' })).toThrow(/com\.apple\.mgmt\./);
  });

  it('reports subject attributes, validity and serial of an ordinary certificate', () => {
    const described = describeCertificate(pki.device.certPem);
    expect(described).toMatchObject({ subject: { CN: 'device-1' }, commonName: 'device-1', serialNumber: pki.device.serialNumber });
    expect(described.uid).toBeUndefined();
    expect(described.notBefore).toBeInstanceOf(Date);
    expect(described.notBefore.getTime()).toBe(new Date(new X509Certificate(pki.device.certPem).validFrom).getTime());
    expect(described.notAfter.getTime()).toBe(new Date(new X509Certificate(pki.device.certPem).validTo).getTime());
  });
});

describe('keyMatchesCertificate', () => {
  it('pairs a key with its own certificate only', () => {
    expect(keyMatchesCertificate(pki.device.certPem, pki.device.keyPem)).toBe(true);
    expect(keyMatchesCertificate(pki.device.certPem, pki.otherDevice.keyPem)).toBe(false);
    expect(keyMatchesCertificate(pki.device.certPem, 'garbage')).toBe(false);
    expect(keyMatchesCertificate('garbage', pki.device.keyPem)).toBe(false);
  });
});

describe('verifyCertificateIssuedBy', () => {
  it('accepts what the CA signed and nothing else', () => {
    expect(verifyCertificateIssuedBy(pki.device.certPem, pki.ca.certPem)).toBe(true);
    expect(verifyCertificateIssuedBy(pki.device.certPem, pki.otherCa.certPem)).toBe(false);
    expect(verifyCertificateIssuedBy(pki.ca.certPem, pki.ca.certPem)).toBe(true); // the root signs itself
    expect(verifyCertificateIssuedBy(pki.otherCa.certPem, pki.ca.certPem)).toBe(false);
    expect(verifyCertificateIssuedBy(pki.device.certPem, pki.otherDevice.certPem)).toBe(false); // not a CA
    expect(verifyCertificateIssuedBy('garbage', pki.ca.certPem)).toBe(false);
  });

  it('refuses a certificate whose signature was tampered with', () => {
    const cert = forge.pki.certificateFromPem(pki.device.certPem);
    const signature = cert.signature as string;
    cert.signature = signature.slice(0, -1) + String.fromCharCode(signature.charCodeAt(signature.length - 1) ^ 1);
    expect(verifyCertificateIssuedBy(forge.pki.certificateToPem(cert), pki.ca.certPem)).toBe(false);
  });

  it('refuses a CA-signed certificate outside its validity period', () => {
    const caCert = forge.pki.certificateFromPem(pki.ca.certPem);
    const caKey = forge.pki.privateKeyFromPem(pki.ca.keyPem);
    const make = (notBefore: Date, notAfter: Date) => {
      const cert = forge.pki.createCertificate();
      cert.publicKey = forge.pki.certificateFromPem(pki.device.certPem).publicKey;
      cert.serialNumber = '4a01';
      cert.validity.notBefore = notBefore;
      cert.validity.notAfter = notAfter;
      cert.setSubject([{ shortName: 'CN', value: 'dated' }]);
      cert.setIssuer(reusableName(caCert.subject.attributes)); // the CA's name is not ASCII
      cert.sign(caKey, forge.md.sha256.create());
      return forge.pki.certificateToPem(cert);
    };
    expect(verifyCertificateIssuedBy(make(new Date(Date.now() - 10 * DAY), new Date(Date.now() + DAY)), pki.ca.certPem)).toBe(true);
    expect(verifyCertificateIssuedBy(make(new Date(Date.now() - 10 * DAY), new Date(Date.now() - DAY)), pki.ca.certPem)).toBe(false);
    expect(verifyCertificateIssuedBy(make(new Date(Date.now() + DAY), new Date(Date.now() + 10 * DAY)), pki.ca.certPem)).toBe(false);
  });
});
