import { describe, expect, it } from 'vitest';
import {
  actionRequestTypes,
  adminActionSchema,
  effectivePasscodePolicy,
  planAction,
  type ActionEnrollment,
  type ActionPlan,
  type AdminAction,
} from '../../mdm/actions.js';
import { commands, passcodeKeys, restrictions } from '../../mdm/capabilities.js';
import { forbiddenDeviceInformationQueries } from './capability-views.js';
import { userEnrollmentQueries } from '../../mdm/device-queries.js';
import { namedRestrictions, type ProfileSpec } from '../../mdm/payloads.js';
import { buildPlist, parsePlist } from '../../mdm/plist-codec.js';

const user: ActionEnrollment = { kind: 'user', supervised: false };
const device: ActionEnrollment = { kind: 'device', supervised: false };
const supervised: ActionEnrollment = { kind: 'device', supervised: true, unlockToken: Buffer.from('unlock-token') };

type Ok = Extract<ActionPlan, { ok: true }>;
type Refused = Extract<ActionPlan, { ok: false }>;

function ok(plan: ActionPlan): Ok {
  expect(plan, plan.ok ? '' : `${plan.code}: ${plan.message}`).toMatchObject({ ok: true });
  return plan as Ok;
}

function refused(plan: ActionPlan): Refused {
  expect(plan.ok, 'expected a refusal').toBe(false);
  return plan as Refused;
}

const profileAction = (profile: ProfileSpec): AdminAction => ({ type: 'install_profile', profile });
const profileOf = (plan: ActionPlan) => parsePlist(ok(plan).params.Payload as Buffer);
const payloadsOf = (plan: ActionPlan) => profileOf(plan).PayloadContent as Record<string, unknown>[];

describe('commands User Enrollment forbids', () => {
  const forbidden = Object.values(commands).filter((rule) => rule.userEnrollment === 'forbidden');

  it('are the 25 the schema lists', () => {
    expect(forbidden).toHaveLength(25);
  });

  it.each(forbidden.map((rule) => [rule.requestType, rule.file] as const))('raw %s is refused for a user-enrolled device, naming %s', (requestType, file) => {
    const plan = refused(planAction({ type: 'raw_command', requestType }, user));
    expect(plan.code).toBe('forbidden_for_user_enrollment');
    expect(plan.details.schema).toBe(file);
    expect(plan.message).toContain('not available on user-enrolled devices');
    expect(plan.message).toContain(`(Apple schema: ${file})`);
  });
});

describe('device-only actions', () => {
  const deviceOnly: [AdminAction, string, Record<string, unknown>][] = [
    [{ type: 'erase_device' }, 'EraseDevice', {}],
    [{ type: 'enable_lost_mode', message: 'Call IT', phoneNumber: '+14155550100', footnote: 'Acme' }, 'EnableLostMode', { Message: 'Call IT', PhoneNumber: '+14155550100', Footnote: 'Acme' }],
    [{ type: 'disable_lost_mode' }, 'DisableLostMode', {}],
    [{ type: 'restart_device' }, 'RestartDevice', {}],
    [{ type: 'shut_down_device' }, 'ShutDownDevice', {}],
    [{ type: 'activation_lock_bypass_code' }, 'ActivationLockBypassCode', {}],
    [{ type: 'clear_activation_lock_bypass' }, 'ClearActivationLockBypassCode', {}],
    [{ type: 'clear_passcode' }, 'ClearPasscode', { UnlockToken: Buffer.from('unlock-token') }],
  ];

  it.each(deviceOnly)('%o is refused under User Enrollment and sent to a supervised device-enrolled device', (action, requestType, params) => {
    const refusal = refused(planAction(action, user));
    expect(refusal).toMatchObject({ code: 'forbidden_for_user_enrollment', details: { schema: commands[requestType]!.file } });
    expect(refusal.message).toMatch(/is not available on user-enrolled devices: with User Enrollment the organisation manages only the work data/);
    expect(ok(planAction(action, supervised))).toEqual({ ok: true, requestType, params, notes: [] });
  });

  it('tells the admin why, in plain words', () => {
    expect(refused(planAction({ type: 'erase_device' }, user)).message).toBe(
      'Erase is not available on user-enrolled devices: with User Enrollment the organisation manages only the work data (Apple schema: mdm/commands/device.erase.yaml).',
    );
    expect(refused(planAction({ type: 'enable_lost_mode', message: 'x' }, user)).message).toMatch(/^Lost Mode is not available/);
  });

  it('refuses supervised-only commands for an unsupervised device-enrolled device, but erases it', () => {
    for (const action of [{ type: 'restart_device' }, { type: 'enable_lost_mode', message: 'x' }, { type: 'activation_lock_bypass_code' }] as AdminAction[]) {
      const refusal = refused(planAction(action, device));
      expect(refusal.code).toBe('supervised_only');
      expect(refusal.message).toMatch(/needs a supervised device/);
    }
    expect(ok(planAction({ type: 'erase_device', preserveDataPlan: true }, device)).params).toEqual({ PreserveDataPlan: true });
  });

  it('cannot clear a passcode without the UnlockToken the device sent', () => {
    expect(refused(planAction({ type: 'clear_passcode' }, { kind: 'device', supervised: true }))).toMatchObject({ code: 'invalid_action', details: { keys: ['UnlockToken'] } });
  });

  it('treats a "supervised" user enrollment as the unsupervised device it is', () => {
    expect(refused(planAction({ type: 'erase_device' }, { kind: 'user', supervised: true })).code).toBe('forbidden_for_user_enrollment');
  });
});

