import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { findSchemaDir, schemaMissingMessage } from '../../scripts/gen-capabilities.js';
import { checkPayload, payloads as capabilityPayloads } from '../../mdm/capabilities.js';
import { allowedRestrictionKeys } from './capability-views.js';
import {
  buildPayload,
  buildProfile,
  namedRestrictions,
  payloadSpecSchema,
  profileIdentifier,
  profileSpecSchema,
  type PayloadSpec,
  type ProfileSpec,
} from '../../mdm/payloads.js';
import { buildPlist, parsePlist } from '../../mdm/plist-codec.js';
import { pemToDer, testPki, type TestPki } from './fixtures.js';

const UUID = /^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$/;
const CERT_UUID = '6f1c3a52-9d4e-4b7a-8c21-0e5f9a7b3d10';
const VPN_UUID = '0B7F1E2C-3D4A-4E5B-8C6D-7E8F9A0B1C2D';

type Dict = Record<string, unknown>;

let pki: TestPki;
beforeAll(() => {
  pki = testPki();
});

const allKinds = (): PayloadSpec[] => [
  { kind: 'restrictions', siri: false, screenCapture: false, keys: { allowOpenFromManagedToUnmanaged: false, ratingRegion: 'us' } },
  { kind: 'passcode', requirePasscode: true, minLength: 8, allowSimple: false, maxInactivity: 5, maxFailedAttempts: 6 },
  { kind: 'wifi', ssid: 'Acme Staff', password: 'correct horse', autoJoin: true, hidden: false, encryption: 'WPA2' },
  {
    kind: 'wifi',
    ssid: 'Acme Secure',
    encryption: 'WPA2',
    eap: { acceptEapTypes: [25], username: 'ada', outerIdentity: 'anonymous', trustedServerNames: ['radius.acme.example'], trustedCertificateUuids: [CERT_UUID] },
  },
  { kind: 'certificate', certificate: pki.ca.certPem, uuid: CERT_UUID },
  {
    kind: 'per_app_vpn',
    name: 'Acme VPN',
    vpnUuid: VPN_UUID,
    connection: { type: 'ikev2', server: 'vpn.acme.example', remoteIdentifier: 'vpn.acme.example', localIdentifier: 'ada', authentication: 'certificate', certificateUuid: CERT_UUID, username: 'ada', password: 'pw' },
    safariDomains: ['intranet.acme.example'],
    onDemandMatchAppEnabled: true,
  },
  {
    kind: 'per_app_vpn',
    name: 'Acme Tunnel',
    vpnUuid: '1C2D3E4F-5A6B-4C7D-8E9F-0A1B2C3D4E5F',
    connection: { type: 'network_extension', providerBundleIdentifier: 'com.vendor.vpn.tunnel', providerType: 'packet-tunnel', server: 'gw.acme.example', authentication: 'password', username: 'ada', vendorConfig: { Realm: 'ACME' } },
  },
  { kind: 'web_clip', label: 'Intranet', url: 'https://intranet.acme.example/', icon: Buffer.from('png-bytes').toString('base64'), fullScreen: true, isRemovable: false },
  {
    kind: 'mail',
    accountType: 'imap',
    accountDescription: 'Work mail',
    emailAddress: 'ada@acme.example',
    incoming: { host: 'imap.acme.example', port: 993, useSSL: true, username: 'ada' },
    outgoing: { host: 'smtp.acme.example', port: 587, useSSL: true, username: 'ada', passwordSameAsIncoming: true },
  },
  { kind: 'exchange', host: 'mail.acme.example', emailAddress: 'ada@acme.example', username: 'ada', mailNumberOfPastDaysToSync: 14 },
  { kind: 'caldav', host: 'dav.acme.example', port: 443, username: 'ada', principalUrl: 'https://dav.acme.example/principals/ada/' },
  { kind: 'carddav', host: 'dav.acme.example', username: 'ada' },
];

const profileOf = (payloads: PayloadSpec[], extra: Partial<ProfileSpec> = {}): ProfileSpec => ({ displayName: 'Acme Work Policy', payloads, ...extra });
const content = (profile: Dict) => profile.PayloadContent as Dict[];

// ---------------------------------------------------------------------------------------------
// Apple's YAML, to check key names and value types of what the builders emit, when this checkout has
// it (APPLE_SCHEMA_DIR or ../shared); without it those checks are skipped.

