import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { fromPkcs12, toPkcs12 } from '../../mdm/certificates.js';
import { signCms } from '../../mdm/cms.js';
import { buildPlist } from '../../mdm/plist-codec.js';
import {
  buildEnrollmentProfile,
  enrollmentProfileIdentifier,
  readSignedProfile,
  signProfile,
  type EnrollmentProfileOptions,
} from '../../mdm/profile.js';
import { findSchemaDir, schemaMissingMessage } from '../../scripts/gen-capabilities.js';
import { flipLastByte, openSignedData, pemToDer, testPki, type TestPki } from './fixtures.js';

const UUID = /^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$/;
const TOPIC = 'com.apple.mgmt.External.4a1c9e1e-6f3b-4d0e-9a55-7c0a3f1b2d88';

type Payload = Record<string, unknown>;
const payloads = (profile: Payload) => profile.PayloadContent as Payload[];
const payloadOf = (profile: Payload, type: string) => payloads(profile).find((p) => p.PayloadType === type)!;

let pki: TestPki;
let p12: Buffer;
let base: EnrollmentProfileOptions;

beforeAll(() => {
  pki = testPki();
  p12 = toPkcs12(pki.device, [pki.ca.certPem], 'p12-secret', 'Device identity');
  base = {
    enrollmentId: '0f8e2c1a-5b7d-4e3f-9a1b-2c3d4e5f6a7b',
    kind: 'user',
    flavor: 'account-driven',
    serverUrl: 'https://mdm.example.com/mdm/server',
    checkInUrl: 'https://mdm.example.com/mdm/checkin',
    topic: TOPIC,
    organization: 'Example Corp',
    identity: { p12, password: 'p12-secret' },
    managedAppleId: 'ada@corp.example.com',
  };
});