describe('allowed commands', () => {
  it('device_lock → DeviceLock with lock-screen text; a PIN is macOS only', () => {
    expect(ok(planAction({ type: 'device_lock', message: 'Returned to IT?', phoneNumber: '+14155550100' }, user))).toEqual({
      ok: true,
      requestType: 'DeviceLock',
      params: { Message: 'Returned to IT?', PhoneNumber: '+14155550100' },
      notes: [],
    });
    expect(ok(planAction({ type: 'device_lock' }, user)).params).toEqual({});
    const pin = refused(planAction({ type: 'device_lock', pin: '123456' }, supervised));
    expect(pin).toMatchObject({ code: 'not_on_ios', details: { schema: 'mdm/commands/device.lock.yaml', keys: ['PIN'] } });
    expect(pin.message).toMatch(/only on macOS/);
  });

  it('device_information asks, by default, only what the enrollment type permits', () => {
    const plan = ok(planAction({ type: 'device_information' }, user));
    expect(plan.requestType).toBe('DeviceInformation');
    expect(plan.params.Queries).toEqual([...userEnrollmentQueries]);
    const forbidden = new Set(forbiddenDeviceInformationQueries());
    expect((plan.params.Queries as string[]).filter((q) => forbidden.has(q))).toEqual([]);
    expect(ok(planAction({ type: 'device_information' }, device)).params.Queries).toEqual(expect.arrayContaining(['UDID', 'SerialNumber']));
  });

  it('device_information refuses, under User Enrollment, every forbidden query it names', () => {
    const plan = refused(planAction({ type: 'device_information', queries: ['OSVersion', 'UDID', 'SerialNumber', 'IMEI'] }, user));
    expect(plan).toMatchObject({ code: 'forbidden_for_user_enrollment', details: { schema: 'mdm/commands/information.device.yaml', keys: ['UDID', 'SerialNumber', 'IMEI'] } });
    expect(plan.message).toMatch(/^UDID, SerialNumber, IMEI are not available on user-enrolled devices/);
    expect(ok(planAction({ type: 'device_information', queries: ['UDID', 'SerialNumber'] }, device)).params).toEqual({ Queries: ['UDID', 'SerialNumber'] });
  });

  it('device_information refuses unknown queries and supervised-only ones on an unsupervised device', () => {
    expect(refused(planAction({ type: 'device_information', queries: ['FavouriteColour'] }, device))).toMatchObject({ code: 'invalid_action', details: { keys: ['FavouriteColour'] } });
    expect(refused(planAction({ type: 'device_information', queries: ['EstimatedResidentUsers'] }, device))).toMatchObject({ code: 'supervised_only' });
    expect(ok(planAction({ type: 'device_information', queries: ['EstimatedResidentUsers', 'EstimatedResidentUsers'] }, supervised)).params).toEqual({
      Queries: ['EstimatedResidentUsers'],
    });
  });

  it('lists, and the installed-application list is limited to managed apps under User Enrollment', () => {
    const expectations: [AdminAction, ActionEnrollment, string, Record<string, unknown>][] = [
      [{ type: 'security_info' }, user, 'SecurityInfo', {}],
      [{ type: 'profile_list' }, user, 'ProfileList', {}],
      [{ type: 'certificate_list' }, user, 'CertificateList', {}],
      [{ type: 'installed_application_list' }, user, 'InstalledApplicationList', { ManagedAppsOnly: true }],
      [{ type: 'installed_application_list' }, device, 'InstalledApplicationList', {}],
      [{ type: 'managed_application_list' }, user, 'ManagedApplicationList', {}],
      [{ type: 'managed_application_list', identifiers: ['com.acme.app'] }, user, 'ManagedApplicationList', { Identifiers: ['com.acme.app'] }],
      [{ type: 'remove_application', identifier: 'com.acme.app' }, user, 'RemoveApplication', { Identifier: 'com.acme.app' }],
      [{ type: 'remove_profile', identifier: 'com.tandem.policy.wifi' }, user, 'RemoveProfile', { Identifier: 'com.tandem.policy.wifi' }],
    ];
    for (const [action, enrollment, requestType, params] of expectations) {
      expect(planAction(action, enrollment), JSON.stringify(action)).toEqual({ ok: true, requestType, params, notes: [] });
    }
  });

  it('install_application uses a user-based VPP licence and removes the app with the enrollment', () => {
    expect(ok(planAction({ type: 'install_application', itunesStoreId: 361309726 }, user))).toEqual({
      ok: true,
      requestType: 'InstallApplication',
      params: { iTunesStoreID: 361309726, Options: { PurchaseMethod: 1 }, ManagementFlags: 1 },
      notes: [],
    });
    expect(ok(planAction({ type: 'install_application', itunesStoreId: 1, vpnUuid: '0B7F1E2C-3D4A-4E5B-8C6D-7E8F9A0B1C2D' }, user)).params.Attributes).toEqual({
      VPNUUID: '0B7F1E2C-3D4A-4E5B-8C6D-7E8F9A0B1C2D',
    });
  });

  it('install_application: keeping the app after unenrollment is ignored under User Enrollment, honoured otherwise', () => {
    const ue = ok(planAction({ type: 'install_application', itunesStoreId: 1, removeOnUnenroll: false }, user));
    expect(ue.params).not.toHaveProperty('ManagementFlags');
    expect(ue.notes).toEqual([expect.objectContaining({ kind: 'ignored_on_user_enrollment', key: 'ManagementFlags', message: expect.stringMatching(/^ignored on user-enrolled devices/) })]);
    const de = ok(planAction({ type: 'install_application', itunesStoreId: 1, removeOnUnenroll: false }, device));
    expect(de).toMatchObject({ params: { iTunesStoreID: 1, Options: { PurchaseMethod: 1 } }, notes: [] });
    expect(de.params).not.toHaveProperty('ManagementFlags');
  });

  it('install_application: taking over a user-installed app is forbidden under User Enrollment', () => {
    const plan = refused(planAction({ type: 'install_application', itunesStoreId: 1, manage: true }, user));
    expect(plan).toMatchObject({ code: 'forbidden_key', details: { schema: 'mdm/commands/application.install.yaml', keys: ['ChangeManagementState'] } });
    expect(ok(planAction({ type: 'install_application', itunesStoreId: 1, manage: true }, device)).params.ChangeManagementState).toBe('Managed');
  });
});

