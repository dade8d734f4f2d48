/**
 * Generates mdm/capabilities.generated.ts, the iOS User Enrollment capability tables, from Apple's
 * device-management schema (YAML). `npm run gen:capabilities` runs it on the schema `findSchemaDir`
 * finds (APPLE_SCHEMA_DIR, else ../shared/apple-device-management beside the repo); `--schema <dir>`
 * names another checkout. The generated file is committed: nothing else needs the schema.
 *
 * Schema semantics (apple/device-management docs/schema.md):
 *   - payload.supportedOS.iOS holds the payload-level rules; a key inherits them and overrides
 *     only the fields its own supportedOS.iOS sets (nested keys inherit from their parent key);
 *   - userenrollment.mode is allowed | required | forbidden | ignored;
 *   - `introduced: n/a` means "does not exist on this OS";
 *   - an <array>'s single subkey is a placeholder for its items: it does not appear in key paths,
 *     and a scalar with subkeys lists possible values, not keys.
 *
 * The output is deterministic (sorted map keys, fixed field order, no timestamps) so a test can
 * regenerate it in memory and compare it byte for byte with the committed file.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { isDict } from '../mdm/dict.js';

/** The schema the committed tables were generated from. */
export const APPLE_SCHEMA = {
  repository: 'https://github.com/apple/device-management',
  release: 'Release_iOS-18-1_macOS-15-1',
} as const;

/** Where our own checkouts keep the schema: a `shared` folder beside the repository. */
export const siblingSchemaDir = fileURLToPath(new URL('../../shared/apple-device-management', import.meta.url));

/** How to get the schema, for messages. */
export const howToGetSchema =
  `Check out ${APPLE_SCHEMA.repository} at ${APPLE_SCHEMA.release} ` +
  `(git clone --depth 1 --branch ${APPLE_SCHEMA.release} ${APPLE_SCHEMA.repository}.git) and set ` +
  `APPLE_SCHEMA_DIR to it, or put it at ../shared/apple-device-management beside this repository.`;

export const schemaMissingMessage = `Apple's device-management schema is not here, so the tests that compare with it are skipped. ${howToGetSchema}`;

/**
 * Apple's schema checkout: APPLE_SCHEMA_DIR when set (it must hold mdm/, or this throws: a wrong
 * setting is an error, not a skip), else the sibling folder when present, else undefined.
 */
export function findSchemaDir(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.APPLE_SCHEMA_DIR) {
    const dir = resolve(env.APPLE_SCHEMA_DIR);
    if (!existsSync(join(dir, 'mdm', 'profiles'))) {
      throw new Error(`APPLE_SCHEMA_DIR=${env.APPLE_SCHEMA_DIR} has no mdm/profiles: is it a checkout of ${APPLE_SCHEMA.repository}?`);
    }
    return dir;
  }
  return existsSync(join(siblingSchemaDir, 'mdm', 'profiles')) ? siblingSchemaDir : undefined;
}

export const outputFile = fileURLToPath(new URL('../mdm/capabilities.generated.ts', import.meta.url));

const MODES = ['allowed', 'required', 'forbidden', 'ignored'] as const;
type Mode = (typeof MODES)[number];

// ---------------------------------------------------------------------------------------------
// Reading the schema

interface OsRules {
  introduced?: unknown;
  deprecated?: unknown;
  removed?: unknown;
  supervised?: unknown;
  multiple?: unknown;
  userenrollment?: { mode?: unknown };
}

interface SchemaKey {
  key: string;
  type?: string;
  supportedOS?: { iOS?: OsRules };
  subkeys?: SchemaKey[];
}

interface SchemaDoc {
  payload?: { requesttype?: string; payloadtype?: string; supportedOS?: { iOS?: OsRules } };
  payloadkeys?: SchemaKey[];
  responsekeys?: SchemaKey[];
}

interface SchemaFile {
  /** Relative to the schema root, e.g. mdm/commands/device.erase.yaml. */
  file: string;
  doc: SchemaDoc;
}

