/**
 * Configuration profiles an admin asks for, as typed specs (zod, camelCase JSON), and the Apple
 * payload dictionaries they become. Key names and value types follow Apple's schema
 * (apple/device-management mdm/profiles/*.yaml, iOS 18.1): integers stay integers, booleans booleans.
 *
 * Pure: no rule is applied here. Whether a payload or key may go to a given enrollment is decided by
 * planAction (actions.ts) with capabilities.ts, on the dictionaries built here.
 */
import { randomUUID, X509Certificate } from 'node:crypto';
import { z } from 'zod';
import { restrictions } from './capabilities.js';
import { emailAddress, HOST, requiredText } from './text.js';
import { defined } from './dict.js';

// ---------------------------------------------------------------------------------------------
// Shared pieces

const text = (max = 255) => requiredText(max);
const host = z
  .string()
  .max(253)
  .regex(HOST, { error: 'a host name or address, without scheme or path' });
const port = z.int().min(1).max(65_535);
const domains = z.array(text(253)).min(1).max(500);
const base64 = z.string().regex(/^[A-Za-z0-9+/\t\n\r ]*={0,2}[\t\n\r ]*$/, { error: 'must be base64' });

/** Fields every payload spec may carry. `uuid` lets other payloads of the profile refer to this one. */
const common = {
  displayName: text(200).optional(),
  uuid: z.guid({ error: 'must be a UUID' }).optional(),
};

// ---------------------------------------------------------------------------------------------
// Restrictions (com.apple.applicationaccess)

/**
 * The eleven restrictions the vendor guide lists for User Enrollment, by their Apple keys (all
 * booleans; the `allow…` ones default to true, forceEncryptedBackup and safariForceFraudWarning to false).
 */
export const namedRestrictions = {
  siri: 'allowAssistant',
  siriWhileLocked: 'allowAssistantWhileLocked',
  screenCapture: 'allowScreenShot',
  syncManagedDataWithICloud: 'allowManagedAppsCloudSync',
  backupEnterpriseBooks: 'allowEnterpriseBookBackup',
  fraudWarning: 'safariForceFraudWarning',
  todayViewOnLockScreen: 'allowLockScreenTodayView',
  controlCenterOnLockScreen: 'allowLockScreenControlCenter',
  notificationsOnLockScreen: 'allowLockScreenNotificationsView',
  forceEncryptedBackup: 'forceEncryptedBackup',
  sendDiagnosticData: 'allowDiagnosticSubmission',
} as const;

type NamedRestriction = keyof typeof namedRestrictions;

/**
 * Value types of the iOS restriction keys that are not booleans (com.apple.applicationaccess.yaml);
 * the other 144 iOS keys are all <boolean>.
 */
const restrictionValueTypes: Readonly<Record<string, 'string[]' | 'integer' | 'real' | 'string'>> = {
  allowListedAppBundleIDs: 'string[]',
  autonomousSingleAppModePermittedAppIDs: 'string[]',
  blacklistedAppBundleIDs: 'string[]',
  blockedAppBundleIDs: 'string[]',
  whitelistedAppBundleIDs: 'string[]',
  enforcedSoftwareUpdateDelay: 'integer',
  ratingApps: 'integer',
  ratingMovies: 'integer',
  ratingTVShows: 'integer',
  safariAcceptCookies: 'real',
  ratingRegion: 'string',
};

function restrictionValueType(key: string): 'boolean' | 'string[]' | 'integer' | 'real' | 'string' {
  return Object.hasOwn(restrictionValueTypes, key) ? restrictionValueTypes[key]! : 'boolean';
}

function hasType(value: unknown, type: ReturnType<typeof restrictionValueType>): boolean {
  switch (type) {
    case 'boolean':
      return typeof value === 'boolean';
    case 'integer':
      return Number.isSafeInteger(value);
    case 'real':
      return typeof value === 'number' && Number.isFinite(value);
    case 'string':
      return typeof value === 'string';
    case 'string[]':
      return Array.isArray(value) && value.every((item) => typeof item === 'string');
  }
}

const namedRestrictionFields = Object.fromEntries(
  Object.entries(namedRestrictions).map(([name, key]) => [name, z.boolean().optional().describe(`Apple key ${key}`)]),
) as Record<NamedRestriction, z.ZodOptional<z.ZodBoolean>>;

