import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { findSchemaDir, generate, schemaMissingMessage } from '../../scripts/gen-capabilities.js';
import {
  checkPayload,
  checkProfile,
  commandRule,
  commands,
  deviceInformationQueries,
  isCommandAllowed,
  passcodeKeys,
  payloads,
  restrictions,
  securityInfoForbiddenKeys,
  summary,
  type Enrollment,
} from '../../mdm/capabilities.js';
import { allowedRestrictionKeys, forbiddenDeviceInformationQueries } from './capability-views.js';

const user: Enrollment = { kind: 'user', supervised: false };
const device: Enrollment = { kind: 'device', supervised: false };
const supervised: Enrollment = { kind: 'device', supervised: true };

// Apple's schema, when this checkout has one (APPLE_SCHEMA_DIR or ../shared); the committed tables need none.
const schemaDir = findSchemaDir();
if (!schemaDir) console.warn(schemaMissingMessage);

describe.skipIf(!schemaDir)("generated capability tables against Apple's schema", () => {
  it('match what the schema generates today, byte for byte', () => {
    const committed = readFileSync(fileURLToPath(new URL('../../mdm/capabilities.generated.ts', import.meta.url)), 'utf8');
    const fresh = generate(schemaDir!);
    const committedLines = committed.split('\n');
    const freshLines = fresh.split('\n');
    const differs = freshLines.findIndex((line, i) => line !== committedLines[i]);
    const firstDifference = differs === -1 ? freshLines.length : differs;
    expect(
      fresh === committed,
      `mdm/capabilities.generated.ts is out of date with the schema (first difference at line ${firstDifference + 1}): run \`npm run gen:capabilities\``,
    ).toBe(true);
  });

  it('are deterministic', () => {
    expect(generate(schemaDir!)).toBe(generate(schemaDir!));
  });
});

describe('generated capability tables', () => {
  it('count what the protocol brief counted for iOS 18.1', () => {
    expect(summary.commands).toMatchObject({ allowed: 24, forbidden: 25, notOnIos: 17 });
    expect(summary.restrictions).toMatchObject({ total: 155, usableUnderUserEnrollment: 23, forbidden: 132 });
    expect(summary.passcodeKeys).toMatchObject({ total: 10, ignored: 10 });
    expect(summary.deviceInformationQueries).toMatchObject({ forbidden: 44 });
    expect(Object.keys(restrictions)).toHaveLength(155);
    expect(allowedRestrictionKeys('user')).toHaveLength(23);
    expect(forbiddenDeviceInformationQueries()).toHaveLength(44);
  });
});

describe('commands', () => {
  it.each(['EraseDevice', 'EnableLostMode', 'RestartDevice', 'ShutDownDevice', 'ClearPasscode', 'ActivationLockBypassCode'])(
    '%s is refused under User Enrollment, naming its schema file',
    (requestType) => {
      const decision = isCommandAllowed(requestType, user);
      expect(decision).toMatchObject({ allowed: false, code: 'forbidden_for_user_enrollment', schema: commandRule(requestType)!.file });
      expect(decision.allowed === false && decision.message).toContain(requestType);
    },
  );

  it.each(['DeviceLock', 'DeviceInformation', 'SecurityInfo', 'InstallApplication', 'InstallProfile', 'RemoveProfile'])(
    '%s is allowed under User Enrollment',
    (requestType) => {
      expect(isCommandAllowed(requestType, user)).toEqual({ allowed: true });
    },
  );

  it('records the schema file, versions and supervision', () => {
    expect(commandRule('EraseDevice')).toEqual({
      requestType: 'EraseDevice',
      file: 'mdm/commands/device.erase.yaml',
      userEnrollment: 'forbidden',
      supervisedOnly: false,
      introduced: '4.0',
    });
    expect(commandRule('RequestUnlockToken')).toMatchObject({ deprecated: '6.1.6' });
    for (const [requestType, rule] of Object.entries(commands)) expect(rule.requestType).toBe(requestType);
  });

  it('separates supervision from User Enrollment', () => {
    expect(isCommandAllowed('EraseDevice', device)).toEqual({ allowed: true });
    expect(isCommandAllowed('RestartDevice', device)).toMatchObject({ allowed: false, code: 'supervised_only', schema: 'mdm/commands/device.restart.yaml' });
    expect(isCommandAllowed('RestartDevice', supervised)).toEqual({ allowed: true });
  });

  it('tells macOS-only commands from unknown ones', () => {
    expect(isCommandAllowed('SetFirmwarePassword', device)).toMatchObject({ allowed: false, code: 'not_on_ios', schema: 'mdm/commands/passcode.firmware.set.yaml' });
    expect(isCommandAllowed('MakeCoffee', device)).toMatchObject({ allowed: false, code: 'unknown_command' });
    expect(isCommandAllowed('toString', device)).toMatchObject({ allowed: false, code: 'unknown_command' });
    expect(commandRule('SetFirmwarePassword')).toBeUndefined();
  });
});