function readFolder(schemaDir: string, folder: 'commands' | 'profiles'): SchemaFile[] {
  const dir = join(schemaDir, 'mdm', folder);
  if (!existsSync(dir)) throw new Error(`no ${dir}: is ${schemaDir} a checkout of apple/device-management?`);
  return readdirSync(dir)
    .filter((name) => name.endsWith('.yaml'))
    .sort(compare)
    .map((name) => ({ file: `mdm/${folder}/${name}`, doc: parseYaml(readFileSync(join(dir, name), 'utf8')) as SchemaDoc }));
}

/** Code-unit order: independent of the machine's locale. */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A key's own iOS rules laid over the ones it inherits. */
function inherit(parent: OsRules, own: OsRules | undefined): OsRules {
  if (!own) return parent;
  return { ...parent, ...own, userenrollment: { ...parent.userenrollment, ...own.userenrollment } };
}

function isNA(rules: OsRules): boolean {
  return rules.introduced === 'n/a';
}

function modeOf(rules: OsRules, where: string): Mode {
  const mode = rules.userenrollment?.mode;
  if (!MODES.includes(mode as Mode)) throw new Error(`${where}: iOS userenrollment.mode is ${String(mode)}`);
  return mode as Mode;
}

/** Versions must be quoted in the YAML: an unquoted 4.0 would already have become the number 4. */
function version(value: unknown, where: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new Error(`${where}: version ${String(value)} is not a string`);
  return value;
}

interface WalkedKey {
  path: string;
  rules: OsRules;
  /** The array-item placeholder: shares its array's path. */
  placeholder: boolean;
}

/**
 * Every key under `keys` with its effective iOS rules and dotted path. Subtrees that do not
 * exist on iOS are yielded once (their root) and not entered. Guards against the recursive
 * YAML aliases some payloads use (com.apple.homescreenlayout's folders hold pages of folders).
 */
function* walkKeys(keys: SchemaKey[] | undefined, parent: OsRules, prefix = '', inArray = false, open = new Set<SchemaKey[]>()): Generator<WalkedKey> {
  if (!keys || open.has(keys)) return;
  const inside = new Set(open).add(keys);
  for (const key of keys) {
    const rules = inherit(parent, key.supportedOS?.iOS);
    const path = inArray ? prefix : prefix ? `${prefix}.${key.key}` : key.key;
    yield { path, rules, placeholder: inArray };
    if (isNA(rules)) continue;
    // Only containers hold keys; a scalar's subkeys enumerate its possible values.
    if (key.type === '<array>' || key.type === '<dictionary>') yield* walkKeys(key.subkeys, rules, path, key.type === '<array>', inside);
  }
}

// ---------------------------------------------------------------------------------------------
// Building the tables

interface CommandRow {
  requestType: string;
  file: string;
  userEnrollment: Mode;
  supervisedOnly: boolean;
  introduced: string;
  deprecated?: string;
  removed?: string;
}

interface KeyRow {
  userEnrollment: Mode;
  supervisedOnly?: true;
  introducedNA?: true;
}

interface PayloadRow {
  payloadType: string;
  file: string;
  userEnrollment: Mode;
  supervisedOnly: boolean;
  multiple?: boolean;
  introduced: string;
  deprecated?: string;
  removed?: string;
  variants?: string[];
  keys: Record<string, KeyRow>;
}

interface RestrictionRow {
  userEnrollment: Mode;
  supervisedOnly: boolean;
  deprecated?: string;
  removed?: string;
}

type QueryRow = RestrictionRow;

/** The payload-level iOS rules, or undefined when the item is not an iOS feature. */
function iosRules(doc: SchemaDoc): OsRules | undefined {
  const ios = doc.payload?.supportedOS?.iOS;
  return ios && !isNA(ios) ? ios : undefined;
}