export const restrictionsPayloadSchema = z
  .strictObject({
    kind: z.literal('restrictions'),
    ...common,
    ...namedRestrictionFields,
    /** Any other iOS restriction key, by Apple's exact name (e.g. allowOpenFromManagedToUnmanaged). */
    keys: z.record(z.string(), z.union([z.boolean(), z.number(), z.string(), z.array(z.string())])).optional(),
  })
  .superRefine((spec, ctx) => {
    const named = new Set(Object.keys(namedRestrictions).filter((name) => spec[name as NamedRestriction] !== undefined));
    const namedKeys = new Map([...named].map((name) => [namedRestrictions[name as NamedRestriction] as string, name]));
    for (const [key, value] of Object.entries(spec.keys ?? {})) {
      const path = ['keys', key];
      if (!Object.hasOwn(restrictions, key)) {
        ctx.addIssue({ code: 'custom', path, message: `${key} is not an iOS restriction key in Apple's schema (mdm/profiles/com.apple.applicationaccess.yaml)` });
      } else if (!hasType(value, restrictionValueType(key))) {
        ctx.addIssue({ code: 'custom', path, message: `${key} takes a ${restrictionValueType(key)} value` });
      } else if (namedKeys.has(key)) {
        ctx.addIssue({ code: 'custom', path, message: `${key} is already set by "${namedKeys.get(key)}"` });
      }
    }
    if (named.size === 0 && Object.keys(spec.keys ?? {}).length === 0) {
      ctx.addIssue({ code: 'custom', path: [], message: 'set at least one restriction' });
    }
  });

// ---------------------------------------------------------------------------------------------
// Passcode (com.apple.mobiledevice.passwordpolicy)

/** Spec option → Apple key. Only requirePasscode is renamed (Apple: forcePIN). */
export const passcodeOptionKeys = {
  requirePasscode: 'forcePIN',
  allowSimple: 'allowSimple',
  requireAlphanumeric: 'requireAlphanumeric',
  minLength: 'minLength',
  minComplexChars: 'minComplexChars',
  maxPINAgeInDays: 'maxPINAgeInDays',
  pinHistory: 'pinHistory',
  maxInactivity: 'maxInactivity',
  maxGracePeriod: 'maxGracePeriod',
  maxFailedAttempts: 'maxFailedAttempts',
} as const;

/** Ranges from the schema; maxGracePeriod has none there, iOS offers up to 4 hours. */
export const passcodePayloadSchema = z.strictObject({
  kind: z.literal('passcode'),
  ...common,
  requirePasscode: z.boolean().optional().describe('Apple key forcePIN'),
  allowSimple: z.boolean().optional(),
  requireAlphanumeric: z.boolean().optional(),
  minLength: z.int().min(0).max(16).optional(),
  minComplexChars: z.int().min(0).max(4).optional(),
  maxPINAgeInDays: z.int().min(0).max(730).optional(),
  pinHistory: z.int().min(1).max(50).optional(),
  maxInactivity: z.int().min(0).max(15).optional().describe('minutes'),
  maxGracePeriod: z.int().min(0).max(240).optional().describe('minutes'),
  maxFailedAttempts: z.int().min(2).max(11).optional(),
});

export type PasscodeSpec = z.infer<typeof passcodePayloadSchema>;
export type PasscodeOptions = Omit<PasscodeSpec, 'kind' | 'displayName' | 'uuid'>;

/** The Apple passcode keys (forcePIN, minLength…) a spec sets, with their values. */
export function passcodeKeysOf(options: PasscodeOptions): Record<string, boolean | number> {
  const keys: Record<string, boolean | number> = {};
  for (const [option, key] of Object.entries(passcodeOptionKeys)) {
    const value = options[option as keyof typeof passcodeOptionKeys];
    if (value !== undefined) keys[key] = value;
  }
  return keys;
}

// ---------------------------------------------------------------------------------------------
// Wi-Fi (com.apple.wifi.managed)

const eapTypes = [13, 17, 18, 21, 23, 25, 43] as const; // TLS, LEAP, EAP-SIM, TTLS, EAP-AKA, PEAP, EAP-FAST