describe('profile payloads', () => {
  it('forbids PayloadRemovalDisallowed under User Enrollment', () => {
    expect(payloads.TopLevel?.keys.PayloadRemovalDisallowed).toMatchObject({ userEnrollment: 'forbidden' });
    const profile = { PayloadType: 'Configuration', PayloadRemovalDisallowed: true, PayloadContent: [] };
    expect(checkProfile(profile, user)).toEqual([
      expect.objectContaining({ code: 'forbidden_for_user_enrollment', payloadType: 'TopLevel', key: 'PayloadRemovalDisallowed', blocking: true }),
    ]);
  });

  it('flags a Wi-Fi proxy key and names it', () => {
    const wifi = { PayloadType: 'com.apple.wifi.managed', SSID_STR: 'Acme', AutoJoin: true, ProxyType: 'Manual', ProxyServer: 'proxy.acme.example' };
    const violations = checkPayload(wifi, user);
    expect(violations.map((v) => v.key).sort()).toEqual(['ProxyServer', 'ProxyType']);
    for (const v of violations) {
      expect(v).toMatchObject({ code: 'forbidden_for_user_enrollment', payloadType: 'com.apple.wifi.managed', schema: 'mdm/profiles/com.apple.wifi.managed.yaml', blocking: true });
      expect(v.message).toContain(v.key);
    }
    expect(checkPayload(wifi, device)).toEqual([]);
  });

  it('accepts a plain Wi-Fi payload with nested EAP settings', () => {
    const wifi = {
      PayloadType: 'com.apple.wifi.managed',
      SSID_STR: 'Acme',
      EAPClientConfiguration: { AcceptEAPTypes: [13], TLSTrustedServerNames: ['radius.acme.example'] },
    };
    expect(checkPayload(wifi, user)).toEqual([]);
  });

  it('walks nested keys through arrays (AirPlay allow list)', () => {
    expect(payloads['com.apple.airplay']?.keys.AllowList).toEqual({ userEnrollment: 'forbidden', supervisedOnly: true });
    const airplay = { PayloadType: 'com.apple.airplay', AllowList: [{ DeviceName: 'Boardroom' }], Passwords: [{ DeviceName: 'Lobby', Password: 'x' }] };
    expect(checkPayload(airplay, user)).toEqual([expect.objectContaining({ code: 'forbidden_for_user_enrollment', key: 'AllowList' })]);
    expect(checkPayload(airplay, device)).toEqual([expect.objectContaining({ code: 'supervised_only', key: 'AllowList' })]);
    expect(checkPayload(airplay, supervised)).toEqual([]);
  });

  it('refuses forbidden payload types as a whole', () => {
    const [vpn, ...rest] = checkPayload({ PayloadType: 'com.apple.vpn.managed', VPNType: 'IKEv2' }, user);
    expect(rest).toEqual([]);
    expect(vpn).toMatchObject({ code: 'forbidden_for_user_enrollment', payloadType: 'com.apple.vpn.managed', schema: 'mdm/profiles/com.apple.vpn.managed.yaml' });
    expect(vpn).not.toHaveProperty('key');
    expect(checkPayload({ PayloadType: 'com.apple.vpn.managed.applayer' }, user)).toEqual([]);
    expect(checkPayload({ PayloadType: 'com.apple.dock' }, device)).toEqual([expect.objectContaining({ code: 'not_on_ios' })]);
    expect(checkPayload({ PayloadType: 'com.example.nothing' }, device)).toEqual([expect.objectContaining({ code: 'unknown_payload_type' })]);
  });

  it('reports passcode keys as ignored, not as errors', () => {
    const passcode = { PayloadType: 'com.apple.mobiledevice.passwordpolicy', minLength: 8, requireAlphanumeric: true };
    const violations = checkPayload(passcode, user);
    expect(violations.map((v) => [v.key, v.code, v.blocking])).toEqual([
      ['minLength', 'ignored', false],
      ['requireAlphanumeric', 'ignored', false],
    ]);
    expect(checkPayload(passcode, device)).toEqual([]);
  });

  it('marks keys that do not exist on iOS, without blocking', () => {
    expect(payloads['com.apple.mobiledevice.passwordpolicy']?.keys.customRegex).toMatchObject({ introducedNA: true });
    expect(checkPayload({ PayloadType: 'com.apple.mobiledevice.passwordpolicy', customRegex: {} }, device)).toEqual([
      expect.objectContaining({ code: 'not_on_ios', key: 'customRegex', blocking: false }),
    ]);
  });

  it('flags forbidden restriction keys and keeps usable ones', () => {
    const payload = { PayloadType: 'com.apple.applicationaccess', allowScreenShot: false, allowCamera: false, allowCloudDocumentSync: false };
    expect(checkPayload(payload, user).map((v) => `${v.key}:${v.code}`)).toEqual(['allowCamera:forbidden_for_user_enrollment', 'allowCloudDocumentSync:forbidden_for_user_enrollment']);
  });
});