describe('buildEnrollmentProfile', () => {
  it('builds the top-level Configuration profile', () => {
    const profile = buildEnrollmentProfile(base);
    expect(profile).toMatchObject({
      PayloadType: 'Configuration',
      PayloadVersion: 1,
      PayloadIdentifier: `com.tandem.enrollment.${base.enrollmentId}`,
      PayloadDisplayName: expect.stringContaining('Example Corp'),
      PayloadOrganization: 'Example Corp',
      PayloadDescription: expect.any(String),
      TargetDeviceType: 1,
    });
    expect(profile.PayloadIdentifier).toBe(enrollmentProfileIdentifier(base.enrollmentId));
    expect(profile.PayloadUUID).toMatch(UUID);
    expect(JSON.stringify(profile)).not.toContain('PayloadRemovalDisallowed');
    expect(buildEnrollmentProfile(base).PayloadUUID).not.toBe(profile.PayloadUUID); // fresh per build
  });

  it('orders trust anchors, then the PKCS#12 identity, then the MDM payload, each with unique ids', () => {
    const anchors = [pemToDer(pki.ca.certPem), pemToDer(pki.otherCa.certPem)];
    const profile = buildEnrollmentProfile({ ...base, trustAnchorsDer: anchors });
    const content = payloads(profile);
    expect(content.map((p) => p.PayloadType)).toEqual([
      'com.apple.security.root',
      'com.apple.security.root',
      'com.apple.security.pkcs12',
      'com.apple.mdm',
    ]);
    expect(content[0]).toMatchObject({ PayloadContent: anchors[0], PayloadVersion: 1, PayloadDisplayName: 'Tandem Test CA' });
    expect(content[1]).toMatchObject({ PayloadContent: anchors[1], PayloadDisplayName: 'Someone Else CA' });
    for (const payload of content) {
      expect(payload.PayloadUUID).toMatch(UUID);
      expect(String(payload.PayloadIdentifier).startsWith(`${profile.PayloadIdentifier}.`)).toBe(true);
    }
    const ids = [profile, ...content].flatMap((p) => [p.PayloadUUID, p.PayloadIdentifier]);
    expect(new Set(ids).size).toBe(ids.length);
    expect(payloads(buildEnrollmentProfile(base)).map((p) => p.PayloadType)).toEqual(['com.apple.security.pkcs12', 'com.apple.mdm']);
  });

  it('carries the identity as PKCS#12 that the MDM payload points to', () => {
    const profile = buildEnrollmentProfile(base);
    const identity = payloadOf(profile, 'com.apple.security.pkcs12');
    expect(identity).toMatchObject({ PayloadContent: p12, Password: 'p12-secret', PayloadCertificateFileName: expect.stringMatching(/\.p12$/) });
    const mdm = payloadOf(profile, 'com.apple.mdm');
    expect(mdm).toMatchObject({
      ServerURL: base.serverUrl,
      CheckInURL: base.checkInUrl,
      Topic: TOPIC,
      IdentityCertificateUUID: identity.PayloadUUID,
      SignMessage: true,
      CheckOutWhenRemoved: true,
    });
    // GetToken is not served, so com.apple.mdm.token (or any capability) must not be advertised.
    expect(mdm).not.toHaveProperty('ServerCapabilities');
  });

  it('user, account-driven: EnrollmentMode BYOD with the assigned account, never AccessRights', () => {
    const mdm = payloadOf(buildEnrollmentProfile({ ...base, requiredAppIdForMdm: 1234567890 }), 'com.apple.mdm');
    expect(mdm).toMatchObject({ EnrollmentMode: 'BYOD', AssignedManagedAppleID: 'ada@corp.example.com', RequiredAppIDForMDM: 1234567890 });
    expect(mdm).not.toHaveProperty('AccessRights');
    expect(mdm).not.toHaveProperty('ManagedAppleID');
    expect(payloadOf(buildEnrollmentProfile(base), 'com.apple.mdm')).not.toHaveProperty('RequiredAppIDForMDM');
    expect(() => buildEnrollmentProfile({ ...base, managedAppleId: undefined })).toThrow(/Managed Apple Account/);
    expect(() => buildEnrollmentProfile({ ...base, managedAppleId: '  ' })).toThrow(/Managed Apple Account/);
    expect(() => buildEnrollmentProfile({ ...base, requiredAppIdForMdm: -1 })).toThrow(/requiredAppIdForMdm/);
    expect(() => buildEnrollmentProfile({ ...base, requiredAppIdForMdm: 1.5 })).toThrow(/requiredAppIdForMdm/);
  });

  it('user, profile-based: ManagedAppleID, no EnrollmentMode and no AccessRights', () => {
    const options = { ...base, flavor: 'profile-based' as const, requiredAppIdForMdm: 1234567890 };
    const mdm = payloadOf(buildEnrollmentProfile(options), 'com.apple.mdm');
    expect(mdm.ManagedAppleID).toBe('ada@corp.example.com');
    for (const key of ['AccessRights', 'EnrollmentMode', 'AssignedManagedAppleID', 'RequiredAppIDForMDM']) expect(mdm).not.toHaveProperty(key);
    expect(() => buildEnrollmentProfile({ ...options, managedAppleId: undefined })).toThrow(/Managed Apple Account/);
  });

  it('device, profile-based: every access right and no account keys', () => {
    const mdm = payloadOf(buildEnrollmentProfile({ ...base, kind: 'device', flavor: 'profile-based' }), 'com.apple.mdm');
    expect(mdm.AccessRights).toBe(8191);
    for (const key of ['ManagedAppleID', 'EnrollmentMode', 'AssignedManagedAppleID']) expect(mdm).not.toHaveProperty(key);
    expect(buildEnrollmentProfile({ ...base, kind: 'device', flavor: 'profile-based', managedAppleId: undefined })).toBeDefined();
  });

  it('device, account-driven: EnrollmentMode ADDE with the assigned account and access rights', () => {
    const mdm = payloadOf(buildEnrollmentProfile({ ...base, kind: 'device' }), 'com.apple.mdm');
    expect(mdm).toMatchObject({ EnrollmentMode: 'ADDE', AssignedManagedAppleID: 'ada@corp.example.com', AccessRights: 8191 });
    expect(mdm).not.toHaveProperty('ManagedAppleID');
    expect(() => buildEnrollmentProfile({ ...base, kind: 'device', managedAppleId: undefined })).toThrow(/Managed Apple Account/);
  });

  it('wants https URLs, allowing plain http only on localhost', () => {
    const withUrl = (url: string) => () => buildEnrollmentProfile({ ...base, serverUrl: url, checkInUrl: url });
    expect(withUrl('http://127.0.0.1:8080/mdm')).not.toThrow();
    expect(withUrl('http://localhost:8080/mdm')).not.toThrow();
    expect(withUrl('https://127.0.0.1/mdm')).not.toThrow();
    expect(withUrl('http://mdm.example.com/mdm')).toThrow(/https/);
    expect(withUrl('http://127.0.0.1.example.com/mdm')).toThrow(/https/);
    expect(withUrl('http://localhost.example.com/mdm')).toThrow(/https/);
    expect(withUrl('ftp://127.0.0.1/mdm')).toThrow(/https/);
    expect(withUrl('mdm.example.com')).toThrow(/not a URL/);
    expect(() => buildEnrollmentProfile({ ...base, checkInUrl: 'http://mdm.example.com/checkin' })).toThrow(/checkInUrl/);
  });

  it('refuses a topic outside com.apple.mgmt. and an enrollment id that breaks the identifier', () => {
    expect(() => buildEnrollmentProfile({ ...base, topic: 'com.example.push' })).toThrow(/com\.apple\.mgmt\./);
    expect(() => buildEnrollmentProfile({ ...base, enrollmentId: 'a b' })).toThrow(/enrollmentId/);
    expect(() => buildEnrollmentProfile({ ...base, enrollmentId: '' })).toThrow(/enrollmentId/);
    expect(() => buildEnrollmentProfile({ ...base, enrollmentId: 'x.y' })).toThrow(/enrollmentId/);
  });
});

