/**
 * Interop with independent implementations: OpenSSL checks what we sign and package, Python's
 * plistlib reads our profile, and what OpenSSL signs (RSA, EC, SHA-1, key-id signer ids, BER
 * streaming) passes our verification.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { certificateFingerprint, issueCertificate, toPkcs12 } from '../../mdm/certificates.js';
import { signMdmMessage, verifyMdmSignature, MdmSignatureError } from '../../mdm/mdm-signature.js';
import { buildPlist } from '../../mdm/plist-codec.js';
import { buildEnrollmentProfile, readSignedProfile, signProfile } from '../../mdm/profile.js';
import { pemToDer, testPki, type TestPki } from './fixtures.js';

const TOPIC = 'com.apple.mgmt.External.4a1c9e1e-6f3b-4d0e-9a55-7c0a3f1b2d88';

let dir: string;
let pki: TestPki;

const file = (name: string) => join(dir, name);

/** Runs a command; returns its exit status and output instead of throwing. */
function run(command: string, args: string[], input?: Buffer) {
  const result = spawnSync(command, args, { cwd: dir, input, encoding: 'buffer' });
  return { status: result.status, stdout: result.stdout.toString('utf8'), stderr: result.stderr.toString('utf8') };
}

function openssl(...args: string[]) {
  const result = run('openssl', args);
  expect(result.status, `openssl ${args.join(' ')}\n${result.stderr}`).toBe(0);
  return result;
}