export const wifiPayloadSchema = z
  .strictObject({
    kind: z.literal('wifi'),
    ...common,
    ssid: text(32),
    hidden: z.boolean().optional(),
    autoJoin: z.boolean().optional(),
    /** Apple's default is Any; Tandem picks None for an open network (no password, no EAP). */
    encryption: z.enum(['WEP', 'WPA', 'WPA2', 'WPA3', 'Any', 'None']).optional(),
    password: z.string().min(1).max(63).optional(),
    eap: z
      .strictObject({
        acceptEapTypes: z
          .array(z.literal(eapTypes))
          .min(1)
          .describe('13 TLS, 17 LEAP, 18 EAP-SIM, 21 TTLS, 23 EAP-AKA, 25 PEAP, 43 EAP-FAST'),
        username: text().optional(),
        password: z.string().min(1).optional(),
        outerIdentity: text().optional(),
        trustedServerNames: z.array(text(253)).min(1).optional(),
        /** UUIDs of certificate payloads in the same profile to trust for the RADIUS server. */
        trustedCertificateUuids: z.array(z.guid()).min(1).optional(),
        ttlsInnerAuthentication: z.enum(['PAP', 'EAP', 'CHAP', 'MSCHAP', 'MSCHAPv2']).optional(),
      })
      .optional(),
    /** Proxy keys are forbidden under User Enrollment; planAction refuses them there. */
    proxy: z
      .discriminatedUnion('type', [
        z.strictObject({
          type: z.literal('manual'),
          server: host,
          port,
          username: text().optional(),
          password: z.string().min(1).optional(),
        }),
        z.strictObject({
          type: z.literal('auto'),
          /** Without it the device uses WPAD. */
          pacUrl: z.url({ protocol: /^https?$/ }).optional(),
          fallbackAllowed: z.boolean().optional(),
        }),
      ])
      .optional(),
    disableMacRandomization: z.boolean().optional(),
  })
  .superRefine((spec, ctx) => {
    if (spec.password !== undefined && spec.eap !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['password'], message: 'give either a password (personal network) or eap (enterprise network), not both' });
    }
    if (spec.encryption === 'None' && (spec.password !== undefined || spec.eap !== undefined)) {
      ctx.addIssue({ code: 'custom', path: ['encryption'], message: 'an open network ("None") takes no password or eap' });
    }
    if (spec.eap !== undefined && spec.encryption === 'WEP') {
      ctx.addIssue({ code: 'custom', path: ['encryption'], message: 'eap needs WPA, WPA2, WPA3 or Any' });
    }
  });

// ---------------------------------------------------------------------------------------------
// Per-app VPN (com.apple.vpn.managed.applayer: the VPN payload's keys plus VPNUUID and domains)

const vpnIkev2 = z.strictObject({
  type: z.literal('ikev2'),
  server: host,
  remoteIdentifier: text(),
  localIdentifier: text(),
  authentication: z.enum(['certificate', 'shared_secret', 'none']),
  sharedSecret: z.string().min(1).optional(),
  /** UUID of a certificate payload in the same profile (the client identity). */
  certificateUuid: z.guid().optional(),
  /** EAP username and password (ExtendedAuthEnabled). */
  username: text().optional(),
  password: z.string().min(1).optional(),
});

const vpnNetworkExtension = z.strictObject({
  type: z.literal('network_extension'),
  /** The VPN app's provider bundle identifier (also VPNSubType). */
  providerBundleIdentifier: text(),
  providerType: z.enum(['packet-tunnel', 'app-proxy']).optional(),
  server: host,
  authentication: z.enum(['password', 'certificate', 'password+certificate']).optional(),
  username: text().optional(),
  password: z.string().min(1).optional(),
  certificateUuid: z.guid().optional(),
  vendorConfig: z.record(z.string(), z.string()).optional(),
});