function versions(rules: OsRules, where: string): { introduced: string; deprecated?: string; removed?: string } {
  const introduced = version(rules.introduced, where);
  if (introduced === undefined) throw new Error(`${where}: iOS block without 'introduced'`);
  return withDefined({ introduced, deprecated: version(rules.deprecated, where), removed: version(rules.removed, where) });
}

function withDefined<T extends object>(row: T): T {
  return Object.fromEntries(Object.entries(row).filter(([, v]) => v !== undefined)) as T;
}

function buildCommands(files: SchemaFile[]) {
  const commands: Record<string, CommandRow> = {};
  const notOnIos: Record<string, string> = {};
  for (const { file, doc } of files) {
    const requestType = doc.payload?.requesttype;
    if (!requestType) throw new Error(`${file}: no payload.requesttype`);
    if (Object.hasOwn(commands, requestType) || Object.hasOwn(notOnIos, requestType)) throw new Error(`${file}: RequestType ${requestType} declared twice`);
    const ios = iosRules(doc);
    if (!ios) {
      notOnIos[requestType] = file;
      continue;
    }
    commands[requestType] = {
      requestType,
      file,
      userEnrollment: modeOf(ios, file),
      supervisedOnly: ios.supervised === true,
      ...versions(ios, file),
    };
  }
  return { commands, notOnIos };
}

/**
 * Key-level User Enrollment rules of one payload: keys whose effective mode differs from the
 * payload's, keys that are supervised-only where the payload is not, and keys absent from iOS.
 */
function keyOverrides(doc: SchemaDoc, payload: OsRules, file: string): Record<string, KeyRow> {
  const payloadMode = modeOf(payload, file);
  const rows: Record<string, KeyRow> = {};
  for (const { path, rules, placeholder } of walkKeys(doc.payloadkeys, payload)) {
    // An array item's rules only matter when its array has none of its own.
    if (placeholder && Object.hasOwn(rows, path)) continue;
    const mode = modeOf(rules, `${file} ${path}`);
    const supervisedOnly = rules.supervised === true && payload.supervised !== true;
    const na = isNA(rules);
    if (mode === payloadMode && !supervisedOnly && !na) continue;
    rows[path] = withDefined({
      userEnrollment: mode,
      supervisedOnly: supervisedOnly ? (true as const) : undefined,
      introducedNA: na ? (true as const) : undefined,
    });
  }
  return rows;
}

function buildPayloads(files: SchemaFile[]) {
  const byType = new Map<string, SchemaFile[]>();
  const notOnIos: Record<string, string> = {};
  for (const entry of files) {
    const payloadType = entry.doc.payload?.payloadtype;
    if (!payloadType) throw new Error(`${entry.file}: no payload.payloadtype`);
    if (!iosRules(entry.doc)) {
      notOnIos[payloadType] ??= entry.file;
      continue;
    }
    byType.set(payloadType, [...(byType.get(payloadType) ?? []), entry]);
  }
  const payloads: Record<string, PayloadRow> = {};
  for (const [payloadType, entries] of byType) {
    // Some types have specialised variants (com.apple.extensiblesso(kerberos).yaml): the file named
    // after the type describes it; the variants must agree with it at the payload level.
    const primary = entries.find((e) => basename(e.file) === `${payloadType}.yaml`) ?? entries[0]!;
    const ios = iosRules(primary.doc)!;
    const variants = entries.filter((e) => e !== primary);
    for (const variant of variants) {
      const v = iosRules(variant.doc)!;
      if (modeOf(v, variant.file) !== modeOf(ios, primary.file) || v.supervised !== ios.supervised) {
        throw new Error(`${variant.file}: payload-level iOS rules differ from ${primary.file}`);
      }
    }
    const row: PayloadRow = withDefined({
      payloadType,
      file: primary.file,
      userEnrollment: modeOf(ios, primary.file),
      supervisedOnly: ios.supervised === true,
      multiple: typeof ios.multiple === 'boolean' ? ios.multiple : undefined,
      ...versions(ios, primary.file),
      variants: variants.length > 0 ? variants.map((v) => v.file) : undefined,
      keys: keyOverrides(primary.doc, ios, primary.file),
    });
    payloads[payloadType] = row;
  }
  return { payloads, notOnIos };
}

