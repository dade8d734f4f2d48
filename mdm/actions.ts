/**
 * Admin actions (`POST /api/v1/enrollments/:id/actions`) and the MDM commands they become. Every
 * User Enrollment rule from Apple's schema (capabilities.ts) is applied here, before anything is
 * queued: a refusal names the rule and its schema file so the admin gets a clear 422.
 *
 * Pure: planAction returns the Command dictionary's keys (without RequestType) or a refusal.
 */
import { z } from 'zod';
import {
  checkProfile,
  deviceInformationQueries,
  isCommandAllowed,
  passcodeKeys,
  type CommandRefusalCode,
  type PayloadViolation,
} from './capabilities.js';
import { requiredText } from './text.js';
import { queriesFor } from './device-queries.js';
import { buildProfile, passcodeKeysOf, profileSpecSchema, type PasscodeOptions, type PasscodeSpec } from './payloads.js';
import { buildPlist, parsePlist } from './plist-codec.js';
import { defined, isDict } from './dict.js';

// ---------------------------------------------------------------------------------------------
// The action schema (JSON body, camelCase)

const text = (max: number) => requiredText(max);
const bundleId = z
  .string()
  .max(255)
  .regex(/^[A-Za-z0-9][A-Za-z0-9.-]*$/, { error: 'an app bundle identifier such as com.example.app' });
const bare = <T extends string>(type: T) => z.strictObject({ type: z.literal(type) });

const lockScreen = {
  message: text(500).optional(),
  phoneNumber: text(40).optional(),
};

export const adminActionSchema = z.discriminatedUnion(
  'type',
  [
    z.strictObject({
      type: z.literal('device_lock'),
      ...lockScreen,
      /** macOS only (the PIN that unlocks a locked Mac); planAction refuses it for iPhone and iPad. */
      pin: z.string().regex(/^[0-9]{6}$/, { error: 'six digits' }).optional(),
    }),
    z.strictObject({
      type: z.literal('device_information'),
      /** Default: the queries Tandem asks for this enrollment type (device-queries.ts). */
      queries: z.array(text(100)).min(1).max(100).optional(),
    }),
    bare('security_info'),
    bare('installed_application_list'),
    z.strictObject({ type: z.literal('managed_application_list'), identifiers: z.array(bundleId).min(1).max(500).optional() }),
    bare('profile_list'),
    bare('certificate_list'),
    z.strictObject({
      type: z.literal('install_application'),
      itunesStoreId: z.int().positive({ error: "the app's App Store ID (Adam ID), a positive integer" }),
      /** Take over an app the user already installed (ChangeManagementState); forbidden under UE. */
      manage: z.boolean().optional(),
      /** Remove the app and its data when the device leaves management (default true). */
      removeOnUnenroll: z.boolean().optional(),
      /** Bind the app to a per-app VPN (the per_app_vpn payload's vpnUuid). */
      vpnUuid: z.guid().optional(),
      /**
       * The app's bundle id. With an Apps and Books token configured, Tandem then deploys it like
       * the agent app: a user licence, the install, and the user's approval tracked to the end.
       */
      bundleId: bundleId.optional(),
    }),
    z.strictObject({ type: z.literal('remove_application'), identifier: bundleId }),
    z.strictObject({ type: z.literal('install_profile'), profile: profileSpecSchema }),
    z.strictObject({ type: z.literal('remove_profile'), identifier: text(255) }),
    z.strictObject({
      type: z.literal('raw_command'),
      requestType: z.string().regex(/^[A-Za-z][A-Za-z0-9]*$/, { error: "an MDM RequestType such as DeviceInformation" }),
      params: z
        .record(z.string(), z.unknown())
        .refine((params) => !Object.hasOwn(params, 'RequestType'), { error: 'give the RequestType as requestType, not in params' })
        .optional(),
    }),
    // Device Enrollment only: kept as actions so planAction can tell the admin why UE refuses them.
    z.strictObject({ type: z.literal('erase_device'), preserveDataPlan: z.boolean().optional(), disallowProximitySetup: z.boolean().optional() }),
    z
      .strictObject({ type: z.literal('enable_lost_mode'), ...lockScreen, footnote: text(500).optional() })
      .refine((a) => a.message !== undefined || a.phoneNumber !== undefined, { error: 'Lost Mode needs a message or a phoneNumber', path: ['message'] }),
    bare('disable_lost_mode'),
    bare('activation_lock_bypass_code'),
    bare('clear_activation_lock_bypass'),
    bare('restart_device'),
    bare('shut_down_device'),
    bare('clear_passcode'),
  ],
  {
    error:
      'type must be one of device_lock, device_information, security_info, installed_application_list, managed_application_list, ' +
      'profile_list, certificate_list, install_application, remove_application, install_profile, remove_profile, raw_command, ' +
      'erase_device, enable_lost_mode, disable_lost_mode, activation_lock_bypass_code, clear_activation_lock_bypass, ' +
      'restart_device, shut_down_device, clear_passcode',
  },
);

