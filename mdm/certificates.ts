/**
 * Tandem's certificate authority and the certificates it issues: device identities (delivered in
 * the enrollment profile as PKCS#12), the profile-signing certificate, a TLS server certificate,
 * and a self-signed stand-in for Apple's MDM push certificate in sandbox mode. RSA 2048, SHA-256.
 * Keys are generated with node:crypto (far faster than forge's pure-JS keygen) and handed to forge,
 * which builds the certificates and PKCS#12 files.
 */
import { createHash, createPrivateKey, generateKeyPairSync, randomBytes, X509Certificate } from 'node:crypto';
import forge from 'node-forge';
import { children, integerHex, isTag, oidOf, parseDer, stringOf, timeOf, Class } from './asn1.js';
import { reusableName, UTF8_TAG } from './forge-names.js';

const { pki } = forge;

export interface CertificateAndKey {
  certPem: string;
  keyPem: string;
}

export type CertificateUsage = 'device-identity' | 'profile-signing' | 'tls-server';

const UID_OID = '0.9.2342.19200300.100.1.1';
const CLOCK_SKEW_MS = 5 * 60 * 1000; // backdate notBefore so a device with a slow clock accepts the cert
const DAY_MS = 24 * 60 * 60 * 1000;

export function createCertificateAuthority(opts: { commonName: string; organization: string; validYears?: number }): CertificateAndKey {
  const validYears = opts.validYears ?? 10;
  if (!Number.isInteger(validYears) || validYears <= 0) throw new Error('validYears must be a positive integer');
  const keys = generateRsaKey();
  const name = distinguishedName({ CN: opts.commonName, O: opts.organization });
  const notAfter = new Date();
  notAfter.setUTCFullYear(notAfter.getUTCFullYear() + validYears);
  const cert = buildCertificate({
    subject: name,
    issuer: name,
    publicKey: keys.publicKey,
    signingKey: keys.privateKey,
    notAfter,
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
      { name: 'subjectKeyIdentifier' },
    ],
  });
  return { certPem: certificatePem(cert), keyPem: keys.keyPem };
}

export function issueCertificate(
  ca: CertificateAndKey,
  opts: {
    commonName: string;
    organization?: string;
    validDays: number;
    /** a validity finer than days (device identities: TANDEM_IDENTITY_VALIDITY); overrides validDays */
    validForMs?: number;
    usage: CertificateUsage;
    dnsNames?: string[];
  },
): CertificateAndKey & { serialNumber: string } {
  if (!Number.isInteger(opts.validDays) || opts.validDays <= 0) throw new Error('validDays must be a positive integer');
  if (opts.validForMs !== undefined && (!Number.isSafeInteger(opts.validForMs) || opts.validForMs <= 0)) throw new Error('validForMs must be a positive number of milliseconds');
  const validMs = opts.validForMs ?? opts.validDays * DAY_MS;
  if (!keyMatchesCertificate(ca.certPem, ca.keyPem)) throw new Error('the CA key does not belong to the CA certificate');
  const caCert = pki.certificateFromPem(ca.certPem);
  const caKey = pki.privateKeyFromPem(ca.keyPem);
  const keys = generateRsaKey();
  const caKeyId = (caCert.getExtension('subjectKeyIdentifier') as { subjectKeyIdentifier?: string } | null)?.subjectKeyIdentifier;

  const cert = buildCertificate({
    subject: distinguishedName({ CN: opts.commonName, O: opts.organization }),
    issuer: reusableName(caCert.subject.attributes),
    publicKey: keys.publicKey,
    signingKey: caKey,
    // Never past the CA's own expiry: the certificate could not be validated beyond it anyway.
    notAfter: new Date(Math.min(Date.now() + validMs, caCert.validity.notAfter.getTime())),
    extensions: [
      { name: 'basicConstraints', cA: false, critical: true },
      ...usageExtensions(opts.usage, opts.dnsNames ?? []),
      { name: 'subjectKeyIdentifier' },
      {
        name: 'authorityKeyIdentifier',
        keyIdentifier: caKeyId ? forge.util.hexToBytes(caKeyId) : caCert.generateSubjectKeyIdentifier().getBytes(),
      },
    ],
  });
  return { certPem: certificatePem(cert), keyPem: keys.keyPem, serialNumber: cert.serialNumber };
}

/**
 * A DER PKCS#12 holding the identity and its chain. Encrypted with the legacy PBE-SHA1-3DES scheme
 * and a SHA-1 MAC: iOS refuses the AES/PBES2 files modern tools produce by default.
 */