function find(files: SchemaFile[], file: string): SchemaFile {
  const found = files.find((f) => f.file === file);
  if (!found) throw new Error(`schema has no ${file}`);
  return found;
}

/** Top-level iOS keys of a payload or command, with their effective rules. */
function topLevelKeys(entry: SchemaFile): Map<string, OsRules> {
  const ios = iosRules(entry.doc);
  if (!ios) throw new Error(`${entry.file}: not an iOS item`);
  const keys = new Map<string, OsRules>();
  for (const key of entry.doc.payloadkeys ?? []) {
    const rules = inherit(ios, key.supportedOS?.iOS);
    if (!isNA(rules)) keys.set(key.key, rules);
  }
  return keys;
}

function statusRow(rules: OsRules, where: string): RestrictionRow {
  return withDefined({
    userEnrollment: modeOf(rules, where),
    supervisedOnly: rules.supervised === true,
    deprecated: version(rules.deprecated, where),
    removed: version(rules.removed, where),
  });
}

function buildRestrictions(profiles: SchemaFile[]): Record<string, RestrictionRow> {
  const entry = find(profiles, 'mdm/profiles/com.apple.applicationaccess.yaml');
  const rows: Record<string, RestrictionRow> = {};
  for (const [key, rules] of topLevelKeys(entry)) rows[key] = statusRow(rules, `${entry.file} ${key}`);
  return rows;
}

function buildPasscodeKeys(profiles: SchemaFile[]): Record<string, Mode> {
  const entry = find(profiles, 'mdm/profiles/com.apple.mobiledevice.passwordpolicy.yaml');
  const rows: Record<string, Mode> = {};
  for (const [key, rules] of topLevelKeys(entry)) rows[key] = modeOf(rules, `${entry.file} ${key}`);
  return rows;
}

/** Queries is an array of strings whose possible values are listed as the item's subkeys. */
function buildDeviceInformationQueries(commands: SchemaFile[]): Record<string, QueryRow> {
  const entry = find(commands, 'mdm/commands/information.device.yaml');
  const ios = iosRules(entry.doc)!;
  const queries = entry.doc.payloadkeys?.find((k) => k.key === 'Queries');
  const item = queries?.subkeys?.[0];
  if (!queries || !item?.subkeys) throw new Error(`${entry.file}: no Queries item values`);
  const itemRules = inherit(inherit(ios, queries.supportedOS?.iOS), item.supportedOS?.iOS);
  const rows: Record<string, QueryRow> = {};
  for (const query of item.subkeys) {
    const rules = inherit(itemRules, query.supportedOS?.iOS);
    if (!isNA(rules)) rows[query.key] = statusRow(rules, `${entry.file} ${query.key}`);
  }
  return rows;
}

/** Response keys of SecurityInfo the device withholds under User Enrollment (dotted paths). */
function buildSecurityInfoForbiddenKeys(commands: SchemaFile[]): string[] {
  const entry = find(commands, 'mdm/commands/information.security.yaml');
  const ios = iosRules(entry.doc)!;
  const forbidden = new Set<string>();
  for (const { path, rules } of walkKeys(entry.doc.responsekeys, ios)) {
    if (!isNA(rules) && modeOf(rules, `${entry.file} ${path}`) === 'forbidden') forbidden.add(path);
  }
  return [...forbidden].sort(compare);
}

function countModes(modes: Mode[]): Record<Mode, number> {
  const counts = { allowed: 0, required: 0, forbidden: 0, ignored: 0 };
  for (const mode of modes) counts[mode] += 1;
  return counts;
}