export type AdminAction = z.infer<typeof adminActionSchema>;
export type AdminActionType = AdminAction['type'];

export const actionRequestTypes = {
  device_lock: 'DeviceLock',
  device_information: 'DeviceInformation',
  security_info: 'SecurityInfo',
  installed_application_list: 'InstalledApplicationList',
  managed_application_list: 'ManagedApplicationList',
  profile_list: 'ProfileList',
  certificate_list: 'CertificateList',
  install_application: 'InstallApplication',
  remove_application: 'RemoveApplication',
  install_profile: 'InstallProfile',
  remove_profile: 'RemoveProfile',
  erase_device: 'EraseDevice',
  enable_lost_mode: 'EnableLostMode',
  disable_lost_mode: 'DisableLostMode',
  activation_lock_bypass_code: 'ActivationLockBypassCode',
  clear_activation_lock_bypass: 'ClearActivationLockBypassCode',
  restart_device: 'RestartDevice',
  shut_down_device: 'ShutDownDevice',
  clear_passcode: 'ClearPasscode',
} as const satisfies Record<Exclude<AdminActionType, 'raw_command'>, string>;

// ---------------------------------------------------------------------------------------------
// Plans

export interface ActionEnrollment {
  kind: 'user' | 'device';
  /** User-enrolled devices are never supervised. */
  supervised: boolean;
  /** The UnlockToken from the device's TokenUpdate (device enrollments); ClearPasscode needs it. */
  unlockToken?: Buffer;
}

export type ActionNote = {
  kind: 'ignored_on_user_enrollment';
  key: string;
  payloadType?: string;
  message: string;
};

export type ActionRefusalCode = CommandRefusalCode | 'forbidden_payload' | 'forbidden_key' | 'invalid_action';

// A type alias, not an interface, so it stays assignable to Record<string, unknown> (error details).
export type ActionRefusalDetails = {
  schema?: string;
  keys?: string[];
  payloadType?: string;
};

export type ActionPlan =
  | { ok: true; requestType: string; params: Record<string, unknown>; notes: ActionNote[] }
  | { ok: false; code: ActionRefusalCode; message: string; details: ActionRefusalDetails };

type Refusal = Extract<ActionPlan, { ok: false }>;
type Params = Record<string, unknown>;
type Built = { params: Params; notes: ActionNote[] } | Refusal;

const refuse = (code: ActionRefusalCode, message: string, details: ActionRefusalDetails = {}): Refusal => ({ ok: false, code, message, details });
const isRefusal = <T extends object>(value: T | Refusal): value is Refusal => 'ok' in value;

const UE_WHY = 'with User Enrollment the organisation manages only the work data';
const IGNORED = 'ignored on user-enrolled devices';

/** How refusals name a command; a raw RequestType not listed is named as itself. */
const commandLabels: Readonly<Record<string, string>> = {
  EraseDevice: 'Erase',
  EnableLostMode: 'Lost Mode',
  DisableLostMode: 'Turning off Lost Mode',
  DeviceLocation: 'Locating the device',
  PlayLostModeSound: 'Playing the Lost Mode sound',
  ActivationLockBypassCode: 'Reading the Activation Lock bypass code',
  ClearActivationLockBypassCode: 'Clearing the Activation Lock bypass code',
  RestartDevice: 'Restart',
  ShutDownDevice: 'Shut down',
  ClearPasscode: 'Clearing the passcode',
  ClearRestrictionsPassword: 'Clearing the restrictions password',
  Restrictions: 'Reading the restrictions',
};

