/**
 * What Tandem may send to an enrolled iOS device, from the tables generated out of Apple's schema
 * (capabilities.generated.ts, `npm run gen:capabilities`). Pure lookups, no I/O.
 *
 * Every refusal names the schema file it comes from, so an operator can read Apple's own words.
 */
import { isDict } from './dict.js';
import {
  commands,
  deviceInformationQueries,
  nonIosCommands,
  nonIosPayloads,
  payloads,
  restrictions,
  type CommandCapability,
  type KeyCapability,
  type PayloadCapability,
  type UserEnrollmentMode,
} from './capabilities.generated.js';

export {
  commands,
  deviceInformationQueries,
  passcodeKeys,
  payloads,
  restrictions,
  securityInfoForbiddenKeys,
  summary,
} from './capabilities.generated.js';
export type { CommandCapability, KeyCapability, KeyStatus, PayloadCapability, UserEnrollmentMode } from './capabilities.generated.js';

export type EnrollmentKind = 'user' | 'device';

export interface Enrollment {
  kind: EnrollmentKind;
  /** User-enrolled devices are never supervised. */
  supervised: boolean;
}

/** Own properties only: a RequestType such as `toString` must not find Object.prototype. */
function lookup<T>(table: Readonly<Record<string, T>>, name: string): T | undefined {
  return Object.hasOwn(table, name) ? table[name] : undefined;
}

// ---------------------------------------------------------------------------------------------
// Commands

export type CommandRefusalCode = 'forbidden_for_user_enrollment' | 'supervised_only' | 'not_on_ios' | 'unknown_command';

export type CommandDecision =
  | { allowed: true }
  | { allowed: false; code: CommandRefusalCode; message: string; schema: string };

/** The iOS rule for a command, or undefined when it is not an iOS command. */
export function commandRule(requestType: string): CommandCapability | undefined {
  return lookup(commands, requestType);
}

export function isCommandAllowed(requestType: string, enrollment: Enrollment): CommandDecision {
  const refuse = (code: CommandRefusalCode, message: string, schema: string): CommandDecision => ({ allowed: false, code, message, schema });
  const rule = commandRule(requestType);
  if (!rule) {
    const file = lookup(nonIosCommands, requestType);
    return file
      ? refuse('not_on_ios', `${requestType} is not an iOS command`, file)
      : refuse('unknown_command', `${requestType} is not an MDM command in Apple's schema`, 'mdm/commands');
  }
  if (enrollment.kind === 'user' && rule.userEnrollment === 'forbidden') {
    return refuse('forbidden_for_user_enrollment', `${requestType} is forbidden under User Enrollment`, rule.file);
  }
  if (rule.supervisedOnly && !enrollment.supervised) {
    return refuse('supervised_only', `${requestType} needs a supervised device`, rule.file);
  }
  // No iOS command is `required` (User-Enrollment-only) in the schema; `ignored` ones are accepted.
  return { allowed: true };
}

// ---------------------------------------------------------------------------------------------
// Profile payloads

export type PayloadViolationCode =
  | 'forbidden_for_user_enrollment'
  /** `required` mode: only meaningful under User Enrollment, sent to a device-enrolled device. */
  | 'user_enrollment_only'
  | 'supervised_only'
  | 'not_on_ios'
  | 'unknown_payload_type'
  /** Accepted under User Enrollment but without effect: a warning, not an error. */
  | 'ignored';

export interface PayloadViolation {
  code: PayloadViolationCode;
  payloadType: string;
  /** Dotted path of the offending key (array items are transparent); absent for the payload itself. */
  key?: string;
  message: string;
  schema: string;
  /** Whether the device refuses or mishandles it; false for `ignored` and for keys iOS does not know. */
  blocking: boolean;
}

/** The iOS rule for a payload type, or undefined when it is not an iOS payload. */
export function payloadRule(payloadType: string): PayloadCapability | undefined {
  return lookup(payloads, payloadType);
}

type Rule = Pick<KeyCapability, 'userEnrollment' | 'introducedNA'> & { supervisedOnly?: boolean };