/** Refuses a checkout whose SOURCE.md (as our shared folder has) names another release than APPLE_SCHEMA's. */
function checkSchemaRelease(schemaDir: string): void {
  const source = join(schemaDir, 'SOURCE.md');
  if (!existsSync(source)) return;
  const release = /Release_[A-Za-z0-9._-]+/.exec(readFileSync(source, 'utf8'))?.[0];
  if (release && release !== APPLE_SCHEMA.release) {
    throw new Error(`${schemaDir} is ${release}, the tables are generated from ${APPLE_SCHEMA.release}: update APPLE_SCHEMA.release in scripts/gen-capabilities.ts`);
  }
}

// ---------------------------------------------------------------------------------------------
// Emitting TypeScript

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

function literal(value: unknown): string {
  if (typeof value === 'string') return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  throw new Error(`cannot emit ${typeof value}`);
}

function propertyName(name: string): string {
  return IDENTIFIER.test(name) ? name : literal(name);
}

/**
 * Maps (by RequestType, PayloadType, key…) are sorted and spread over lines; rows (records with a
 * `userEnrollment` mode) keep their field order on one line, so a diff shows one line per change.
 */
function emit(value: unknown, indent = ''): string {
  const inner = indent + '  ';
  if (Array.isArray(value)) {
    return value.length === 0 ? '[]' : `[\n${value.map((v) => `${inner}${emit(v, inner)},\n`).join('')}${indent}]`;
  }
  if (!isDict(value)) return literal(value);
  const entries = Object.entries(value);
  if (isRow(value) && entries.every(([, v]) => !isDict(v) && !Array.isArray(v))) {
    return `{ ${entries.map(([k, v]) => `${propertyName(k)}: ${literal(v)}`).join(', ')} }`;
  }
  if (!isRow(value)) entries.sort(([a], [b]) => compare(a, b));
  if (entries.length === 0) return '{}';
  return `{\n${entries.map(([k, v]) => `${inner}${propertyName(k)}: ${emit(v, inner)},\n`).join('')}${indent}}`;
}

function isRow(value: Record<string, unknown>): boolean {
  return typeof value.userEnrollment === 'string';
}

const TYPES = `export type UserEnrollmentMode = 'allowed' | 'required' | 'forbidden' | 'ignored';

export interface CommandCapability {
  requestType: string;
  file: \`mdm/commands/\${string}.yaml\`;
  userEnrollment: UserEnrollmentMode;
  supervisedOnly: boolean;
  introduced: string;
  deprecated?: string;
  removed?: string;
}

/** A key's User Enrollment rule where it departs from its payload's (dotted path, array items transparent). */
export interface KeyCapability {
  userEnrollment: UserEnrollmentMode;
  supervisedOnly?: true;
  /** The key does not exist on iOS. */
  introducedNA?: true;
}

export interface PayloadCapability {
  payloadType: string;
  file: \`mdm/profiles/\${string}.yaml\`;
  userEnrollment: UserEnrollmentMode;
  supervisedOnly: boolean;
  multiple?: boolean;
  introduced: string;
  deprecated?: string;
  removed?: string;
  /** Other schema files describing specialised forms of the same PayloadType. */
  variants?: string[];
  keys: Record<string, KeyCapability>;
}

export interface KeyStatus {
  userEnrollment: UserEnrollmentMode;
  supervisedOnly: boolean;
  deprecated?: string;
  removed?: string;
}
`;