function commandRefusal(requestType: string, code: CommandRefusalCode, fallback: string, schema: string): Refusal {
  const label = (Object.hasOwn(commandLabels, requestType) ? commandLabels[requestType] : undefined) ?? requestType;
  const message =
    code === 'forbidden_for_user_enrollment'
      ? `${label} is not available on user-enrolled devices: ${UE_WHY} (Apple schema: ${schema}).`
      : code === 'supervised_only'
        ? `${label} needs a supervised device, and this device is not supervised (Apple schema: ${schema}).`
        : `${fallback} (Apple schema: ${schema}).`;
  return refuse(code, message, { schema });
}

/**
 * What an action becomes for this enrollment: the Command keys (other than RequestType) and notes,
 * or the reason it cannot be sent. The action is validated again, so hand-built actions are safe too.
 */
export function planAction(action: AdminAction, enrollment: ActionEnrollment): ActionPlan {
  const parsed = adminActionSchema.safeParse(action);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((issue) => (issue.path.length ? `${issue.path.map(String).join('.')}: ` : '') + issue.message);
    return refuse('invalid_action', `The action is not valid: ${issues.join('; ')}`);
  }
  const valid = parsed.data;
  const target: ActionEnrollment = { ...enrollment, supervised: enrollment.kind === 'device' && enrollment.supervised };
  const requestType = valid.type === 'raw_command' ? valid.requestType : actionRequestTypes[valid.type];

  const decision = isCommandAllowed(requestType, target);
  if (!decision.allowed) return commandRefusal(requestType, decision.code, decision.message, decision.schema);

  const built = commandParams(valid, target);
  if (isRefusal(built)) return built;
  const checked = checkParams(requestType, built.params, target);
  if (isRefusal(checked)) return checked;
  return { ok: true, requestType, params: checked.params, notes: [...built.notes, ...checked.notes] };
}

/** The Command keys a named action asks for, before the rules on those keys are checked. */
function commandParams(action: AdminAction, enrollment: ActionEnrollment): Built {
  const ok = (params: Params, notes: ActionNote[] = []): Built => ({ params: defined(params), notes });
  switch (action.type) {
    case 'device_lock':
      return ok({ Message: action.message, PhoneNumber: action.phoneNumber, PIN: action.pin });
    case 'device_information':
      return ok({ Queries: action.queries ?? [...queriesFor(enrollment.kind)] });
    case 'installed_application_list':
      // A user-enrolled device lists managed apps only; asking for exactly that keeps it explicit.
      return ok(enrollment.kind === 'user' ? { ManagedAppsOnly: true } : {});
    case 'managed_application_list':
      return ok({ Identifiers: action.identifiers });
    case 'install_application': {
      const removeOnUnenroll = action.removeOnUnenroll ?? true;
      const notes: ActionNote[] =
        enrollment.kind === 'user' && !removeOnUnenroll
          ? [{ kind: 'ignored_on_user_enrollment', key: 'ManagementFlags', message: `${IGNORED}: managed apps are always removed with the enrollment` }]
          : [];
      return ok(
        {
          iTunesStoreID: action.itunesStoreId,
          // User-based VPP licence: the only way to install an App Store app under User Enrollment
          // (a device-based licence needs the serial number, which UE never reveals).
          Options: { PurchaseMethod: 1 },
          ManagementFlags: removeOnUnenroll ? 1 : undefined,
          ChangeManagementState: action.manage ? 'Managed' : undefined,
          Attributes: action.vpnUuid === undefined ? undefined : { VPNUUID: action.vpnUuid },
        },
        notes,
      );
    }
    case 'remove_application':
      return ok({ Identifier: action.identifier });
    case 'install_profile':
      return ok({ Payload: buildProfile(action.profile) });
    case 'remove_profile':
      return ok({ Identifier: action.identifier });
    case 'raw_command':
      return ok({ ...action.params });
    case 'erase_device':
      return ok({ PreserveDataPlan: action.preserveDataPlan, DisallowProximitySetup: action.disallowProximitySetup });
    case 'enable_lost_mode':
      return ok({ Message: action.message, PhoneNumber: action.phoneNumber, Footnote: action.footnote });
    case 'security_info':
    case 'profile_list':
    case 'certificate_list':
    case 'disable_lost_mode':
    case 'activation_lock_bypass_code':
    case 'clear_activation_lock_bypass':
    case 'restart_device':
    case 'shut_down_device':
    case 'clear_passcode':
      return ok({});
  }
}

// ---------------------------------------------------------------------------------------------
// Key-level rules of commands (named and raw alike)