export const perAppVpnPayloadSchema = z
  .strictObject({
    kind: z.literal('per_app_vpn'),
    ...common,
    name: text(200).describe('UserDefinedName, shown on the device'),
    /** The VPNUUID apps are bound to (install_application's vpnUuid). */
    vpnUuid: z.guid({ error: 'must be a UUID: the same value goes into install_application vpnUuid' }),
    connection: z.discriminatedUnion('type', [vpnIkev2, vpnNetworkExtension]),
    onDemandMatchAppEnabled: z.boolean().optional(),
    safariDomains: domains.optional(),
    mailDomains: domains.optional(),
    calendarDomains: domains.optional(),
    contactsDomains: domains.optional(),
    associatedDomains: domains.optional(),
    excludedDomains: domains.optional(),
    smbDomains: domains.optional(),
  })
  .superRefine((spec, ctx) => {
    const c = spec.connection;
    if (c.type === 'ikev2' && c.authentication === 'shared_secret' && c.sharedSecret === undefined) {
      ctx.addIssue({ code: 'custom', path: ['connection', 'sharedSecret'], message: 'required when authentication is "shared_secret"' });
    }
    if (c.type === 'ikev2' && c.authentication === 'certificate' && c.certificateUuid === undefined) {
      ctx.addIssue({ code: 'custom', path: ['connection', 'certificateUuid'], message: 'required when authentication is "certificate"' });
    }
  });

// ---------------------------------------------------------------------------------------------
// Web clip (com.apple.webClip.managed)

export const webClipPayloadSchema = z.strictObject({
  kind: z.literal('web_clip'),
  ...common,
  label: text(100),
  url: z.url({ protocol: /^https?$/ }),
  /** PNG or JPEG, base64. */
  icon: base64.max(1_400_000).optional(),
  fullScreen: z.boolean().optional(),
  isRemovable: z.boolean().optional(),
  precomposed: z.boolean().optional(),
  ignoreManifestScope: z.boolean().optional(),
  targetApplicationBundleIdentifier: text().optional(),
});

// ---------------------------------------------------------------------------------------------
// Certificate (com.apple.security.root / .pem / .pkcs1)

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

interface ParsedCertificate {
  format: 'pem' | 'der';
  der: Buffer;
  pem: string;
  x509: X509Certificate;
}

/** One X.509 certificate, PEM text or base64 DER; throws with a message fit for an admin. */
function parseCertificate(input: string): ParsedCertificate {
  const pems = input.match(PEM_CERTIFICATE) ?? [];
  if (pems.length > 1) throw new Error('one certificate per payload (the PEM holds several)');
  const format = pems.length === 1 ? 'pem' : 'der';
  if (format === 'der' && !/^[A-Za-z0-9+/\s]+={0,2}\s*$/.test(input)) throw new Error('must be a PEM certificate or base64 DER');
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(format === 'pem' ? pems[0]! : Buffer.from(input, 'base64'));
  } catch {
    throw new Error('is not a readable X.509 certificate');
  }
  return { format, der: x509.raw, pem: x509.toString(), x509 };
}

export const certificatePayloadSchema = z
  .strictObject({
    kind: z.literal('certificate'),
    ...common,
    /** PEM text or base64 DER. */
    certificate: z.string().min(1).max(64_000),
    fileName: text(200).optional(),
  })
  .superRefine((spec, ctx) => {
    try {
      parseCertificate(spec.certificate);
    } catch (error) {
      ctx.addIssue({ code: 'custom', path: ['certificate'], message: (error as Error).message });
    }
  });

// ---------------------------------------------------------------------------------------------
// Accounts (com.apple.mail.managed, com.apple.eas.account, com.apple.caldav/carddav.account)

const mailAuthentication = z.enum(['none', 'password', 'crammd5', 'ntlm', 'httpmd5']);
const mailAuthValues = { none: 'EmailAuthNone', password: 'EmailAuthPassword', crammd5: 'EmailAuthCRAMMD5', ntlm: 'EmailAuthNTLM', httpmd5: 'EmailAuthHTTPMD5' } as const;

const mailServer = z.strictObject({
  host,
  port: port.optional(),
  useSSL: z.boolean().optional(),
  username: text().optional(),
  password: z.string().min(1).optional(),
  authentication: mailAuthentication.optional().describe('default "password"'),
});

export const mailPayloadSchema = z.strictObject({
  kind: z.literal('mail'),
  ...common,
  accountType: z.enum(['imap', 'pop']),
  accountDescription: text(200).optional(),
  accountName: text(200).optional().describe("the user's display name"),
  emailAddress: emailAddress().optional(),
  incoming: mailServer,
  outgoing: mailServer.extend({ passwordSameAsIncoming: z.boolean().optional() }),
  preventMove: z.boolean().optional(),
  preventAppSheet: z.boolean().optional(),
});