/** The first reason a payload or key does not simply apply, if any. */
function judge(rule: Rule, enrollment: Enrollment): PayloadViolationCode | undefined {
  if (rule.introducedNA) return 'not_on_ios';
  const mode: UserEnrollmentMode = rule.userEnrollment;
  if (enrollment.kind === 'user' && mode === 'forbidden') return 'forbidden_for_user_enrollment';
  if (enrollment.kind === 'device' && mode === 'required') return 'user_enrollment_only';
  if (rule.supervisedOnly && !enrollment.supervised) return 'supervised_only';
  if (enrollment.kind === 'user' && mode === 'ignored') return 'ignored';
  return undefined;
}

const WHY: Record<PayloadViolationCode, string> = {
  forbidden_for_user_enrollment: 'is forbidden under User Enrollment',
  user_enrollment_only: 'is only for User Enrollment',
  supervised_only: 'needs a supervised device',
  not_on_ios: 'does not exist on iOS',
  unknown_payload_type: "is not a payload type in Apple's schema",
  ignored: 'is ignored under User Enrollment (accepted, no effect)',
};

function violation(code: PayloadViolationCode, payloadType: string, schema: string, key?: string): PayloadViolation {
  const subject = key === undefined ? payloadType : `${payloadType} key ${key}`;
  const blocking = code !== 'ignored' && !(code === 'not_on_ios' && key !== undefined);
  return { code, payloadType, ...(key === undefined ? {} : { key }), message: `${subject} ${WHY[code]}`, schema, blocking };
}

/** The dictionaries a value holds: itself, or the (nested) items of an array. */
function dictionariesIn(value: unknown): Record<string, unknown>[] {
  if (isDict(value)) return [value];
  return Array.isArray(value) ? value.flatMap(dictionariesIn) : [];
}

/** Checks the keys present in `dict` (at any depth) against a payload's key-level rules. */
function checkKeys(
  dict: Record<string, unknown>,
  rule: PayloadCapability,
  enrollment: Enrollment,
  found: Map<string, PayloadViolation>,
  prefix = '',
  skip: readonly string[] = [],
): void {
  for (const [name, value] of Object.entries(dict)) {
    if (skip.includes(name)) continue;
    const path = prefix ? `${prefix}.${name}` : name;
    const keyRule = lookup(rule.keys, path) ?? lookup(payloads.CommonPayloadKeys?.keys ?? {}, path);
    const code = keyRule && judge(keyRule, enrollment);
    if (code) {
      found.set(`${code} ${path}`, violation(code, rule.payloadType, rule.file, path));
      continue; // what lies under a flagged key shares its fate
    }
    for (const inner of dictionariesIn(value)) checkKeys(inner, rule, enrollment, found, path);
  }
}

/**
 * Checks one PayloadContent item (a dictionary with PayloadType) for an enrollment: the payload
 * type itself, then each key it carries. Keys ignored under User Enrollment come back with code
 * `ignored` and `blocking: false`.
 */
export function checkPayload(payload: Record<string, unknown>, enrollment: Enrollment): PayloadViolation[] {
  const payloadType = payload.PayloadType;
  if (typeof payloadType !== 'string') {
    return [{ ...violation('unknown_payload_type', '(none)', 'mdm/profiles'), message: 'payload has no PayloadType' }];
  }
  const rule = payloadRule(payloadType);
  if (!rule) {
    const file = lookup(nonIosPayloads, payloadType);
    return [file ? violation('not_on_ios', payloadType, file) : violation('unknown_payload_type', payloadType, 'mdm/profiles')];
  }
  const code = judge(rule, enrollment);
  if (code) return [violation(code, payloadType, rule.file)];
  const found = new Map<string, PayloadViolation>();
  checkKeys(payload, rule, enrollment, found);
  return [...found.values()];
}

/** Checks a whole profile: its top-level keys (Apple's `TopLevel` object), then every PayloadContent item. */
export function checkProfile(profile: Record<string, unknown>, enrollment: Enrollment): PayloadViolation[] {
  const topLevel = payloadRule('TopLevel');
  const found = new Map<string, PayloadViolation>();
  if (topLevel) checkKeys(profile, topLevel, enrollment, found, '', ['PayloadContent']);
  const items = Array.isArray(profile.PayloadContent) ? profile.PayloadContent.filter(isDict) : [];
  return [...found.values(), ...items.flatMap((item) => checkPayload(item, enrollment))];
}