export function toPkcs12(identity: CertificateAndKey, chainPems: string[], password: string, friendlyName: string): Buffer {
  const key = pki.privateKeyFromPem(identity.keyPem);
  const certs = [identity.certPem, ...chainPems].map((pem) => pki.certificateFromPem(pem));
  const p12 = forge.pkcs12.toPkcs12Asn1(key, certs, password, { algorithm: '3des', friendlyName, generateLocalKeyId: true });
  return Buffer.from(forge.asn1.toDer(p12).getBytes(), 'binary');
}

/** The first private key of a PKCS#12 and the certificate that goes with it. */
export function fromPkcs12(p12: Buffer, password: string): CertificateAndKey {
  let pfx: forge.pkcs12.Pkcs12Pfx;
  try {
    pfx = forge.pkcs12.pkcs12FromAsn1(forge.asn1.fromDer(p12.toString('binary')), false, password);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    if (/MAC could not be verified|password/i.test(message)) throw new Error('cannot open the PKCS#12: wrong password');
    throw new Error(`cannot read the PKCS#12: ${message}`);
  }
  const keyBags = [
    ...(pfx.getBags({ bagType: pki.oids.pkcs8ShroudedKeyBag! })[pki.oids.pkcs8ShroudedKeyBag!] ?? []),
    ...(pfx.getBags({ bagType: pki.oids.keyBag! })[pki.oids.keyBag!] ?? []),
  ];
  const key = keyBags.find((bag) => bag.key)?.key;
  // Without a MAC a wrong password surfaces as undecryptable key bags rather than a MAC failure.
  if (!key) throw new Error('cannot open the PKCS#12: no readable private key (wrong password?)');
  const keyPem = createPrivateKey(pki.privateKeyToPem(key)).export({ type: 'pkcs8', format: 'pem' }) as string;

  const certBags = pfx.getBags({ bagType: pki.oids.certBag! })[pki.oids.certBag!] ?? [];
  for (const bag of certBags) {
    if (!bag.cert) continue;
    const certPem = certificatePem(bag.cert);
    if (keyMatchesCertificate(certPem, keyPem)) return { certPem, keyPem };
  }
  throw new Error('the PKCS#12 holds no certificate for its private key');
}

/** Lowercase hex SHA-256 of the certificate's DER, the form enrollments bind devices by. */
export function certificateFingerprint(certPemOrDer: string | Buffer): string {
  return createHash('sha256').update(new X509Certificate(certPemOrDer).raw).digest('hex');
}

export interface CertificateDescription {
  subject: Record<string, string>;
  uid?: string;
  commonName?: string;
  notBefore: Date;
  notAfter: Date;
  serialNumber: string;
}

/**
 * Reads a certificate's subject, validity and serial. Walks the DER itself rather than using forge's
 * certificate parser, which only understands RSA keys.
 */
export function describeCertificate(certPem: string): CertificateDescription {
  const tbs = children(children(parseDer(new X509Certificate(certPem).raw))[0]);
  const fields = isTag(tbs[0], Class.CONTEXT_SPECIFIC, 0) ? tbs.slice(1) : tbs; // skip the [0] version
  const [serial, , , validity, subjectName] = fields;
  const [notBefore, notAfter] = children(validity);

  const subject: Record<string, string> = {};
  let uid: string | undefined;
  for (const rdn of children(subjectName)) {
    for (const attribute of children(rdn)) {
      const [type, value] = children(attribute);
      const oid = oidOf(type);
      const text = stringOf(value);
      if (oid === UID_OID) uid ??= text;
      const label = ATTRIBUTE_LABELS[oid] ?? oid;
      subject[label] = subject[label] === undefined ? text : `${subject[label]}, ${text}`;
    }
  }
  const description: CertificateDescription = {
    subject,
    notBefore: timeOf(notBefore),
    notAfter: timeOf(notAfter),
    serialNumber: integerHex(serial),
  };
  if (uid !== undefined) description.uid = uid;
  if (subject.CN !== undefined) description.commonName = subject.CN;
  return description;
}

/**
 * A self-signed certificate shaped like Apple's MDM push certificate (subject UID = the APNs topic,
 * CN = "APSP:<topic>"), standing in for it in sandbox mode where no real push is sent.
 */