export function generate(schemaDir: string): string {
  const commandFiles = readFolder(schemaDir, 'commands');
  const profileFiles = readFolder(schemaDir, 'profiles');
  const { commands, notOnIos: nonIosCommands } = buildCommands(commandFiles);
  const { payloads, notOnIos: nonIosPayloads } = buildPayloads(profileFiles);
  const restrictions = buildRestrictions(profileFiles);
  const passcodeKeys = buildPasscodeKeys(profileFiles);
  const deviceInformationQueries = buildDeviceInformationQueries(commandFiles);
  const securityInfoForbiddenKeys = buildSecurityInfoForbiddenKeys(commandFiles);

  const restrictionModes = countModes(Object.values(restrictions).map((r) => r.userEnrollment));
  const summary = {
    commands: { total: Object.keys(commands).length, ...countModes(Object.values(commands).map((c) => c.userEnrollment)), notOnIos: Object.keys(nonIosCommands).length },
    payloads: { total: Object.keys(payloads).length, ...countModes(Object.values(payloads).map((p) => p.userEnrollment)), notOnIos: Object.keys(nonIosPayloads).length },
    restrictions: { total: Object.keys(restrictions).length, usableUnderUserEnrollment: restrictionModes.allowed + restrictionModes.required, ...restrictionModes },
    passcodeKeys: { total: Object.keys(passcodeKeys).length, ...countModes(Object.values(passcodeKeys)) },
    deviceInformationQueries: { total: Object.keys(deviceInformationQueries).length, ...countModes(Object.values(deviceInformationQueries).map((q) => q.userEnrollment)) },
    securityInfoForbiddenKeys: securityInfoForbiddenKeys.length,
  };

  checkSchemaRelease(schemaDir);
  const constant = (name: string, type: string, value: unknown, doc: string) =>
    `/** ${doc} */\nexport const ${name}: ${type} = ${emit(value)};\n`;
  return [
    `// GENERATED FILE: do not edit by hand. Run \`npm run gen:capabilities\` (scripts/gen-capabilities.ts).\n` +
      `// Source: Apple's device-management schema, ${APPLE_SCHEMA.repository} at ${APPLE_SCHEMA.release},\n` +
      `// its mdm/commands and mdm/profiles. iOS rules only; User Enrollment modes are effective\n` +
      `// (a key inherits its payload's or parent key's mode unless it sets its own).\n`,
    TYPES,
    constant('commands', 'Readonly<Record<string, CommandCapability>>', commands, 'iOS MDM commands by RequestType.'),
    constant('nonIosCommands', 'Readonly<Record<string, string>>', nonIosCommands, 'Commands the schema has with no iOS support: RequestType → schema file.'),
    constant('payloads', 'Readonly<Record<string, PayloadCapability>>', payloads, 'iOS profile payloads by PayloadType, with their key-level departures.'),
    constant('nonIosPayloads', 'Readonly<Record<string, string>>', nonIosPayloads, 'Payload types the schema has with no iOS support: PayloadType → (first) schema file.'),
    constant('restrictions', 'Readonly<Record<string, KeyStatus>>', restrictions, 'Every iOS key of com.apple.applicationaccess (Restrictions).'),
    constant('passcodeKeys', 'Readonly<Record<string, UserEnrollmentMode>>', passcodeKeys, 'Every iOS key of com.apple.mobiledevice.passwordpolicy.'),
    constant('deviceInformationQueries', 'Readonly<Record<string, KeyStatus>>', deviceInformationQueries, 'Every iOS DeviceInformation query (mdm/commands/information.device.yaml).'),
    constant('securityInfoForbiddenKeys', 'readonly string[]', securityInfoForbiddenKeys, 'SecurityInfo response keys a user-enrolled device withholds (mdm/commands/information.security.yaml).'),
    `/** Counts over the tables above. */\nexport const summary = ${emit(summary)} as const;\n`,
  ].join('\n');
}

function parseArgs(argv: string[]): { schemaDir: string } {
  let schemaDir: string | undefined;
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    if (arg === '--schema' && argv[i + 1]) schemaDir = argv[++i]!;
    else if (arg?.startsWith('--schema=')) schemaDir = arg.slice('--schema='.length);
    else throw new Error(`unknown argument ${arg}; usage: gen-capabilities [--schema <dir>]`);
  }
  schemaDir ??= findSchemaDir();
  if (!schemaDir) throw new Error(`no schema to read. ${howToGetSchema}`);
  return { schemaDir };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  try {
    const { schemaDir } = parseArgs(process.argv.slice(2));
    writeFileSync(outputFile, generate(schemaDir));
    console.log(`wrote ${outputFile} from ${schemaDir}`);
  } catch (error) {
    console.error(`gen-capabilities: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  }
}