const schemaDir = findSchemaDir();
if (!schemaDir) console.warn(schemaMissingMessage);

interface SchemaKey {
  key: string;
  type: string;
  subkeys?: SchemaKey[];
}

function schemaKeys(file: string): SchemaKey[] {
  const doc = parseYaml(readFileSync(join(schemaDir!, file), 'utf8')) as { payloadkeys: SchemaKey[] };
  return doc.payloadkeys;
}

/** Keys Apple documents elsewhere than the payload's own YAML (see payloads.ts). */
const KNOWN_EXTRAS = new Set(['VPN.RemoteAddress', 'VPN.AuthName']);

function plistType(value: unknown): string {
  if (typeof value === 'boolean') return '<boolean>';
  if (typeof value === 'number') return Number.isInteger(value) ? '<integer>' : '<real>';
  if (typeof value === 'string') return '<string>';
  if (Buffer.isBuffer(value)) return '<data>';
  if (Array.isArray(value)) return '<array>';
  return '<dictionary>';
}

/** Every key the dictionary holds exists in the schema with the same plist type; returns the mismatches. */
function conformance(dict: Dict, keys: SchemaKey[], prefix = ''): string[] {
  const problems: string[] = [];
  for (const [name, value] of Object.entries(dict)) {
    const path = prefix ? `${prefix}.${name}` : name;
    const rule = keys.find((k) => k.key === name) ?? keys.find((k) => k.key === 'ANY');
    if (!rule) {
      if (!KNOWN_EXTRAS.has(path)) problems.push(`${path}: not in the schema`);
      continue;
    }
    const actual = plistType(value);
    const fits = actual === rule.type || rule.type === '<any>' || (rule.type === '<real>' && actual === '<integer>');
    if (!fits) problems.push(`${path}: ${actual}, schema says ${rule.type}`);
    if (actual === '<dictionary>') problems.push(...conformance(value as Dict, rule.subkeys ?? [], path));
    if (actual === '<array>' && rule.subkeys?.[0]) {
      const item = rule.subkeys[0];
      for (const element of value as unknown[]) {
        const elementType = plistType(element);
        if (elementType !== item.type) problems.push(`${path}[]: ${elementType}, schema says ${item.type}`);
        if (elementType === '<dictionary>') problems.push(...conformance(element as Dict, item.subkeys ?? [], `${path}[]`));
      }
    }
  }
  return problems;
}

function schemaFor(payloadType: string): SchemaKey[] {
  const common = schemaKeys('mdm/profiles/CommonPayloadKeys.yaml');
  const own = schemaKeys(capabilityPayloads[payloadType]!.file);
  // A per-app VPN payload carries the VPN payload's keys too (com.apple.vpn.managed.applayer.yaml).
  const vpn = payloadType === 'com.apple.vpn.managed.applayer' ? schemaKeys('mdm/profiles/com.apple.vpn.managed.yaml') : [];
  return [...common, ...own, ...vpn];
}

// ---------------------------------------------------------------------------------------------