describe('install_profile', () => {
  const eleven = Object.fromEntries(Object.keys(namedRestrictions).map((name) => [name, name === 'forceEncryptedBackup' || name === 'fraudWarning']));

  it("sends the guide's eleven restrictions as an unsigned XML profile (data)", () => {
    const plan = ok(planAction(profileAction({ displayName: 'BYOD restrictions', payloads: [{ kind: 'restrictions', ...eleven }] }), user));
    expect(plan.requestType).toBe('InstallProfile');
    expect(Buffer.isBuffer(plan.params.Payload)).toBe(true);
    expect((plan.params.Payload as Buffer).toString('utf8')).toMatch(/^<\?xml[\s\S]*<plist version="1.0">/);
    expect(plan.notes).toEqual([]);

    const profile = profileOf(plan);
    expect(profile).toMatchObject({ PayloadType: 'Configuration', PayloadVersion: 1, PayloadIdentifier: 'com.tandem.policy.byod-restrictions', PayloadDisplayName: 'BYOD restrictions' });
    expect(profile).not.toHaveProperty('PayloadRemovalDisallowed');
    const [restrictionsPayload] = profile.PayloadContent as Record<string, unknown>[];
    expect(restrictionsPayload).toEqual({
      PayloadType: 'com.apple.applicationaccess',
      PayloadVersion: 1,
      PayloadIdentifier: 'com.tandem.policy.byod-restrictions.restrictions.1',
      PayloadUUID: expect.stringMatching(/^[0-9A-F-]{36}$/),
      PayloadDisplayName: 'Restrictions',
      allowAssistant: false,
      allowAssistantWhileLocked: false,
      allowScreenShot: false,
      allowManagedAppsCloudSync: false,
      allowEnterpriseBookBackup: false,
      safariForceFraudWarning: true,
      allowLockScreenTodayView: false,
      allowLockScreenControlCenter: false,
      allowLockScreenNotificationsView: false,
      forceEncryptedBackup: true,
      allowDiagnosticSubmission: false,
    });
  });

  it('refuses a restriction User Enrollment forbids, naming it', () => {
    expect(restrictions.allowCamera?.userEnrollment).toBe('forbidden');
    const plan = refused(planAction(profileAction({ displayName: 'No camera', payloads: [{ kind: 'restrictions', siri: false, keys: { allowCamera: false } }] }), user));
    expect(plan).toMatchObject({
      code: 'forbidden_key',
      details: { keys: ['allowCamera'], payloadType: 'com.apple.applicationaccess', schema: 'mdm/profiles/com.apple.applicationaccess.yaml' },
    });
    expect(plan.message).toBe(
      'allowCamera (com.apple.applicationaccess) is not available on user-enrolled devices: with User Enrollment the organisation manages only the work data (Apple schema: mdm/profiles/com.apple.applicationaccess.yaml).',
    );
    expect(ok(planAction(profileAction({ displayName: 'No camera', payloads: [{ kind: 'restrictions', keys: { allowCamera: false } }] }), device)).ok).toBe(true);
  });

  it('names every forbidden key of every payload in one refusal', () => {
    const plan = refused(
      planAction(
        profileAction({
          displayName: 'Too much',
          payloads: [
            { kind: 'restrictions', keys: { allowCamera: false, allowCloudBackup: false, allowOpenFromManagedToUnmanaged: false } },
            { kind: 'wifi', ssid: 'Acme', password: 'secret123', disableMacRandomization: true },
          ],
        }),
        user,
      ),
    );
    expect(plan.code).toBe('forbidden_key');
    expect(plan.details.keys).toEqual(['allowCamera', 'allowCloudBackup', 'DisableAssociationMACRandomization']);
    for (const key of plan.details.keys!) expect(plan.message).toContain(key);
    expect(plan.message).not.toContain('allowOpenFromManagedToUnmanaged');
  });

  it('refuses supervised-only restrictions for an unsupervised device-enrolled device', () => {
    const spec = profileAction({ displayName: 'No AirDrop', payloads: [{ kind: 'restrictions', keys: { allowAirDrop: false } }] });
    expect(refused(planAction(spec, device))).toMatchObject({ code: 'supervised_only', details: { keys: ['allowAirDrop'] } });
    expect(ok(planAction(spec, supervised)).ok).toBe(true);
  });

  it('accepts a passcode policy under User Enrollment, noting every key the device ignores', () => {
    const spec = profileAction({ displayName: 'Passcode', payloads: [{ kind: 'passcode', requirePasscode: true, minLength: 10, minComplexChars: 2, maxInactivity: 5 }] });
    const plan = ok(planAction(spec, user));
    expect(plan.notes).toEqual(
      ['forcePIN', 'minLength', 'minComplexChars', 'maxInactivity'].map((key) => ({
        kind: 'ignored_on_user_enrollment',
        key,
        payloadType: 'com.apple.mobiledevice.passwordpolicy',
        message: 'ignored on user-enrolled devices',
      })),
    );
    expect(payloadsOf(plan)[0]).toMatchObject({ forcePIN: true, minLength: 10, minComplexChars: 2, maxInactivity: 5 });
    expect(ok(planAction(spec, device)).notes).toEqual([]);
  });

  it('refuses Wi-Fi proxy settings under User Enrollment and sends them to a device-enrolled device', () => {
    const spec = profileAction({
      displayName: 'Office Wi-Fi',
      payloads: [{ kind: 'wifi', ssid: 'Acme', password: 'secret123', proxy: { type: 'manual', server: 'proxy.acme.example', port: 3128, username: 'u', password: 'p' } }],
    });
    const plan = refused(planAction(spec, user));
    expect(plan).toMatchObject({ code: 'forbidden_key', details: { payloadType: 'com.apple.wifi.managed', schema: 'mdm/profiles/com.apple.wifi.managed.yaml' } });
    expect(plan.details.keys).toEqual(['ProxyType', 'ProxyServer', 'ProxyServerPort', 'ProxyUsername', 'ProxyPassword']);
    expect(plan.message).toMatch(/^ProxyType, ProxyServer, ProxyServerPort, ProxyUsername, ProxyPassword \(com\.apple\.wifi\.managed\) are not available on user-enrolled devices/);
    expect(payloadsOf(planAction(spec, device))[0]).toMatchObject({ ProxyType: 'Manual', ProxyServerPort: 3128 });

    const auto = profileAction({ displayName: 'Auto proxy', payloads: [{ kind: 'wifi', ssid: 'Acme', proxy: { type: 'auto' } }] });
    expect(refused(planAction(auto, user)).details.keys).toEqual(['ProxyType']);
    expect(ok(planAction(profileAction({ displayName: 'Plain', payloads: [{ kind: 'wifi', ssid: 'Acme', password: 'secret123' }] }), user)).ok).toBe(true);
  });

  it('refuses an invalid profile as an invalid action', () => {
    const plan = refused(planAction(profileAction({ displayName: 'Bad', identifier: 'com.tandem.enrollment.x', payloads: [{ kind: 'passcode' }] }), user));
    expect(plan.code).toBe('invalid_action');
    expect(plan.message).toMatch(/profile\.identifier: must not replace an enrollment profile/);
  });
});