describe('restrictions', () => {
  // The eleven restrictions Apple's deployment guidance (and vendors such as Hexnode) list for User Enrollment.
  const guideItems = {
    Siri: 'allowAssistant',
    'Siri while locked': 'allowAssistantWhileLocked',
    'Screen capture': 'allowScreenShot',
    'Sync managed data with iCloud': 'allowManagedAppsCloudSync',
    'Backup enterprise books': 'allowEnterpriseBookBackup',
    'Fraud warning': 'safariForceFraudWarning',
    'Today View on lock screen': 'allowLockScreenTodayView',
    'Control Center on lock screen': 'allowLockScreenControlCenter',
    'Lock screen notifications': 'allowLockScreenNotificationsView',
    'Force encrypted backup': 'forceEncryptedBackup',
    'Send diagnostic data': 'allowDiagnosticSubmission',
  };

  it.each(Object.entries(guideItems))('%s (%s) is usable under User Enrollment', (_item, key) => {
    expect(restrictions[key]).toMatchObject({ userEnrollment: 'allowed' });
    expect(allowedRestrictionKeys('user')).toContain(key);
  });

  it('lists the same 23 keys the brief found, forbidding the rest', () => {
    expect(allowedRestrictionKeys('user')).toEqual([
      'allowAssistant',
      'allowAssistantWhileLocked',
      'allowDiagnosticSubmission',
      'allowEnterpriseBookBackup',
      'allowEnterpriseBookMetadataSync',
      'allowLockScreenControlCenter',
      'allowLockScreenNotificationsView',
      'allowLockScreenTodayView',
      'allowManagedAppsCloudSync',
      'allowOpenFromManagedToUnmanaged',
      'allowOpenFromUnmanagedToManaged',
      'allowRemoteScreenObservation',
      'allowScreenShot',
      'allowUnmanagedToReadManagedContacts',
      'forceAirDropUnmanaged',
      'forceAirPlayOutgoingRequestsPairingPassword',
      'forceEncryptedBackup',
      'forceOnDeviceOnlyDictation',
      'forceOnDeviceOnlyTranslation',
      'forceWatchWristDetection',
      'ratingRegion',
      'requireManagedPasteboard',
      'safariForceFraudWarning',
    ]);
    expect(restrictions.allowCloudDocumentSync).toMatchObject({ userEnrollment: 'forbidden' });
  });

  it('widens with Device Enrollment and supervision', () => {
    const unsupervised = allowedRestrictionKeys('device');
    const all = allowedRestrictionKeys('device', { supervised: true });
    expect(unsupervised).toContain('allowCamera');
    expect(unsupervised).not.toContain('allowAirDrop');
    expect(all).toHaveLength(155);
  });
});

describe('passcode policy', () => {
  it('ignores all ten iOS keys under User Enrollment', () => {
    expect(Object.keys(passcodeKeys).sort()).toEqual([
      'allowSimple',
      'forcePIN',
      'maxFailedAttempts',
      'maxGracePeriod',
      'maxInactivity',
      'maxPINAgeInDays',
      'minComplexChars',
      'minLength',
      'pinHistory',
      'requireAlphanumeric',
    ]);
    expect(new Set(Object.values(passcodeKeys))).toEqual(new Set(['ignored']));
  });
});

describe('device information', () => {
  it.each(['UDID', 'SerialNumber', 'IMEI', 'MEID'])('the %s query is forbidden under User Enrollment', (query) => {
    expect(deviceInformationQueries[query]).toMatchObject({ userEnrollment: 'forbidden' });
    expect(forbiddenDeviceInformationQueries()).toContain(query);
  });

  it('keeps the harmless queries available', () => {
    for (const query of ['DeviceName', 'OSVersion', 'ModelName', 'IsSupervised', 'DevicePropertiesAttestation']) {
      expect(deviceInformationQueries[query]).toMatchObject({ userEnrollment: 'allowed' });
    }
    expect(deviceInformationQueries.ProvisioningUDID).toBeUndefined(); // macOS only
    expect(deviceInformationQueries.AccessibilitySettings).toMatchObject({ userEnrollment: 'forbidden', supervisedOnly: true });
  });

  it('lists the SecurityInfo response keys withheld under User Enrollment', () => {
    expect(securityInfoForbiddenKeys).toEqual([
      'SecurityInfo.AutoLockTime',
      'SecurityInfo.PasscodeCompliantWithProfiles',
      'SecurityInfo.PasscodeLockGracePeriod',
      'SecurityInfo.PasscodeLockGracePeriodEnforced',
      'SecurityInfo.PasscodePresent',
    ]);
  });
});