describe('buildProfile', () => {
  it('builds a Configuration profile with the common keys on the profile and on every payload', () => {
    const profile = buildProfile(profileOf(allKinds()));
    expect(profile).toMatchObject({
      PayloadType: 'Configuration',
      PayloadVersion: 1,
      PayloadIdentifier: 'com.tandem.policy.acme-work-policy',
      PayloadDisplayName: 'Acme Work Policy',
    });
    expect(profile.PayloadUUID).toMatch(UUID);
    expect(profile).not.toHaveProperty('PayloadRemovalDisallowed');
    for (const payload of content(profile)) {
      expect(payload.PayloadVersion).toBe(1);
      expect(payload.PayloadUUID).toMatch(UUID);
      expect(typeof payload.PayloadType).toBe('string');
      expect(typeof payload.PayloadDisplayName).toBe('string');
      expect(payload.PayloadIdentifier).toMatch(/^com\.tandem\.policy\.acme-work-policy\.[a-z-]+\.\d+$/);
    }
    const identifiers = content(profile).map((p) => p.PayloadIdentifier);
    expect(new Set(identifiers).size).toBe(identifiers.length);
    expect(identifiers).toContain('com.tandem.policy.acme-work-policy.wifi.2');
    expect(identifiers).toContain('com.tandem.policy.acme-work-policy.per-app-vpn.1');
  });

  it('uses the given identifier, description and organisation, and the given payload UUIDs in upper case', () => {
    const profile = buildProfile(
      profileOf([{ kind: 'certificate', certificate: pki.ca.certPem, uuid: CERT_UUID }], { identifier: 'com.acme.trust', description: 'Trust', organization: 'Acme' }),
    );
    expect(profile).toMatchObject({ PayloadIdentifier: 'com.acme.trust', PayloadDescription: 'Trust', PayloadOrganization: 'Acme' });
    expect(content(profile)[0]).toMatchObject({ PayloadIdentifier: 'com.acme.trust.certificate.1', PayloadUUID: CERT_UUID.toUpperCase() });
  });

  it('makes a readable default identifier from any display name', () => {
    expect(profileIdentifier({ displayName: 'Réseau Wi-Fi — Siège' })).toBe('com.tandem.policy.reseau-wi-fi-siege');
    expect(profileIdentifier({ displayName: '!!!' })).toBe('com.tandem.policy.profile');
  });

  it.skipIf(!schemaDir)("gives every payload type Apple key names and plist types from Apple's iOS 18.1 schema", () => {
    for (const payload of content(buildProfile(profileOf(allKinds())))) {
      const type = payload.PayloadType as string;
      expect(conformance(payload, schemaFor(type)), type).toEqual([]);
    }
  });

  it('round-trips through an XML plist with integers, booleans and data intact', () => {
    const profile = buildProfile(profileOf(allKinds()));
    const xml = buildPlist(profile);
    expect(xml).toMatch(/<key>minLength<\/key>\s*<integer>8<\/integer>/);
    expect(xml).toMatch(/<key>forcePIN<\/key>\s*<true\/>/);
    expect(xml).toMatch(/<key>IncomingMailServerPortNumber<\/key>\s*<integer>993<\/integer>/);
    const parsed = parsePlist(xml);
    expect(parsed).toEqual(profile);
  });

  it('only uses payload types User Enrollment allows, and without proxies no key it forbids', () => {
    for (const payload of content(buildProfile(profileOf(allKinds())))) {
      const type = payload.PayloadType as string;
      expect(capabilityPayloads[type]?.userEnrollment, type).toBe('allowed');
      const blocking = checkPayload(payload, { kind: 'user', supervised: false }).filter((v) => v.blocking);
      expect(blocking, type).toEqual([]);
    }
  });

  it('validates the spec', () => {
    expect(() => buildProfile(profileOf([]))).toThrow(/at least one payload/);
    expect(() => buildProfile(profileOf([{ kind: 'passcode', minLength: 40 }]))).toThrow();
  });
});

describe('profile spec schema', () => {
  it('refuses identifiers that would replace an enrollment profile, and malformed ones', () => {
    const base = profileOf([{ kind: 'passcode' }]);
    expect(profileSpecSchema.safeParse({ ...base, identifier: 'com.tandem.enrollment.1234' }).success).toBe(false);
    expect(profileSpecSchema.safeParse({ ...base, identifier: 'not an identifier' }).success).toBe(false);
    expect(profileSpecSchema.safeParse({ ...base, identifier: 'com.acme.policy' }).success).toBe(true);
  });

  it('refuses unknown kinds and unknown fields with helpful messages', () => {
    const unknownKind = payloadSpecSchema.safeParse({ kind: 'vpn' });
    expect(unknownKind.error?.issues[0]?.message).toMatch(/kind must be one of restrictions, passcode, wifi/);
    const unknownField = payloadSpecSchema.safeParse({ kind: 'passcode', minimumLength: 6 });
    expect(unknownField.error?.issues[0]).toMatchObject({ code: 'unrecognized_keys', keys: ['minimumLength'] });
  });

  it('checks references to certificate payloads and duplicate UUIDs', () => {
    const dangling = profileSpecSchema.safeParse(profileOf([allKinds()[3]!]));
    expect(dangling.error?.issues[0]).toMatchObject({ path: ['payloads', 0, 'eap', 'trustedCertificateUuids', 0] });
    const twice = profileSpecSchema.safeParse(
      profileOf([
        { kind: 'certificate', certificate: pki.ca.certPem, uuid: CERT_UUID },
        { kind: 'certificate', certificate: pki.device.certPem, uuid: CERT_UUID.toUpperCase() },
      ]),
    );
    expect(twice.error?.issues[0]?.message).toMatch(/unique/);
  });
});