/**
 * Settings items with a rule of their own (mdm/commands/settings.yaml, iOS 18.1): all of these are
 * forbidden under User Enrollment; `true` marks the ones that also need a supervised device.
 */
const restrictedSettings: Readonly<Record<string, boolean>> = {
  Wallpaper: true,
  Bluetooth: true,
  DeviceName: true,
  TimeZone: true,
  SoftwareUpdateSettings: true,
  AccessibilitySettings: true,
  DataRoaming: false,
  VoiceRoaming: false,
  PersonalHotspot: false,
  MaximumResidentUsers: false,
  SharedDeviceConfiguration: false,
  DiagnosticSubmission: false,
  AppAnalytics: false,
  PasscodeLockGracePeriod: false,
};

function checkParams(requestType: string, params: Params, enrollment: ActionEnrollment): Built {
  const ok: Built = { params, notes: [] };
  switch (requestType) {
    case 'DeviceInformation':
      return checkQueries(params, enrollment);
    case 'DeviceLock':
      return 'PIN' in params
        ? refuse('not_on_ios', 'A PIN for DeviceLock exists only on macOS; iPhone and iPad lock with their own passcode (Apple schema: mdm/commands/device.lock.yaml).', {
            schema: 'mdm/commands/device.lock.yaml',
            keys: ['PIN'],
          })
        : ok;
    case 'InstallApplication':
      return enrollment.kind === 'user' && 'ChangeManagementState' in params
        ? refuse(
            'forbidden_key',
            `Taking over an app the user installed (ChangeManagementState) is not available on user-enrolled devices: ${UE_WHY}, and the user's own apps stay theirs (Apple schema: mdm/commands/application.install.yaml).`,
            { schema: 'mdm/commands/application.install.yaml', keys: ['ChangeManagementState'] },
          )
        : ok;
    case 'Settings':
      return checkSettings(params, enrollment);
    case 'InstallProfile':
      return checkInstallProfile(params, enrollment);
    case 'ClearPasscode': {
      const token = typeof params.UnlockToken === 'string' ? Buffer.from(params.UnlockToken, 'base64') : (params.UnlockToken ?? enrollment.unlockToken);
      return Buffer.isBuffer(token) && token.length > 0
        ? { params: { ...params, UnlockToken: token }, notes: [] }
        : refuse('invalid_action', 'Clearing the passcode needs the UnlockToken the device sent with its TokenUpdate, and none is on record for this device.', {
            schema: 'mdm/commands/passcode.clear.yaml',
            keys: ['UnlockToken'],
          });
    }
    default:
      return ok;
  }
}

function checkSettings(params: Params, enrollment: ActionEnrollment): Built {
  const schema = 'mdm/commands/settings.yaml';
  const items = (Array.isArray(params.Settings) ? params.Settings : [])
    .map((item) => (isDict(item) && typeof item.Item === 'string' ? item.Item : undefined))
    .filter((item): item is string => item !== undefined && Object.hasOwn(restrictedSettings, item));
  const forbidden = enrollment.kind === 'user' ? items : [];
  if (forbidden.length > 0) {
    return refuse('forbidden_key', `${listOf(forbidden)} ${verb(forbidden)} not available on user-enrolled devices: ${UE_WHY} (Apple schema: ${schema}).`, {
      schema,
      keys: forbidden.map((item) => `Settings.${item}`),
    });
  }
  const supervisedOnly = enrollment.supervised ? [] : items.filter((item) => restrictedSettings[item]);
  if (supervisedOnly.length > 0) {
    return refuse('supervised_only', `${listOf(supervisedOnly)} ${verb(supervisedOnly)} for supervised devices only, and this device is not supervised (Apple schema: ${schema}).`, {
      schema,
      keys: supervisedOnly.map((item) => `Settings.${item}`),
    });
  }
  return { params, notes: [] };
}