describe('raw commands', () => {
  const rawProfile = (payloads: Record<string, unknown>[], extra: Record<string, unknown> = {}) => ({
    PayloadType: 'Configuration',
    PayloadVersion: 1,
    PayloadIdentifier: 'com.acme.raw',
    PayloadUUID: 'A8C0B3E2-5D0F-4E0C-9E1B-2C3D4E5F6A7B',
    PayloadContent: payloads,
    ...extra,
  });
  const payload = (type: string, keys: Record<string, unknown> = {}) => ({
    PayloadType: type,
    PayloadVersion: 1,
    PayloadIdentifier: `com.acme.raw.${type}`,
    PayloadUUID: 'B8C0B3E2-5D0F-4E0C-9E1B-2C3D4E5F6A7B',
    ...keys,
  });

  it('go through as given when the rules allow them', () => {
    expect(ok(planAction({ type: 'raw_command', requestType: 'ManagedApplicationFeedback', params: { Identifiers: ['com.acme.app'] } }, user))).toEqual({
      ok: true,
      requestType: 'ManagedApplicationFeedback',
      params: { Identifiers: ['com.acme.app'] },
      notes: [],
    });
  });

  it('are refused when not MDM commands, or not iOS ones', () => {
    expect(refused(planAction({ type: 'raw_command', requestType: 'MakeCoffee' }, device)).code).toBe('unknown_command');
    expect(refused(planAction({ type: 'raw_command', requestType: 'toString' }, device)).code).toBe('unknown_command');
    expect(refused(planAction({ type: 'raw_command', requestType: 'SetFirmwarePassword' }, device))).toMatchObject({
      code: 'not_on_ios',
      details: { schema: 'mdm/commands/passcode.firmware.set.yaml' },
    });
  });

  it('have their keys checked like named actions', () => {
    expect(refused(planAction({ type: 'raw_command', requestType: 'DeviceInformation', params: { Queries: ['WiFiMAC'] } }, user))).toMatchObject({
      code: 'forbidden_for_user_enrollment',
      details: { keys: ['WiFiMAC'] },
    });
    expect(refused(planAction({ type: 'raw_command', requestType: 'DeviceInformation', params: {} }, user)).code).toBe('invalid_action');
    expect(refused(planAction({ type: 'raw_command', requestType: 'InstallApplication', params: { iTunesStoreID: 1, ChangeManagementState: 'Managed' } }, user)).code).toBe('forbidden_key');
    const settings = { Settings: [{ Item: 'DeviceName', DeviceName: 'Work phone' }, { Item: 'OrganizationInfo', OrganizationInfo: {} }] };
    expect(refused(planAction({ type: 'raw_command', requestType: 'Settings', params: settings }, user))).toMatchObject({
      code: 'forbidden_key',
      details: { schema: 'mdm/commands/settings.yaml', keys: ['Settings.DeviceName'] },
    });
    expect(refused(planAction({ type: 'raw_command', requestType: 'Settings', params: settings }, device)).code).toBe('supervised_only');
    expect(ok(planAction({ type: 'raw_command', requestType: 'Settings', params: settings }, supervised)).params).toEqual(settings);
    expect(ok(planAction({ type: 'raw_command', requestType: 'Settings', params: { Settings: [{ Item: 'OrganizationInfo', OrganizationInfo: {} }] } }, user)).ok).toBe(true);
  });

  it('InstallProfile: the profile, as a dictionary or a base64 XML plist, is checked and sent as data', () => {
    const forbiddenType = refused(planAction({ type: 'raw_command', requestType: 'InstallProfile', params: { Payload: rawProfile([payload('com.apple.vpn.managed')]) } }, user));
    expect(forbiddenType).toMatchObject({ code: 'forbidden_payload', details: { payloadType: 'com.apple.vpn.managed', schema: 'mdm/profiles/com.apple.vpn.managed.yaml' } });
    expect(forbiddenType.message).toMatch(/^com\.apple\.vpn\.managed payloads are not available on user-enrolled devices/);

    const removalDisallowed = rawProfile([payload('com.apple.webClip.managed', { Label: 'x', URL: 'https://x.example' })], { PayloadRemovalDisallowed: true });
    expect(refused(planAction({ type: 'raw_command', requestType: 'InstallProfile', params: { Payload: removalDisallowed } }, user))).toMatchObject({
      code: 'forbidden_key',
      details: { keys: ['PayloadRemovalDisallowed'] },
    });

    const passcode = rawProfile([payload('com.apple.mobiledevice.passwordpolicy', { minLength: 8 })]);
    const base64 = Buffer.from(buildPlist(passcode)).toString('base64');
    const plan = ok(planAction({ type: 'raw_command', requestType: 'InstallProfile', params: { Payload: base64 } }, user));
    expect(plan.notes).toEqual([expect.objectContaining({ key: 'minLength' })]);
    expect(parsePlist(plan.params.Payload as Buffer)).toEqual(passcode);

    expect(refused(planAction({ type: 'raw_command', requestType: 'InstallProfile', params: { Payload: Buffer.from('0\x82signed').toString('base64') } }, user))).toMatchObject({
      code: 'invalid_action',
      details: { keys: ['Payload'] },
    });
    expect(refused(planAction({ type: 'raw_command', requestType: 'InstallProfile', params: { Payload: { PayloadType: 'com.apple.mdm' } } }, user)).code).toBe('invalid_action');
    expect(refused(planAction({ type: 'raw_command', requestType: 'InstallProfile' }, user)).code).toBe('invalid_action');
  });

  it('ClearPasscode takes the UnlockToken on record', () => {
    expect(ok(planAction({ type: 'raw_command', requestType: 'ClearPasscode' }, supervised)).params).toEqual({ UnlockToken: Buffer.from('unlock-token') });
  });
});