describe('restrictions', () => {
  const build = (spec: Omit<Extract<PayloadSpec, { kind: 'restrictions' }>, 'kind'>) =>
    buildPayload(payloadSpecSchema.parse({ kind: 'restrictions', ...spec }), 'com.acme.r.1');

  it("maps the guide's eleven items to Apple's keys, all usable under User Enrollment", () => {
    const all = Object.fromEntries(Object.keys(namedRestrictions).map((name) => [name, false]));
    const payload = build(all);
    expect(payload).toMatchObject({
      PayloadType: 'com.apple.applicationaccess',
      allowAssistant: false,
      allowAssistantWhileLocked: false,
      allowScreenShot: false,
      allowManagedAppsCloudSync: false,
      allowEnterpriseBookBackup: false,
      safariForceFraudWarning: false,
      allowLockScreenTodayView: false,
      allowLockScreenControlCenter: false,
      allowLockScreenNotificationsView: false,
      forceEncryptedBackup: false,
      allowDiagnosticSubmission: false,
    });
    expect(Object.values(namedRestrictions)).toHaveLength(11);
    expect(allowedRestrictionKeys('user')).toEqual(expect.arrayContaining(Object.values(namedRestrictions)));
  });

  it('passes other iOS keys through and leaves unset items out', () => {
    const payload = build({ fraudWarning: true, keys: { requireManagedPasteboard: true, ratingRegion: 'gb' } });
    expect(payload).toMatchObject({ safariForceFraudWarning: true, requireManagedPasteboard: true, ratingRegion: 'gb' });
    expect(payload).not.toHaveProperty('allowAssistant');
  });

  it('refuses keys iOS does not have, values of the wrong type, double settings and empty payloads', () => {
    const issues = (spec: Dict) => payloadSpecSchema.safeParse({ kind: 'restrictions', ...spec }).error?.issues.map((i) => i.message) ?? [];
    expect(issues({ keys: { allowCloudDesktopAndDocuments: false } })[0]).toMatch(/not an iOS restriction key/);
    expect(issues({ keys: { allowCamara: false } })[0]).toMatch(/allowCamara is not an iOS restriction key/);
    expect(issues({ keys: { ratingApps: 'all' } })[0]).toBe('ratingApps takes a integer value');
    expect(issues({ keys: { allowCamera: 'no' } })[0]).toBe('allowCamera takes a boolean value');
    expect(issues({ keys: { blockedAppBundleIDs: ['com.example.game'] } })).toEqual([]);
    expect(issues({ siri: false, keys: { allowAssistant: true } })[0]).toMatch(/already set by "siri"/);
    expect(issues({})[0]).toBe('set at least one restriction');
  });
});

describe('passcode', () => {
  it('uses Apple key names (requirePasscode is forcePIN) with integers and booleans', () => {
    const payload = buildPayload(
      payloadSpecSchema.parse({ kind: 'passcode', requirePasscode: true, allowSimple: false, requireAlphanumeric: true, minLength: 8, minComplexChars: 1, maxPINAgeInDays: 90, pinHistory: 5, maxInactivity: 5, maxGracePeriod: 1, maxFailedAttempts: 10 }),
      'com.acme.p.1',
    );
    expect(payload).toMatchObject({
      PayloadType: 'com.apple.mobiledevice.passwordpolicy',
      forcePIN: true,
      allowSimple: false,
      requireAlphanumeric: true,
      minLength: 8,
      minComplexChars: 1,
      maxPINAgeInDays: 90,
      pinHistory: 5,
      maxInactivity: 5,
      maxGracePeriod: 1,
      maxFailedAttempts: 10,
    });
  });

  it("keeps to the schema's ranges", () => {
    for (const bad of [{ minLength: 17 }, { maxFailedAttempts: 1 }, { minComplexChars: 5 }, { pinHistory: 0 }, { minLength: 6.5 }]) {
      expect(payloadSpecSchema.safeParse({ kind: 'passcode', ...bad }).success, JSON.stringify(bad)).toBe(false);
    }
  });
});