function checkQueries(params: Params, enrollment: ActionEnrollment): Built {
  const schema = 'mdm/commands/information.device.yaml';
  const queries = params.Queries;
  if (!Array.isArray(queries) || queries.length === 0 || !queries.every((q): q is string => typeof q === 'string')) {
    return refuse('invalid_action', 'DeviceInformation needs Queries: a non-empty list of query names.', { schema, keys: ['Queries'] });
  }
  const unique = [...new Set(queries)];
  const rule = (query: string) => (Object.hasOwn(deviceInformationQueries, query) ? deviceInformationQueries[query] : undefined);
  const unknown = unique.filter((q) => !rule(q));
  if (unknown.length > 0) {
    return refuse('invalid_action', `${listOf(unknown)} ${verb(unknown)} not a DeviceInformation query iOS answers (Apple schema: ${schema}).`, { schema, keys: unknown });
  }
  const forbidden = enrollment.kind === 'user' ? unique.filter((q) => rule(q)?.userEnrollment === 'forbidden') : [];
  if (forbidden.length > 0) {
    return refuse(
      'forbidden_for_user_enrollment',
      `${listOf(forbidden)} ${verb(forbidden)} not available on user-enrolled devices: ${UE_WHY} and cannot read hardware identifiers or personal settings (Apple schema: ${schema}).`,
      { schema, keys: forbidden },
    );
  }
  const supervisedOnly = enrollment.supervised ? [] : unique.filter((q) => rule(q)?.supervisedOnly);
  if (supervisedOnly.length > 0) {
    return refuse('supervised_only', `${listOf(supervisedOnly)} ${verb(supervisedOnly)} answered by supervised devices only, and this device is not supervised (Apple schema: ${schema}).`, {
      schema,
      keys: supervisedOnly,
    });
  }
  return { params: { ...params, Queries: unique }, notes: [] };
}

/**
 * InstallProfile: the Payload (a profile dictionary, or for raw commands a base64 or Buffer unsigned
 * XML plist) is checked with checkProfile and sent as XML plist data.
 */
function checkInstallProfile(params: Params, enrollment: ActionEnrollment): Built {
  const schema = 'mdm/commands/profile.install.yaml';
  const payload = params.Payload;
  let profile: Record<string, unknown>;
  if (Buffer.isBuffer(payload) || typeof payload === 'string') {
    try {
      profile = parsePlist(Buffer.isBuffer(payload) ? payload : Buffer.from(payload, 'base64'));
    } catch (error) {
      return refuse('invalid_action', `InstallProfile's Payload must be an unsigned XML profile so its rules can be checked: ${(error as Error).message}.`, {
        schema,
        keys: ['Payload'],
      });
    }
  } else if (isDict(payload)) {
    profile = payload;
  } else {
    return refuse('invalid_action', 'InstallProfile needs a Payload: the profile (use the install_profile action).', { schema, keys: ['Payload'] });
  }
  if (profile.PayloadType !== 'Configuration' || !Array.isArray(profile.PayloadContent)) {
    return refuse('invalid_action', 'InstallProfile\'s Payload must be a configuration profile (PayloadType "Configuration" with PayloadContent).', {
      schema,
      keys: ['Payload'],
    });
  }
  const judged = judgeProfile(checkProfile(profile, enrollment), enrollment);
  if (isRefusal(judged)) return judged;
  return { params: { ...params, Payload: Buffer.from(buildPlist(profile), 'utf8') }, notes: judged.notes };
}

const payloadRefusalCodes: Record<PayloadViolation['code'], ActionRefusalCode> = {
  forbidden_for_user_enrollment: 'forbidden_payload',
  user_enrollment_only: 'forbidden_payload',
  supervised_only: 'supervised_only',
  not_on_ios: 'not_on_ios',
  unknown_payload_type: 'invalid_action',
  ignored: 'invalid_action', // never blocking
};

/** Turns capability violations into one refusal (payload types first, then keys) or notes. */
function judgeProfile(violations: PayloadViolation[], enrollment: ActionEnrollment): { notes: ActionNote[] } | Refusal {
  const blocking = violations.filter((v) => v.blocking);
  const payloadLevel = blocking.find((v) => v.key === undefined);
  if (payloadLevel) {
    const { code, payloadType, schema } = payloadLevel;
    const message =
      code === 'forbidden_for_user_enrollment'
        ? `${payloadType} payloads are not available on user-enrolled devices: ${UE_WHY} (Apple schema: ${schema}).`
        : code === 'supervised_only'
          ? `${payloadType} payloads need a supervised device, and this device is not supervised (Apple schema: ${schema}).`
          : `${payloadLevel.message} (Apple schema: ${schema}).`;
    return refuse(payloadRefusalCodes[code], message, { schema, payloadType });
  }

  const forbidden = blocking.filter((v) => v.code === 'forbidden_for_user_enrollment' || v.code === 'user_enrollment_only');
  if (forbidden.length > 0) {
    const why = enrollment.kind === 'user' ? `not available on user-enrolled devices: ${UE_WHY}` : 'only for user-enrolled devices';
    return keyRefusal('forbidden_key', forbidden, why);
  }
  const supervisedOnly = blocking.filter((v) => v.code === 'supervised_only');
  if (supervisedOnly.length > 0) return keyRefusal('supervised_only', supervisedOnly, 'for supervised devices only, and this device is not supervised');

  const notes = violations
    .filter((v) => v.code === 'ignored' && v.key !== undefined)
    .map((v): ActionNote => ({ kind: 'ignored_on_user_enrollment', key: v.key!, payloadType: v.payloadType, message: IGNORED }));
  return { notes };
}