export const exchangePayloadSchema = z.strictObject({
  kind: z.literal('exchange'),
  ...common,
  host,
  useSSL: z.boolean().optional().describe('default true'),
  emailAddress: emailAddress().optional(),
  username: text().optional(),
  password: z.string().min(1).optional(),
  oauth: z.boolean().optional(),
  mailNumberOfPastDaysToSync: z.literal([0, 1, 3, 7, 14, 31]).optional(),
  preventMove: z.boolean().optional(),
  preventAppSheet: z.boolean().optional(),
});

const davAccount = {
  ...common,
  host,
  port: port.optional(),
  useSSL: z.boolean().optional().describe('default true'),
  username: text().optional(),
  password: z.string().min(1).optional(),
  principalUrl: z.url().optional(),
  accountDescription: text(200).optional(),
};

export const caldavPayloadSchema = z.strictObject({ kind: z.literal('caldav'), ...davAccount });
export const carddavPayloadSchema = z.strictObject({ kind: z.literal('carddav'), ...davAccount });

// ---------------------------------------------------------------------------------------------
// Payload and profile specs

export const payloadSpecSchema = z.discriminatedUnion(
  'kind',
  [
    restrictionsPayloadSchema,
    passcodePayloadSchema,
    wifiPayloadSchema,
    perAppVpnPayloadSchema,
    webClipPayloadSchema,
    certificatePayloadSchema,
    mailPayloadSchema,
    exchangePayloadSchema,
    caldavPayloadSchema,
    carddavPayloadSchema,
  ],
  { error: 'kind must be one of restrictions, passcode, wifi, per_app_vpn, web_clip, certificate, mail, exchange, caldav, carddav' },
);

export type PayloadSpec = z.infer<typeof payloadSpecSchema>;

/** Prefix of enrollment profiles (profile.ts); a policy profile must never replace one. */
const ENROLLMENT_PROFILE_PREFIX = 'com.tandem.enrollment.';

export const profileSpecSchema = z
  .strictObject({
    /** Reverse-DNS; default com.tandem.policy.<slug of displayName>. Same identifier = replaces that profile. */
    identifier: z
      .string()
      .max(255)
      .regex(/^[A-Za-z0-9][A-Za-z0-9-]*(\.[A-Za-z0-9][A-Za-z0-9_-]*)+$/, { error: 'a reverse-DNS identifier such as com.example.wifi' })
      .refine((id) => !id.startsWith(ENROLLMENT_PROFILE_PREFIX), { error: 'must not replace an enrollment profile (com.tandem.enrollment.*)' })
      .optional(),
    displayName: text(200),
    description: text(1000).optional(),
    organization: text(200).optional(),
    payloads: z.array(payloadSpecSchema).min(1, { error: 'a profile needs at least one payload' }).max(50),
  })
  .superRefine((spec, ctx) => {
    // UUIDs must be unique, and a reference must name a certificate payload of this profile.
    const seen = new Set<string>();
    const certificates = new Set<string>();
    spec.payloads.forEach((payload, index) => {
      if (payload.uuid === undefined) return;
      const uuid = payload.uuid.toUpperCase();
      if (seen.has(uuid)) ctx.addIssue({ code: 'custom', path: ['payloads', index, 'uuid'], message: 'UUIDs must be unique within the profile' });
      seen.add(uuid);
      if (payload.kind === 'certificate') certificates.add(uuid);
    });
    spec.payloads.forEach((payload, index) => {
      for (const [path, uuid] of certificateReferences(payload)) {
        if (!certificates.has(uuid.toUpperCase())) {
          ctx.addIssue({ code: 'custom', path: ['payloads', index, ...path], message: 'must be the uuid of a certificate payload in this profile' });
        }
      }
    });
  });

export type ProfileSpec = z.infer<typeof profileSpecSchema>;