describe('wifi', () => {
  const wifi = (spec: Dict) => buildPayload(payloadSpecSchema.parse({ kind: 'wifi', ssid: 'Acme', ...spec }), 'com.acme.w.1');

  it('builds a personal network; an open one gets EncryptionType None', () => {
    expect(wifi({ password: 'secret123', hidden: true, autoJoin: false })).toMatchObject({
      PayloadType: 'com.apple.wifi.managed',
      SSID_STR: 'Acme',
      HIDDEN_NETWORK: true,
      AutoJoin: false,
      EncryptionType: 'Any',
      Password: 'secret123',
    });
    expect(wifi({})).toMatchObject({ EncryptionType: 'None' });
    expect(wifi({})).not.toHaveProperty('Password');
  });

  it('writes proxy settings with Apple key names (ProxyServerPort an integer)', () => {
    expect(wifi({ password: 'secret123', proxy: { type: 'manual', server: 'proxy.acme.example', port: 3128, username: 'u', password: 'p' } })).toMatchObject({
      ProxyType: 'Manual',
      ProxyServer: 'proxy.acme.example',
      ProxyServerPort: 3128,
      ProxyUsername: 'u',
      ProxyPassword: 'p',
    });
    expect(wifi({ proxy: { type: 'auto', pacUrl: 'https://acme.example/proxy.pac', fallbackAllowed: true } })).toMatchObject({
      ProxyType: 'Auto',
      ProxyPACURL: 'https://acme.example/proxy.pac',
      ProxyPACFallbackAllowed: true,
    });
  });

  it('builds an enterprise network', () => {
    const payload = wifi({ encryption: 'WPA3', eap: { acceptEapTypes: [13, 25], username: 'ada', trustedServerNames: ['radius.acme.example'] } });
    expect(payload).toMatchObject({
      EncryptionType: 'WPA3',
      EAPClientConfiguration: { AcceptEAPTypes: [13, 25], UserName: 'ada', TLSTrustedServerNames: ['radius.acme.example'] },
    });
  });

  it('refuses contradictory settings', () => {
    const ok = (spec: Dict) => payloadSpecSchema.safeParse({ kind: 'wifi', ssid: 'Acme', ...spec }).success;
    expect(ok({ encryption: 'None', password: 'secret123' })).toBe(false);
    expect(ok({ password: 'secret123', eap: { acceptEapTypes: [25] } })).toBe(false);
    expect(ok({ encryption: 'WEP', eap: { acceptEapTypes: [25] } })).toBe(false);
    expect(ok({ eap: { acceptEapTypes: [99] } })).toBe(false);
    expect(ok({ proxy: { type: 'manual', server: 'proxy' } })).toBe(false);
    expect(ok({ ssid: 'x'.repeat(33) })).toBe(false);
  });
});

describe('per-app VPN', () => {
  it('builds an IKEv2 connection bound to its VPNUUID', () => {
    const [, , , , , ikev2] = allKinds();
    const payload = buildPayload(ikev2!, 'com.acme.v.1');
    expect(payload).toMatchObject({
      PayloadType: 'com.apple.vpn.managed.applayer',
      UserDefinedName: 'Acme VPN',
      VPNUUID: VPN_UUID,
      VPNType: 'IKEv2',
      IKEv2: {
        RemoteAddress: 'vpn.acme.example',
        RemoteIdentifier: 'vpn.acme.example',
        LocalIdentifier: 'ada',
        AuthenticationMethod: 'Certificate',
        PayloadCertificateUUID: CERT_UUID.toUpperCase(),
        ExtendedAuthEnabled: 1,
        AuthName: 'ada',
        AuthPassword: 'pw',
      },
      SafariDomains: ['intranet.acme.example'],
      OnDemandMatchAppEnabled: true,
    });
  });

  it('builds a network-extension connection with its provider', () => {
    const payload = buildPayload(allKinds()[6]!, 'com.acme.v.2');
    expect(payload).toMatchObject({
      VPNType: 'VPN',
      VPNSubType: 'com.vendor.vpn.tunnel',
      VendorConfig: { Realm: 'ACME' },
      VPN: { RemoteAddress: 'gw.acme.example', AuthName: 'ada', AuthenticationMethod: 'Password', ProviderBundleIdentifier: 'com.vendor.vpn.tunnel', ProviderType: 'packet-tunnel' },
    });
  });

  it('needs the credentials its authentication names', () => {
    const spec = (connection: Dict) => ({ kind: 'per_app_vpn', name: 'X', vpnUuid: VPN_UUID, connection: { type: 'ikev2', server: 's', remoteIdentifier: 'r', localIdentifier: 'l', ...connection } });
    expect(payloadSpecSchema.safeParse(spec({ authentication: 'shared_secret' })).success).toBe(false);
    expect(payloadSpecSchema.safeParse(spec({ authentication: 'shared_secret', sharedSecret: 'k' })).success).toBe(true);
    expect(payloadSpecSchema.safeParse({ ...spec({ authentication: 'none' }), vpnUuid: 'nope' }).error?.issues[0]?.message).toMatch(/install_application vpnUuid/);
  });
});