describe('adminActionSchema', () => {
  const issues = (body: unknown) => adminActionSchema.safeParse(body).error?.issues ?? [];

  it('lists the action types when the type is unknown', () => {
    expect(issues({ type: 'wipe' })[0]).toMatchObject({ path: ['type'], message: expect.stringMatching(/^type must be one of device_lock, device_information/) });
    expect(issues({})[0]?.message).toMatch(/type must be one of/);
  });

  it('is strict and explains what it expects', () => {
    expect(issues({ type: 'device_lock', mesage: 'typo' })[0]).toMatchObject({ code: 'unrecognized_keys', keys: ['mesage'] });
    expect(issues({ type: 'enable_lost_mode' })[0]?.message).toBe('Lost Mode needs a message or a phoneNumber');
    expect(issues({ type: 'install_application', itunesStoreId: -3 })[0]?.message).toMatch(/App Store ID/);
    expect(issues({ type: 'install_application', itunesStoreId: '361309726' })[0]?.path).toEqual(['itunesStoreId']);
    expect(issues({ type: 'device_lock', pin: '12' })[0]?.message).toBe('six digits');
    expect(issues({ type: 'raw_command', requestType: 'Settings', params: { RequestType: 'EraseDevice' } })[0]?.message).toMatch(/give the RequestType as requestType/);
    expect(issues({ type: 'remove_application', identifier: 'not a bundle id' })[0]?.path).toEqual(['identifier']);
    expect(issues({ type: 'device_information', queries: [] })[0]?.path).toEqual(['queries']);
  });

  it('has a request type for every named action', () => {
    const named = adminActionSchema.options.map((option) => option.shape.type.value).filter((type) => type !== 'raw_command');
    expect(Object.keys(actionRequestTypes).sort()).toEqual([...named].sort());
    for (const requestType of Object.values(actionRequestTypes)) expect(commands[requestType], requestType).toBeDefined();
  });

  it('hand-built invalid actions are refused by planAction as invalid_action', () => {
    const plan = refused(planAction({ type: 'install_application', itunesStoreId: 0 } as AdminAction, user));
    expect(plan.code).toBe('invalid_action');
    expect(plan.message).toMatch(/^The action is not valid: itunesStoreId: /);
  });
});

