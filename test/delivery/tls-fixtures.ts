/**
 * Throwaway PKI for the delivery tests: a CA, a server certificate for 127.0.0.1, and MDM-push-
 * like client certificates (topic in the subject UID). Keys come from node:crypto (fast, native);
 * node-forge only assembles and signs the certificates.
 */
import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import forge from 'node-forge';

export interface KeyAndCert {
  certPem: string;
  keyPem: string;
}

const UID_OID = '0.9.2342.19200300.100.1.1';

function newKey() {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const spkiPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  return { keyPem, privateKey: forge.pki.privateKeyFromPem(keyPem), publicKey: forge.pki.publicKeyFromPem(spkiPem) };
}

interface CertSpec {
  subject: forge.pki.CertificateField[];
  extensions: object[];
  issuer?: { cert: forge.pki.Certificate; key: forge.pki.rsa.PrivateKey };
}

function issue({ subject, extensions, issuer }: CertSpec) {
  const key = newKey();
  const cert = forge.pki.createCertificate();
  cert.publicKey = key.publicKey;
  // Positive serial: a leading 0x00..0x7f byte keeps the DER INTEGER non-negative.
  cert.serialNumber = `01${randomBytes(15).toString('hex')}`;
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + 24 * 3600_000);
  cert.setSubject(subject);
  cert.setIssuer(issuer ? issuer.cert.subject.attributes : subject);
  cert.setExtensions(extensions);
  cert.sign(issuer ? issuer.key : key.privateKey, forge.md.sha256.create());
  return { cert, key: key.privateKey, certPem: forge.pki.certificateToPem(cert), keyPem: key.keyPem };
}

export function createCa(commonName: string) {
  return issue({
    subject: [{ name: 'commonName', value: commonName }],
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    ],
  });
}

export type Ca = ReturnType<typeof createCa>;

export function createServerCert(ca: Ca): KeyAndCert {
  const { certPem, keyPem } = issue({
    subject: [{ name: 'commonName', value: '127.0.0.1' }],
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }, { type: 2, value: 'localhost' }] },
    ],
    issuer: ca,
  });
  return { certPem, keyPem };
}

/** A certificate shaped like Apple's MDM push certificate: the topic is the subject's UID. */
export function createPushCert(issuer: Ca | 'self-signed', topic = `com.apple.mgmt.External.${randomUUID()}`) {
  const { certPem, keyPem } = issue({
    subject: [
      { type: UID_OID, value: topic },
      { name: 'commonName', value: `APSP:${topic}` },
    ],
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', clientAuth: true },
    ],
    ...(issuer === 'self-signed' ? {} : { issuer }),
  });
  return { certPem, keyPem, topic };
}

/** Everything the APNs tests need. */
export function createApnsPki() {
  const ca = createCa('Tandem Test CA');
  const otherCa = createCa('Somebody Else CA');
  return {
    ca,
    server: createServerCert(ca),
    pushCert: createPushCert(ca),
    foreignPushCert: createPushCert(otherCa),
  };
}