/** One refusal naming every offending key, grouped by payload type. */
function keyRefusal(code: ActionRefusalCode, violations: PayloadViolation[], why: string): Refusal {
  const byType = new Map<string, { keys: string[]; schema: string }>();
  for (const v of violations) {
    const group = byType.get(v.payloadType) ?? { keys: [], schema: v.schema };
    if (!group.keys.includes(v.key!)) group.keys.push(v.key!);
    byType.set(v.payloadType, group);
  }
  const keys = [...new Set(violations.map((v) => v.key!))];
  const named = [...byType].map(([type, group]) => `${group.keys.join(', ')} (${type})`).join('; ');
  const schemas = [...new Set([...byType.values()].map((group) => group.schema))].join(', ');
  const first = violations[0]!;
  return refuse(code, `${named} ${verb(keys)} ${why} (Apple schema: ${schemas}).`, {
    schema: first.schema,
    keys,
    ...(byType.size === 1 ? { payloadType: first.payloadType } : {}),
  });
}

// ---------------------------------------------------------------------------------------------
// Passcode policy as the device will enforce it

export type EffectivePasscodePolicy = {
  passcodeRequired: boolean;
  minLength: number;
  allowSimple: boolean;
  requireAlphanumeric: boolean;
  minComplexChars: number;
  maxPINAgeInDays?: number;
  pinHistory?: number;
  maxInactivity?: number;
  maxGracePeriod?: number;
  maxFailedAttempts?: number;
  /** Whether alphanumeric or complex-character rules can be required at all. */
  complexityEnforceable: boolean;
  /** Whether the user can still choose "Never" for Auto-Lock. */
  autoLockNeverAllowed: boolean;
  /** Apple keys of the request the device ignores (forcePIN for requirePasscode). */
  ignored: string[];
};

/**
 * What a device enforces for a requested passcode policy. Under User Enrollment every passcode key
 * is ignored (com.apple.mobiledevice.passwordpolicy.yaml); the payload's presence alone forces a
 * non-simple passcode of at least 6 characters, and maxInactivity only removes the "Never" choice.
 */
export function effectivePasscodePolicy(kind: 'user' | 'device', requested: PasscodeOptions | PasscodeSpec): EffectivePasscodePolicy {
  const autoLockNeverAllowed = requested.maxInactivity === undefined;
  if (kind === 'user') {
    return {
      passcodeRequired: true,
      minLength: 6,
      allowSimple: false,
      requireAlphanumeric: false,
      minComplexChars: 0,
      complexityEnforceable: false,
      autoLockNeverAllowed,
      ignored: Object.keys(passcodeKeysOf(requested)).filter((key) => passcodeKeys[key] === 'ignored'),
    };
  }
  return defined({
    passcodeRequired: requested.requirePasscode ?? false,
    minLength: requested.minLength ?? 0,
    allowSimple: requested.allowSimple ?? true,
    requireAlphanumeric: requested.requireAlphanumeric ?? false,
    minComplexChars: requested.minComplexChars ?? 0,
    maxPINAgeInDays: requested.maxPINAgeInDays,
    pinHistory: requested.pinHistory,
    maxInactivity: requested.maxInactivity,
    maxGracePeriod: requested.maxGracePeriod,
    maxFailedAttempts: requested.maxFailedAttempts,
    complexityEnforceable: true,
    autoLockNeverAllowed,
    ignored: [],
  });
}

// ---------------------------------------------------------------------------------------------
// Helpers

const listOf = (items: string[]) => items.join(', ');
const verb = (items: unknown[]) => (items.length === 1 ? 'is' : 'are');