describe('effectivePasscodePolicy', () => {
  it('under User Enrollment: a 6-character non-simple passcode, whatever was asked', () => {
    const requested = { requirePasscode: false, allowSimple: true, minLength: 12, requireAlphanumeric: true, minComplexChars: 3, maxFailedAttempts: 4 };
    expect(effectivePasscodePolicy('user', requested)).toEqual({
      passcodeRequired: true,
      minLength: 6,
      allowSimple: false,
      requireAlphanumeric: false,
      minComplexChars: 0,
      complexityEnforceable: false,
      autoLockNeverAllowed: true,
      ignored: ['forcePIN', 'allowSimple', 'requireAlphanumeric', 'minLength', 'minComplexChars', 'maxFailedAttempts'],
    });
    for (const key of effectivePasscodePolicy('user', requested).ignored) expect(passcodeKeys[key]).toBe('ignored');
  });

  it('under User Enrollment maxInactivity only removes "Never"; an empty payload still forces a passcode', () => {
    expect(effectivePasscodePolicy('user', { kind: 'passcode', maxInactivity: 5 })).toMatchObject({ autoLockNeverAllowed: false, ignored: ['maxInactivity'] });
    expect(effectivePasscodePolicy('user', {})).toMatchObject({ passcodeRequired: true, minLength: 6, allowSimple: false, ignored: [] });
  });

  it('under Device Enrollment: what was asked', () => {
    expect(effectivePasscodePolicy('device', { requirePasscode: true, minLength: 8, requireAlphanumeric: true, minComplexChars: 1, pinHistory: 3, maxInactivity: 2 })).toEqual({
      passcodeRequired: true,
      minLength: 8,
      allowSimple: true,
      requireAlphanumeric: true,
      minComplexChars: 1,
      pinHistory: 3,
      maxInactivity: 2,
      complexityEnforceable: true,
      autoLockNeverAllowed: false,
      ignored: [],
    });
    expect(effectivePasscodePolicy('device', {})).toMatchObject({ passcodeRequired: false, minLength: 0, allowSimple: true });
  });
});