export function createSandboxPushCertificate(opts: { topic: string; validDays?: number }): CertificateAndKey {
  if (!opts.topic.startsWith('com.apple.mgmt.')) throw new Error('an MDM push topic starts with "com.apple.mgmt."');
  const keys = generateRsaKey();
  const name: forge.pki.CertificateField[] = [
    { type: UID_OID, value: opts.topic, valueTagClass: UTF8_TAG },
    { type: pki.oids.commonName!, value: `APSP:${opts.topic}`, valueTagClass: UTF8_TAG },
  ];
  const cert = buildCertificate({
    subject: name,
    issuer: name,
    publicKey: keys.publicKey,
    signingKey: keys.privateKey,
    notAfter: new Date(Date.now() + (opts.validDays ?? 365) * DAY_MS),
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, critical: true },
      { name: 'extKeyUsage', clientAuth: true },
      { name: 'subjectKeyIdentifier' },
    ],
  });
  return { certPem: certificatePem(cert), keyPem: keys.keyPem };
}

export function keyMatchesCertificate(certPem: string, keyPem: string): boolean {
  try {
    return new X509Certificate(certPem).checkPrivateKey(createPrivateKey(keyPem));
  } catch {
    return false;
  }
}

/** True when `caPem` (a CA certificate) signed `certPem` and both are valid now. */
export function verifyCertificateIssuedBy(certPem: string, caPem: string): boolean {
  try {
    const cert = new X509Certificate(certPem);
    const ca = new X509Certificate(caPem);
    if (!ca.ca || !cert.checkIssued(ca) || !cert.verify(ca.publicKey)) return false;
    const now = Date.now();
    return [certPem, caPem].every((pem) => {
      const { notBefore, notAfter } = describeCertificate(pem);
      return notBefore.getTime() <= now && now <= notAfter.getTime();
    });
  } catch {
    return false;
  }
}

const ATTRIBUTE_LABELS: Record<string, string> = {
  '2.5.4.3': 'CN',
  '2.5.4.5': 'serialNumber',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.9': 'STREET',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  [UID_OID]: 'UID',
  '0.9.2342.19200300.100.1.25': 'DC',
  '1.2.840.113549.1.9.1': 'emailAddress',
};

interface RsaKeys {
  privateKey: forge.pki.rsa.PrivateKey;
  publicKey: forge.pki.rsa.PublicKey;
  keyPem: string;
}

function generateRsaKey(): RsaKeys {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  const forgeKey = pki.privateKeyFromPem(keyPem);
  return { privateKey: forgeKey, publicKey: pki.setRsaPublicKey(forgeKey.n, forgeKey.e), keyPem };
}

/** UTF8String values, so names outside PrintableString's alphabet survive. */
function distinguishedName(parts: { CN: string; O?: string | undefined }): forge.pki.CertificateField[] {
  const fields: forge.pki.CertificateField[] = [{ shortName: 'CN', value: parts.CN, valueTagClass: UTF8_TAG }];
  if (parts.O) fields.push({ shortName: 'O', value: parts.O, valueTagClass: UTF8_TAG });
  return fields;
}

/** Forge writes PEM with CRLF line ends; use LF like node:crypto so PEMs compare equal. */
function certificatePem(cert: forge.pki.Certificate): string {
  return pki.certificateToPem(cert).replace(/\r\n/g, '\n');
}

/** 16 random bytes, high bit clear (a positive INTEGER) and second-highest set (minimal DER). */
function randomSerialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) | 0x40;
  return bytes.toString('hex');
}

function buildCertificate(opts: {
  subject: forge.pki.CertificateField[];
  issuer: forge.pki.CertificateField[];
  publicKey: forge.pki.PublicKey;
  signingKey: forge.pki.PrivateKey;
  notAfter: Date;
  extensions: object[];
}): forge.pki.Certificate {
  const cert = pki.createCertificate();
  cert.publicKey = opts.publicKey;
  cert.serialNumber = randomSerialNumber();
  cert.validity.notBefore = new Date(Date.now() - CLOCK_SKEW_MS);
  cert.validity.notAfter = opts.notAfter;
  cert.setSubject(opts.subject);
  cert.setIssuer(opts.issuer);
  cert.setExtensions(opts.extensions);
  cert.sign(opts.signingKey as forge.pki.rsa.PrivateKey, forge.md.sha256.create());
  return cert;
}

function usageExtensions(usage: CertificateUsage, dnsNames: string[]): object[] {
  switch (usage) {
    case 'device-identity':
      return [
        { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
        { name: 'extKeyUsage', clientAuth: true },
      ];
    case 'profile-signing':
      return [
        { name: 'keyUsage', digitalSignature: true, critical: true },
        { name: 'extKeyUsage', codeSigning: true, emailProtection: true },
      ];
    case 'tls-server':
      return [
        { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
        { name: 'extKeyUsage', serverAuth: true },
        {
          name: 'subjectAltName',
          altNames: [...dnsNames.map((value) => ({ type: 2, value })), { type: 7, ip: '127.0.0.1' }],
        },
      ];
  }
}