function certificateReferences(payload: PayloadSpec): [(string | number)[], string][] {
  if (payload.kind === 'wifi') {
    return (payload.eap?.trustedCertificateUuids ?? []).map((uuid, i) => [['eap', 'trustedCertificateUuids', i], uuid]);
  }
  if (payload.kind === 'per_app_vpn' && payload.connection.certificateUuid !== undefined) {
    return [[['connection', 'certificateUuid'], payload.connection.certificateUuid]];
  }
  return [];
}

// ---------------------------------------------------------------------------------------------
// Builders

type Dict = Record<string, unknown>;

const upper = (uuid: string | undefined) => uuid?.toUpperCase();

export function slugify(name: string): string {
  const slug = name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 64)
    .replace(/-+$/, '');
  return slug || 'profile';
}

/** The identifier planAction gives a profile: the spec's own, else com.tandem.policy.<slug>. */
export function profileIdentifier(spec: Pick<ProfileSpec, 'identifier' | 'displayName'>): string {
  return spec.identifier ?? `com.tandem.policy.${slugify(spec.displayName)}`;
}

function restrictionsKeys(spec: z.infer<typeof restrictionsPayloadSchema>): Dict {
  const keys: Dict = {};
  for (const [name, key] of Object.entries(namedRestrictions)) keys[key] = spec[name as NamedRestriction];
  return { ...defined(keys), ...spec.keys };
}

function wifiKeys(spec: z.infer<typeof wifiPayloadSchema>): Dict {
  const encryption = spec.encryption ?? (spec.password === undefined && spec.eap === undefined ? 'None' : 'Any');
  const proxy = spec.proxy;
  return {
    SSID_STR: spec.ssid,
    HIDDEN_NETWORK: spec.hidden,
    AutoJoin: spec.autoJoin,
    EncryptionType: encryption,
    Password: spec.password,
    EAPClientConfiguration:
      spec.eap &&
      defined({
        AcceptEAPTypes: spec.eap.acceptEapTypes,
        UserName: spec.eap.username,
        UserPassword: spec.eap.password,
        OuterIdentity: spec.eap.outerIdentity,
        TLSTrustedServerNames: spec.eap.trustedServerNames,
        PayloadCertificateAnchorUUID: spec.eap.trustedCertificateUuids?.map((uuid) => uuid.toUpperCase()),
        TTLSInnerAuthentication: spec.eap.ttlsInnerAuthentication,
      }),
    // Apple's ProxyType None is the default; leaving proxies out keeps the payload valid under UE.
    ...(proxy?.type === 'manual'
      ? { ProxyType: 'Manual', ProxyServer: proxy.server, ProxyServerPort: proxy.port, ProxyUsername: proxy.username, ProxyPassword: proxy.password }
      : {}),
    ...(proxy?.type === 'auto' ? { ProxyType: 'Auto', ProxyPACURL: proxy.pacUrl, ProxyPACFallbackAllowed: proxy.fallbackAllowed } : {}),
    DisableAssociationMACRandomization: spec.disableMacRandomization,
  };
}

const vpnAuthValues = { password: 'Password', certificate: 'Certificate', 'password+certificate': 'Password+Certificate' } as const;
const ikev2AuthValues = { certificate: 'Certificate', shared_secret: 'SharedSecret', none: 'None' } as const;

function perAppVpnKeys(spec: z.infer<typeof perAppVpnPayloadSchema>): Dict {
  const c = spec.connection;
  const connection: Dict =
    c.type === 'ikev2'
      ? {
          VPNType: 'IKEv2',
          IKEv2: defined({
            RemoteAddress: c.server,
            RemoteIdentifier: c.remoteIdentifier,
            LocalIdentifier: c.localIdentifier,
            AuthenticationMethod: ikev2AuthValues[c.authentication],
            SharedSecret: c.sharedSecret,
            PayloadCertificateUUID: upper(c.certificateUuid),
            // <integer> 0/1 in the schema, not a boolean.
            ExtendedAuthEnabled: c.username !== undefined || c.password !== undefined ? 1 : undefined,
            AuthName: c.username,
            AuthPassword: c.password,
          }),
        }
      : {
          VPNType: 'VPN',
          VPNSubType: c.providerBundleIdentifier,
          VendorConfig: c.vendorConfig,
          // RemoteAddress and AuthName are not in the iOS 18.1 YAML's VPN dictionary, but they are
          // how profiles (Apple Configurator, VPN vendors) give a network extension its server and user.
          VPN: defined({
            RemoteAddress: c.server,
            AuthName: c.username,
            Password: c.password,
            AuthenticationMethod: c.authentication && vpnAuthValues[c.authentication],
            PayloadCertificateUUID: upper(c.certificateUuid),
            ProviderBundleIdentifier: c.providerBundleIdentifier,
            ProviderType: c.providerType,
          }),
        };
  return {
    UserDefinedName: spec.name,
    VPNUUID: spec.vpnUuid,
    ...connection,
    OnDemandMatchAppEnabled: spec.onDemandMatchAppEnabled,
    SafariDomains: spec.safariDomains,
    MailDomains: spec.mailDomains,
    CalendarDomains: spec.calendarDomains,
    ContactsDomains: spec.contactsDomains,
    AssociatedDomains: spec.associatedDomains,
    ExcludedDomains: spec.excludedDomains,
    SMBDomains: spec.smbDomains,
  };
}