// Apple's schema (apple/device-management), when this checkout has it (APPLE_SCHEMA_DIR or ../shared).
const schemaDir = findSchemaDir();
if (!schemaDir) console.warn(schemaMissingMessage);
const SCHEMA_DIR = schemaDir ? join(schemaDir, 'mdm', 'profiles') : '';

describe.skipIf(!schemaDir)("the profile against Apple's YAML schema", () => {
  interface SchemaKey {
    key: string;
    presence?: string;
    type?: string;
    rangelist?: unknown[];
    format?: string;
    subkeys?: SchemaKey[];
  }
  const schemaKeys = (file: string): Map<string, SchemaKey> => {
    const schema = parseYaml(readFileSync(join(SCHEMA_DIR, file), 'utf8')) as { payloadkeys: SchemaKey[] };
    return new Map(schema.payloadkeys.map((k) => [k.key, k]));
  };
  // Read in the tests, not while collecting: a skipped block's body still runs.
  let common: Map<string, SchemaKey>;
  beforeAll(() => {
    common = schemaKeys('CommonPayloadKeys.yaml');
  });
  const typeMatches = (type: string | undefined, value: unknown) => {
    switch (type) {
      case '<string>':
        return typeof value === 'string';
      case '<integer>':
        return Number.isInteger(value);
      case '<boolean>':
        return typeof value === 'boolean';
      case '<data>':
        return Buffer.isBuffer(value);
      case '<array>':
        return Array.isArray(value);
      default:
        return true;
    }
  };

  function check(payload: Payload, keys: Map<string, SchemaKey>, ignore: string[] = []): void {
    for (const [name, value] of Object.entries(payload)) {
      const spec = keys.get(name) ?? common.get(name);
      expect(spec, `${String(payload.PayloadType)}: ${name} is in the schema`).toBeDefined();
      if (ignore.includes(name)) continue;
      expect(typeMatches(spec!.type, value), `${name} has type ${spec!.type}`).toBe(true);
      if (spec!.rangelist) expect(spec!.rangelist).toContain(value);
      if (spec!.format) expect(String(value)).toMatch(new RegExp(spec!.format));
      const items = spec!.subkeys?.[0]?.rangelist;
      if (items && Array.isArray(value)) for (const item of value) expect(items).toContain(item);
    }
    for (const [name, spec] of keys) if (spec.presence === 'required') expect(payload, `${name} is required`).toHaveProperty(name);
  }

  it.each([
    ['user', 'account-driven'],
    ['user', 'profile-based'],
    ['device', 'account-driven'],
    ['device', 'profile-based'],
  ] as const)('%s / %s uses only schema keys, with the right types', (kind, flavor) => {
    const profile = buildEnrollmentProfile({ ...base, kind, flavor, requiredAppIdForMdm: 99, trustAnchorsDer: [pemToDer(pki.ca.certPem)] });
    check(profile, schemaKeys('TopLevel.yaml'), ['PayloadContent']);
    check(payloadOf(profile, 'com.apple.security.root'), schemaKeys('com.apple.security.root.yaml'));
    check(payloadOf(profile, 'com.apple.security.pkcs12'), schemaKeys('com.apple.security.pkcs12.yaml'));
    check(payloadOf(profile, 'com.apple.mdm'), schemaKeys('com.apple.mdm.yaml'));
  });
});