describe('web clip, certificate and accounts', () => {
  it('builds a web clip with its icon as data', () => {
    const payload = buildPayload(allKinds()[7]!, 'com.acme.c.1');
    expect(payload).toMatchObject({ PayloadType: 'com.apple.webClip.managed', Label: 'Intranet', URL: 'https://intranet.acme.example/', FullScreen: true, IsRemovable: false });
    expect(payload.Icon).toEqual(Buffer.from('png-bytes'));
  });

  it('puts a self-signed CA in as a root, other certificates as PEM or DER as given', () => {
    const root = buildPayload(payloadSpecSchema.parse({ kind: 'certificate', certificate: pki.ca.certPem }), 'com.acme.t.1');
    expect(root).toMatchObject({ PayloadType: 'com.apple.security.root', PayloadDisplayName: 'Tandem Test CA', PayloadCertificateFileName: 'tandem-test-ca.cer' });
    expect(root.PayloadContent).toEqual(pemToDer(pki.ca.certPem));

    const pem = buildPayload(payloadSpecSchema.parse({ kind: 'certificate', certificate: pki.signer.certPem, fileName: 'signer.pem' }), 'com.acme.t.2');
    expect(pem).toMatchObject({ PayloadType: 'com.apple.security.pem', PayloadCertificateFileName: 'signer.pem' });
    expect((pem.PayloadContent as Buffer).toString('utf8')).toMatch(/^-----BEGIN CERTIFICATE-----/);

    const der = buildPayload(payloadSpecSchema.parse({ kind: 'certificate', certificate: pemToDer(pki.signer.certPem).toString('base64') }), 'com.acme.t.3');
    expect(der).toMatchObject({ PayloadType: 'com.apple.security.pkcs1' });
    expect(der.PayloadContent).toEqual(pemToDer(pki.signer.certPem));
  });

  it('refuses what is not exactly one certificate', () => {
    const message = (certificate: string) => payloadSpecSchema.safeParse({ kind: 'certificate', certificate }).error?.issues[0]?.message;
    expect(message('not a certificate!')).toBe('must be a PEM certificate or base64 DER');
    expect(message(Buffer.from('garbage').toString('base64'))).toBe('is not a readable X.509 certificate');
    expect(message(pki.ca.certPem + pki.signer.certPem)).toMatch(/one certificate per payload/);
  });

  it('builds mail, Exchange, CalDAV and CardDAV accounts with their essential keys', () => {
    const [mail, exchange, caldav, carddav] = allKinds().slice(8).map((spec, i) => buildPayload(spec, `com.acme.a.${i}`));
    expect(mail).toMatchObject({
      PayloadType: 'com.apple.mail.managed',
      EmailAccountType: 'EmailTypeIMAP',
      EmailAddress: 'ada@acme.example',
      IncomingMailServerHostName: 'imap.acme.example',
      IncomingMailServerPortNumber: 993,
      IncomingMailServerUseSSL: true,
      IncomingMailServerAuthentication: 'EmailAuthPassword',
      OutgoingMailServerHostName: 'smtp.acme.example',
      OutgoingMailServerPortNumber: 587,
      OutgoingPasswordSameAsIncomingPassword: true,
      OutgoingMailServerAuthentication: 'EmailAuthPassword',
    });
    expect(exchange).toMatchObject({ PayloadType: 'com.apple.eas.account', Host: 'mail.acme.example', SSL: true, UserName: 'ada', MailNumberOfPastDaysToSync: 14 });
    expect(caldav).toMatchObject({ PayloadType: 'com.apple.caldav.account', CalDAVHostName: 'dav.acme.example', CalDAVPort: 443, CalDAVUseSSL: true, CalDAVUsername: 'ada' });
    expect(carddav).toMatchObject({ PayloadType: 'com.apple.carddav.account', CardDAVHostName: 'dav.acme.example', CardDAVUseSSL: true });
    expect(payloadSpecSchema.safeParse({ kind: 'exchange', host: 'mail', mailNumberOfPastDaysToSync: 5 }).success).toBe(false);
  });
});