/**
 * A self-signed CA goes in as a trust anchor (com.apple.security.root, DER); any other certificate
 * as PEM (com.apple.security.pem) or DER (com.apple.security.pkcs1), as it was given.
 */
function certificatePayload(spec: z.infer<typeof certificatePayloadSchema>): { type: string; keys: Dict; name: string } {
  const cert = parseCertificate(spec.certificate);
  const selfSigned = cert.x509.checkIssued(cert.x509) && cert.x509.verify(cert.x509.publicKey);
  const isRoot = cert.x509.ca && selfSigned;
  const type = isRoot ? 'com.apple.security.root' : cert.format === 'pem' ? 'com.apple.security.pem' : 'com.apple.security.pkcs1';
  const content = isRoot || cert.format === 'der' ? cert.der : Buffer.from(cert.pem, 'utf8');
  const name = /(?:^|\n)CN=([^\n]+)/.exec(cert.x509.subject)?.[1] ?? 'Certificate';
  const extension = cert.format === 'pem' && !isRoot ? 'pem' : 'cer';
  return { type, name, keys: { PayloadContent: content, PayloadCertificateFileName: spec.fileName ?? `${slugify(name)}.${extension}` } };
}

function mailKeys(spec: z.infer<typeof mailPayloadSchema>): Dict {
  return {
    EmailAccountType: spec.accountType === 'imap' ? 'EmailTypeIMAP' : 'EmailTypePOP',
    EmailAccountDescription: spec.accountDescription,
    EmailAccountName: spec.accountName,
    EmailAddress: spec.emailAddress,
    IncomingMailServerHostName: spec.incoming.host,
    IncomingMailServerPortNumber: spec.incoming.port,
    IncomingMailServerUseSSL: spec.incoming.useSSL,
    IncomingMailServerUsername: spec.incoming.username,
    IncomingPassword: spec.incoming.password,
    IncomingMailServerAuthentication: mailAuthValues[spec.incoming.authentication ?? 'password'],
    OutgoingMailServerHostName: spec.outgoing.host,
    OutgoingMailServerPortNumber: spec.outgoing.port,
    OutgoingMailServerUseSSL: spec.outgoing.useSSL,
    OutgoingMailServerUsername: spec.outgoing.username,
    OutgoingPassword: spec.outgoing.password,
    OutgoingPasswordSameAsIncomingPassword: spec.outgoing.passwordSameAsIncoming,
    OutgoingMailServerAuthentication: mailAuthValues[spec.outgoing.authentication ?? 'password'],
    PreventMove: spec.preventMove,
    PreventAppSheet: spec.preventAppSheet,
  };
}

function exchangeKeys(spec: z.infer<typeof exchangePayloadSchema>): Dict {
  return {
    Host: spec.host,
    SSL: spec.useSSL ?? true,
    EmailAddress: spec.emailAddress,
    UserName: spec.username,
    Password: spec.password,
    OAuth: spec.oauth,
    MailNumberOfPastDaysToSync: spec.mailNumberOfPastDaysToSync,
    PreventMove: spec.preventMove,
    PreventAppSheet: spec.preventAppSheet,
  };
}