describe('signProfile / readSignedProfile', () => {
  it('signs with the plist attached and reads it back, signature verified', () => {
    const profile = buildEnrollmentProfile({ ...base, trustAnchorsDer: [pemToDer(pki.ca.certPem)] });
    const der = signProfile(profile, pki.signer, [pki.ca.certPem]);
    expect(der.includes(Buffer.from(buildPlist(profile), 'utf8'))).toBe(true); // attached, verbatim
    const { profile: read, signerPem } = readSignedProfile(der);
    expect(read).toEqual(profile);
    expect(signerPem).toBe(pki.signer.certPem);
    // The identity inside still opens.
    const identity = payloadOf(read, 'com.apple.security.pkcs12');
    expect(fromPkcs12(identity.PayloadContent as Buffer, identity.Password as string).certPem).toBe(pki.device.certPem);
    // Signer first, then the chain.
    expect(openSignedData(der).certificates).toHaveLength(2);
    expect(openSignedData(signProfile(profile, pki.signer)).certificates).toHaveLength(1);
  });

  it('keeps non-ASCII text intact through signing', () => {
    const profile = buildEnrollmentProfile({ ...base, organization: 'Société Générale 🚀' });
    expect(readSignedProfile(signProfile(profile, pki.signer)).profile.PayloadOrganization).toBe('Société Générale 🚀');
  });

  it('refuses a profile whose content was altered after signing', () => {
    const der = signProfile(buildEnrollmentProfile(base), pki.signer);
    const xml = Buffer.from('<string>https://mdm.example.com/mdm/server</string>');
    const at = der.indexOf(xml);
    const tampered = Buffer.from(der);
    tampered.write('<string>https://evil.example.com/mdm/server</string>'.slice(0, xml.length), at);
    expect(() => readSignedProfile(tampered)).toThrow(/digest/);
  });

  it('refuses a forged signature, a swapped signer certificate, a detached signature and garbage', () => {
    const der = signProfile(buildEnrollmentProfile(base), pki.signer);

    const forged = openSignedData(der);
    flipLastByte(forged.signerInfo[forged.signerInfo.length - 1]!);
    expect(() => readSignedProfile(forged.encode())).toThrow(/signature does not verify/);

    const swapped = openSignedData(der);
    swapped.certificates[0] = openSignedData(signProfile(buildEnrollmentProfile(base), pki.device)).certificates[0]!;
    expect(() => readSignedProfile(swapped.encode())).toThrow(/signer certificate/);

    const detached = signCms(Buffer.from(buildPlist(buildEnrollmentProfile(base))), pki.signer, { detached: true });
    expect(() => readSignedProfile(detached)).toThrow(/no content/);

    expect(() => readSignedProfile(Buffer.from(buildPlist(buildEnrollmentProfile(base))))).toThrow(/not a readable CMS/);
    expect(() => readSignedProfile(pemToDer(pki.ca.certPem))).toThrow(/not a readable CMS/);
  });
});