/** Runs Python with plistlib on a file and returns its printed JSON. */
function python(script: string, ...args: string[]): unknown {
  const out = execFileSync('python3', ['-c', `import json, plistlib, sys\n${script}`, ...args], { cwd: dir, encoding: 'utf8' });
  return JSON.parse(out);
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tandem-mdm-interop-'));
  pki = testPki();
  writeFileSync(file('ca.pem'), pki.ca.certPem);
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('a signed enrollment profile, checked by OpenSSL and Python', () => {
  it('verifies with openssl cms against the CA, and plistlib reads the payloads', () => {
    const p12 = toPkcs12(pki.device, [pki.ca.certPem], 'p12 pass', 'Device identity');
    const profile = buildEnrollmentProfile({
      enrollmentId: 'e-1',
      kind: 'user',
      flavor: 'account-driven',
      serverUrl: 'https://mdm.example.com/mdm/server',
      checkInUrl: 'https://mdm.example.com/mdm/checkin',
      topic: TOPIC,
      organization: 'Example Corp',
      identity: { p12, password: 'p12 pass' },
      managedAppleId: 'ada@corp.example.com',
      requiredAppIdForMdm: 1234567890,
      trustAnchorsDer: [pemToDer(pki.ca.certPem)],
    });
    writeFileSync(file('profile.der'), signProfile(profile, pki.signer, [pki.ca.certPem]));

    const verify = ['cms', '-verify', '-inform', 'DER', '-in', 'profile.der', '-CAfile', 'ca.pem', '-out', 'content.xml'];
    // Full chain and purpose check first; `-purpose any` only if OpenSSL's S/MIME purpose objects.
    const strict = run('openssl', verify);
    if (strict.status !== 0) openssl(...verify, '-purpose', 'any');
    expect(readFileSync(file('content.xml'), 'utf8')).toBe(buildPlist(profile));

    const summary = python(
      `d = plistlib.load(open(sys.argv[1], "rb"))
mdm = [p for p in d["PayloadContent"] if p["PayloadType"] == "com.apple.mdm"][0]
p12 = [p for p in d["PayloadContent"] if p["PayloadType"] == "com.apple.security.pkcs12"][0]
root = [p for p in d["PayloadContent"] if p["PayloadType"] == "com.apple.security.root"][0]
open("from-profile.p12", "wb").write(p12["PayloadContent"])
print(json.dumps({
  "PayloadType": d["PayloadType"], "PayloadVersion": d["PayloadVersion"], "TargetDeviceType": d["TargetDeviceType"],
  "types": [p["PayloadType"] for p in d["PayloadContent"]],
  "mdmKeys": sorted(mdm.keys()), "mdm": {k: mdm[k] for k in ["ServerURL", "CheckInURL", "Topic", "SignMessage", "CheckOutWhenRemoved",
    "EnrollmentMode", "AssignedManagedAppleID", "RequiredAppIDForMDM"]},
  "identityLinked": mdm["IdentityCertificateUUID"] == p12["PayloadUUID"],
  "p12IsData": isinstance(p12["PayloadContent"], bytes), "rootIsData": isinstance(root["PayloadContent"], bytes),
}))`,
      'content.xml',
    );
    expect(summary).toEqual({
      PayloadType: 'Configuration',
      PayloadVersion: 1,
      TargetDeviceType: 1,
      types: ['com.apple.security.root', 'com.apple.security.pkcs12', 'com.apple.mdm'],
      mdmKeys: [
        'AssignedManagedAppleID',
        'CheckInURL',
        'CheckOutWhenRemoved',
        'EnrollmentMode',
        'IdentityCertificateUUID',
        'PayloadDisplayName',
        'PayloadIdentifier',
        'PayloadType',
        'PayloadUUID',
        'PayloadVersion',
        'RequiredAppIDForMDM',
        'ServerURL',
        'SignMessage',
        'Topic',
      ],
      mdm: {
        ServerURL: 'https://mdm.example.com/mdm/server',
        CheckInURL: 'https://mdm.example.com/mdm/checkin',
        Topic: TOPIC,
        SignMessage: true,
        CheckOutWhenRemoved: true,
        EnrollmentMode: 'BYOD',
        AssignedManagedAppleID: 'ada@corp.example.com',
        RequiredAppIDForMDM: 1234567890,
      },
      identityLinked: true,
      p12IsData: true,
      rootIsData: true,
    });

    // The identity Python pulled out of the profile opens with OpenSSL.
    const legacy = run('openssl', ['pkcs12', '-in', 'from-profile.p12', '-passin', 'pass:p12 pass', '-nokeys', '-legacy']);
    const opened = legacy.status === 0 ? legacy : openssl('pkcs12', '-in', 'from-profile.p12', '-passin', 'pass:p12 pass', '-nokeys');
    expect(opened.stdout).toContain('subject=CN = device-1');
  });

  it('is refused by openssl once the content is altered', () => {
    const der = signProfile(buildEnrollmentProfile({
      enrollmentId: 'e-2',
      kind: 'device',
      flavor: 'profile-based',
      serverUrl: 'https://mdm.example.com/mdm',
      checkInUrl: 'https://mdm.example.com/mdm',
      topic: TOPIC,
      organization: 'Example Corp',
      identity: { p12: toPkcs12(pki.device, [], 'x', 'id'), password: 'x' },
    }), pki.signer);
    const at = der.indexOf(Buffer.from('<integer>8191</integer>'));
    der.write('<integer>8190</integer>', at);
    writeFileSync(file('tampered.der'), der);
    expect(run('openssl', ['cms', '-verify', '-inform', 'DER', '-in', 'tampered.der', '-CAfile', 'ca.pem', '-purpose', 'any', '-out', 'x.xml']).status).not.toBe(0);
  });
});

describe('the PKCS#12 identity, opened by OpenSSL', () => {
  it('opens with the password, uses 3DES and a SHA-1 MAC, and refuses a wrong password', () => {
    writeFileSync(file('id.p12'), toPkcs12(pki.device, [pki.ca.certPem], 's3cret', 'Tandem device'));
    const args = ['pkcs12', '-in', 'id.p12', '-passin', 'pass:s3cret', '-nokeys'];
    const legacy = run('openssl', [...args, '-legacy']);
    const opened = legacy.status === 0 ? legacy : openssl(...args);
    expect(opened.stdout).toContain('subject=CN = device-1');
    expect(opened.stdout).toContain('friendlyName: Tandem device');
    expect(opened.stdout.match(/BEGIN CERTIFICATE/g)).toHaveLength(2);

    const info = openssl('pkcs12', '-in', 'id.p12', '-passin', 'pass:s3cret', '-info', '-noout');
    expect(info.stderr).toMatch(/MAC: sha1/);
    expect(info.stderr).toMatch(/Shrouded Keybag: pbeWithSHA1And3-KeyTripleDES-CBC/);

    const key = openssl('pkcs12', '-in', 'id.p12', '-passin', 'pass:s3cret', '-nocerts', '-nodes');
    expect(key.stdout).toContain('PRIVATE KEY');
    expect(run('openssl', ['pkcs12', '-in', 'id.p12', '-passin', 'pass:wrong', '-nokeys']).status).not.toBe(0);
  });

  it('chains device and TLS certificates to the CA for their purposes', () => {
    writeFileSync(file('device.pem'), pki.device.certPem);
    expect(openssl('verify', '-CAfile', 'ca.pem', '-purpose', 'sslclient', 'device.pem').stdout).toContain('device.pem: OK');
    const tls = issueCertificate(pki.ca, { commonName: 'localhost', validDays: 1, usage: 'tls-server', dnsNames: ['localhost'] });
    writeFileSync(file('tls.pem'), tls.certPem);
    expect(openssl('verify', '-CAfile', 'ca.pem', '-purpose', 'sslserver', '-verify_hostname', 'localhost', 'tls.pem').stdout).toContain('OK');
    expect(openssl('verify', '-CAfile', 'ca.pem', '-purpose', 'sslserver', '-verify_ip', '127.0.0.1', 'tls.pem').stdout).toContain('OK');
  });
});

describe('Mdm-Signature, across implementations', () => {
  const checkIn = Buffer.from(buildPlist({ MessageType: 'TokenUpdate', Topic: TOPIC, Token: Buffer.alloc(32, 7), PushMagic: 'magic' }));

  it('what signMdmMessage produces verifies with openssl cms as a detached signature', () => {
    writeFileSync(file('body.bin'), checkIn);
    writeFileSync(file('sig.der'), Buffer.from(signMdmMessage(checkIn, pki.device), 'base64'));
    const verified = openssl('cms', '-verify', '-binary', '-inform', 'DER', '-in', 'sig.der', '-content', 'body.bin', '-noverify', '-out', 'verified.bin');
    expect(verified.stderr).toContain('Verification successful');
    expect(readFileSync(file('verified.bin'))).toEqual(checkIn);
    // With the chain checked as well (the identity has no S/MIME purpose).
    openssl('cms', '-verify', '-binary', '-inform', 'DER', '-in', 'sig.der', '-content', 'body.bin', '-CAfile', 'ca.pem', '-purpose', 'any', '-out', '/dev/null');

    writeFileSync(file('other.bin'), Buffer.concat([checkIn, Buffer.from(' ')]));
    expect(run('openssl', ['cms', '-verify', '-binary', '-inform', 'DER', '-in', 'sig.der', '-content', 'other.bin', '-noverify']).status).not.toBe(0);
  });

  /** Signs `body.bin` with OpenSSL and returns the header a device would send. */
  function opensslSignature(cert: string, key: string, ...extra: string[]): string {
    openssl('cms', '-sign', '-binary', '-in', 'body.bin', '-signer', cert, '-inkey', key, '-outform', 'DER', '-out', 'openssl.sig', ...extra);
    return readFileSync(file('openssl.sig')).toString('base64');
  }

  it.each([
    ['RSA, SHA-256', 'rsa', []],
    ['RSA, SHA-1 (older devices)', 'rsa', ['-md', 'sha1']],
    ['RSA, signer named by subject key id', 'rsa', ['-keyid']],
    ['EC P-256 (hardware-bound identities)', 'ec', []],
    ['EC P-256, SHA-384', 'ec', ['-md', 'sha384']],
  ])('verifies a signature OpenSSL made: %s', (_name, keyType, extra) => {
    writeFileSync(file('body.bin'), checkIn);
    let cert = 'device.pem';
    let key = 'device.key';
    if (keyType === 'rsa') {
      writeFileSync(file(cert), pki.device.certPem);
      writeFileSync(file(key), pki.device.keyPem);
    } else {
      cert = 'ec.pem';
      key = 'ec.key';
      openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert, '-subj', '/CN=ec-device', '-days', '1');
    }
    const header = opensslSignature(cert, key, ...extra);
    const result = verifyMdmSignature(header, checkIn);
    expect(result.fingerprint).toBe(certificateFingerprint(readFileSync(file(cert), 'utf8')));
    expect(() => verifyMdmSignature(header, Buffer.from(checkIn.toString().replace('magic', 'tragic')))).toThrow(MdmSignatureError);
  });

  it('reads a profile OpenSSL signed with BER streaming (indefinite lengths)', () => {
    const xml = buildPlist({ PayloadType: 'Configuration', PayloadVersion: 1, PayloadContent: [] });
    writeFileSync(file('plain.xml'), xml);
    writeFileSync(file('signer.pem'), pki.signer.certPem);
    writeFileSync(file('signer.key'), pki.signer.keyPem);
    openssl('cms', '-sign', '-binary', '-nodetach', '-stream', '-in', 'plain.xml', '-signer', 'signer.pem', '-inkey', 'signer.key', '-outform', 'DER', '-out', 'streamed.der');
    const der = readFileSync(file('streamed.der'));
    expect(der[1]).toBe(0x80); // indefinite length: really BER
    const { profile, signerPem } = readSignedProfile(der);
    expect(profile).toEqual({ PayloadType: 'Configuration', PayloadVersion: 1, PayloadContent: [] });
    expect(signerPem).toBe(pki.signer.certPem);
  });
});