function davKeys(prefix: 'CalDAV' | 'CardDAV', spec: z.infer<typeof caldavPayloadSchema> | z.infer<typeof carddavPayloadSchema>): Dict {
  return {
    [`${prefix}AccountDescription`]: spec.accountDescription,
    [`${prefix}HostName`]: spec.host,
    [`${prefix}Port`]: spec.port,
    [`${prefix}UseSSL`]: spec.useSSL ?? true,
    [`${prefix}Username`]: spec.username,
    [`${prefix}Password`]: spec.password,
    [`${prefix}PrincipalURL`]: spec.principalUrl,
  };
}

/** PayloadType, default display name and Apple keys of one spec. */
function payloadBody(spec: PayloadSpec): { type: string; name: string; keys: Dict } {
  switch (spec.kind) {
    case 'restrictions':
      return { type: 'com.apple.applicationaccess', name: 'Restrictions', keys: restrictionsKeys(spec) };
    case 'passcode':
      return { type: 'com.apple.mobiledevice.passwordpolicy', name: 'Passcode', keys: passcodeKeysOf(spec) };
    case 'wifi':
      return { type: 'com.apple.wifi.managed', name: `Wi-Fi (${spec.ssid})`, keys: wifiKeys(spec) };
    case 'per_app_vpn':
      return { type: 'com.apple.vpn.managed.applayer', name: `VPN (${spec.name})`, keys: perAppVpnKeys(spec) };
    case 'web_clip':
      return {
        type: 'com.apple.webClip.managed',
        name: spec.label,
        keys: {
          Label: spec.label,
          URL: spec.url,
          Icon: spec.icon === undefined ? undefined : Buffer.from(spec.icon, 'base64'),
          FullScreen: spec.fullScreen,
          IsRemovable: spec.isRemovable,
          Precomposed: spec.precomposed,
          IgnoreManifestScope: spec.ignoreManifestScope,
          TargetApplicationBundleIdentifier: spec.targetApplicationBundleIdentifier,
        },
      };
    case 'certificate':
      return certificatePayload(spec);
    case 'mail':
      return { type: 'com.apple.mail.managed', name: spec.accountDescription ?? 'Mail', keys: mailKeys(spec) };
    case 'exchange':
      return { type: 'com.apple.eas.account', name: 'Exchange ActiveSync', keys: exchangeKeys(spec) };
    case 'caldav':
      return { type: 'com.apple.caldav.account', name: spec.accountDescription ?? 'Calendar', keys: davKeys('CalDAV', spec) };
    case 'carddav':
      return { type: 'com.apple.carddav.account', name: spec.accountDescription ?? 'Contacts', keys: davKeys('CardDAV', spec) };
  }
}

/** One payload dictionary (common keys + Apple keys) under the given PayloadIdentifier. */
export function buildPayload(spec: PayloadSpec, identifier: string): Dict {
  const body = payloadBody(spec);
  return defined({
    PayloadType: body.type,
    PayloadVersion: 1,
    PayloadIdentifier: identifier,
    PayloadUUID: upper(spec.uuid) ?? randomUUID().toUpperCase(),
    PayloadDisplayName: spec.displayName ?? body.name,
    ...defined(body.keys),
  });
}

/**
 * The profile dictionary (PayloadType Configuration) for a spec; validates the spec first (throws a
 * ZodError). Payload identifiers are `<profile>.<kind>.<n>`. PayloadRemovalDisallowed is never set:
 * forbidden under User Enrollment and supervised-only elsewhere.
 */
export function buildProfile(spec: ProfileSpec): Dict {
  const valid = profileSpecSchema.parse(spec);
  const identifier = profileIdentifier(valid);
  const counts = new Map<string, number>();
  const content = valid.payloads.map((payload) => {
    const n = (counts.get(payload.kind) ?? 0) + 1;
    counts.set(payload.kind, n);
    return buildPayload(payload, `${identifier}.${payload.kind.replace(/_/g, '-')}.${n}`);
  });
  return defined({
    PayloadType: 'Configuration',
    PayloadVersion: 1,
    PayloadIdentifier: identifier,
    PayloadUUID: randomUUID().toUpperCase(),
    PayloadDisplayName: valid.displayName,
    PayloadDescription: valid.description,
    PayloadOrganization: valid.organization,
    PayloadContent: content,
  });
}
