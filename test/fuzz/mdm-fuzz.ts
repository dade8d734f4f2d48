/**
 * Generators, oracle and counterexample fixtures for fuzzing the MDM device endpoints
 * (`PUT /mdm/checkin`, `PUT /mdm/connect`) of a really enrolled (simulated) device. Used by
 * device-endpoints.test.ts; no test of its own.
 *
 * A generated request is a value (endpoint, content type, body bytes, how to sign them); the
 * `Mdm-Signature` is computed when it is sent, over the exact bytes sent, so a saved
 * counterexample replays against a later run's device (see test/fixtures/fuzz/README.md).
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import fc from 'fast-check';
import type { CertificateAndKey } from '../../mdm/certificates.js';
import { signMdmMessage } from '../../mdm/mdm-signature.js';
import { buildPlist, parsePlist } from '../../mdm/plist-codec.js';

export const CHECKIN_TYPE = 'application/x-apple-aspen-mdm-checkin';
export const COMMAND_TYPE = 'application/x-apple-aspen-mdm';
/** The endpoints' body limits (api/device/mdm.ts). */
export const LIMITS = { checkin: 64 * 1024, connect: 4 * 1024 * 1024 } as const;

export type Endpoint = 'checkin' | 'connect';

/** How the request is signed; computed at send time over the exact bytes sent. */
export type SignatureMode =
  /** signMdmMessage(body, the device identity): a correct signature */
  | { kind: 'device' }
  /** no Mdm-Signature header */
  | { kind: 'none' }
  /** a literal header value */
  | { kind: 'literal'; value: string }
  /** a correct CMS signature, by an identity Tandem's CA never issued */
  | { kind: 'rogue' }
  /** the device's signature over other bytes (the body with one byte changed, or another message) */
  | { kind: 'other-bytes'; at: number }
  /** the device's signature, cut short */
  | { kind: 'truncated'; keep: number };

export interface FuzzRequest {
  endpoint: Endpoint;
  /** '' sends no Content-Type */
  contentType: string;
  body: Buffer;
  signature: SignatureMode;
  /** which generator made it, for statistics and fixtures */
  label: string;
  /** a command of this type is queued and sent (awaiting its result) when the request is made */
  pending?: PendingType;
}

export type PendingType = 'DeviceInformation' | 'SecurityInfo' | 'DeviceLock';

/** What the fuzzer knows about the enrolled device it aims at. */
export interface DeviceContext {
  enrollmentId: string;
  topic: string;
  pushToken: Buffer;
  pushMagic: string;
  /** CommandUUIDs of commands the device has already answered */
  answeredCommands: string[];
  osVersion: string;
  productName: string;
  /** the CommandUUID the fuzzer gives the command it queues for requests with `pending` */
  pendingCommandUuid: string;
}

export interface Signers {
  device: CertificateAndKey;
  rogue: CertificateAndKey;
}

// ---------------------------------------------------------------------------------------------
// Sending

/** The headers other than Mdm-Signature. */
export function plainHeaders(req: FuzzRequest): Record<string, string> {
  const headers: Record<string, string> = { 'user-agent': 'MDM/1.0' };
  if (req.contentType !== '') headers['content-type'] = req.contentType;
  return headers;
}

export function headersFor(req: FuzzRequest, signers: Signers): Record<string, string> {
  const headers = plainHeaders(req);
  const signature = signatureFor(req, signers);
  if (signature !== undefined) headers['mdm-signature'] = signature;
  return headers;
}

function signatureFor(req: FuzzRequest, signers: Signers): string | undefined {
  const s = req.signature;
  switch (s.kind) {
    case 'device':
      return signMdmMessage(req.body, signers.device);
    case 'none':
      return undefined;
    case 'literal':
      return s.value;
    case 'rogue':
      return signMdmMessage(req.body, signers.rogue);
    case 'other-bytes': {
      const other = Buffer.from(req.body);
      if (other.length === 0) return signMdmMessage(Buffer.from('<plist version="1.0"><dict/></plist>'), signers.device);
      const at = s.at % other.length;
      other[at] = other[at]! ^ 0x01;
      return signMdmMessage(other, signers.device);
    }
    case 'truncated': {
      const full = signMdmMessage(req.body, signers.device);
      const cut = Math.max(0, Math.min(full.length - 4, Math.floor((full.length * s.keep) / 100)));
      return full.slice(0, cut - (cut % 4));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The oracle: what the protocol says about a request, decided before it is sent. Whether a body
// parses is the plist codec's call (mdm/plist-codec.ts, unit-tested on its own); the rest is the
// protocol's rules as api/device/mdm.ts documents them.

export type Verdict =
  /** must be refused (4xx) and change nothing */
  | { accept: false; why: string }
  /** must be answered 200 and may change only what `Allowed` says */
  | ({ accept: true; why: string } & Allowed)
  /** a valid CheckOut: it ends the enrollment, so the fuzzer never sends one correctly signed */
  | { accept: 'skip'; why: string };

export interface Allowed {
  /** columns of the device row the message may change (last_seen_at and updated_at always may) */
  mayChange: readonly string[];
  /** the genuine Authenticate and TokenUpdate are sent afterwards to undo the change */
  restore: boolean;
  /**
   * what may happen to the pending command: 'resend' (served again: sent_at), 'answer' (its result
   * is stored, with this queue status)
   */
  pending?: { may: 'resend' } | { may: 'answer'; status: 'acknowledged' | 'not_now' | 'error' };
}

const AUTHENTICATE_COLUMNS = ['topic', 'os_version', 'build_version', 'product_name', 'model', 'model_name', 'apple_enrollment_id'] as const;
const TOKEN_UPDATE_COLUMNS = ['push_token_sealed', 'push_magic_sealed', 'topic'] as const;
const STATUSES = ['Idle', 'Acknowledged', 'Error', 'CommandFormatError', 'NotNow'];

/**
 * The request as the protocol judges it, for a user-enrolled device whose answered commands stay
 * answered; with `pending`, one command awaits its result.
 */
export function verdict(req: FuzzRequest, ctx: DeviceContext): Verdict {
  const type = req.endpoint === 'checkin' ? CHECKIN_TYPE : COMMAND_TYPE;
  if (!req.contentType.startsWith(type)) return { accept: false, why: 'wrong content type' };
  if (req.body.length > LIMITS[req.endpoint]) return { accept: false, why: 'body too large' };
  if (req.signature.kind !== 'device') return { accept: false, why: `signature: ${req.signature.kind}` };
  let m: Record<string, unknown>;
  try {
    m = parsePlist(req.body);
  } catch (err) {
    return { accept: false, why: `not a plist the codec accepts: ${err instanceof Error ? err.message : String(err)}` };
  }
  if (typeof m.EnrollmentID !== 'string' || m.EnrollmentID === '') return { accept: false, why: 'no EnrollmentID' };
  // The device is bound: every message, Authenticate included, must repeat the EnrollmentID it authenticated with.
  if (m.EnrollmentID !== ctx.enrollmentId) return { accept: false, why: 'EnrollmentID differs from the authenticated one' };
  if (req.endpoint === 'checkin') {
    switch (m.MessageType) {
      case 'Authenticate':
        return { accept: true, why: 'Authenticate', mayChange: AUTHENTICATE_COLUMNS, restore: true };
      case 'TokenUpdate':
        return Buffer.isBuffer(m.Token) && typeof m.PushMagic === 'string'
          ? { accept: true, why: 'TokenUpdate', mayChange: TOKEN_UPDATE_COLUMNS, restore: true }
          : { accept: false, why: 'TokenUpdate without Token (data) and PushMagic (string)' };
      case 'CheckOut':
        return { accept: 'skip', why: 'a signed CheckOut ends the enrollment' };
      default:
        return { accept: false, why: `MessageType ${JSON.stringify(m.MessageType ?? null)}` };
    }
  }
  if (typeof m.Status !== 'string' || !STATUSES.includes(m.Status)) return { accept: false, why: 'invalid Status' };
  if (m.Status !== 'Idle' && typeof m.CommandUUID !== 'string') return { accept: false, why: 'a result without CommandUUID' };
  if (!req.pending) return { accept: true, why: `report ${m.Status}`, mayChange: [], restore: false };
  if (m.Status === 'Idle' || m.CommandUUID !== ctx.pendingCommandUuid) return { accept: true, why: `report ${m.Status}`, mayChange: [], restore: false, pending: { may: 'resend' } };
  const status = m.Status === 'Acknowledged' ? 'acknowledged' : m.Status === 'NotNow' ? 'not_now' : 'error';
  // An acknowledged DeviceInformation or SecurityInfo stores its answer as the device's facts.
  const facts = m.Status === 'Acknowledged' && (req.pending === 'DeviceInformation' || req.pending === 'SecurityInfo');
  return { accept: true, why: `result ${m.Status} for the pending ${req.pending}`, mayChange: facts ? ['facts'] : [], restore: false, pending: { may: 'answer', status } };
}

export interface KnownBug {
  id: string;
  description: string;
  /** whether the request (with its verdict) hits the bug */
  matches: (req: FuzzRequest, v: Verdict) => boolean;
}

/**
 * Known server bugs the properties step around by default (FUZZ_INCLUDE_KNOWN_BUGS=1 lifts it),
 * so they keep guarding everything else while a bug waits for its fix; each has a fixture carrying
 * `knownBug`, whose replay is an expected failure. Empty while the server has none: the two the
 * fuzzer found (U+0000 and unpaired surrogates from character references reaching PostgreSQL,
 * 500) are fixed, and their fixtures (`fixedBug`) now replay as regression tests.
 */
export const KNOWN_BUGS: KnownBug[] = [];

// ---------------------------------------------------------------------------------------------
// Plist values and a serializer that can also write what buildPlist refuses to

/** A plist value; numbers that are integers are written as <integer>. */
export type PV = string | number | boolean | Buffer | Date | PV[] | { [key: string]: PV };

const XML_INVALID = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu;
export const xmlSafe = (s: string) => s.replace(XML_INVALID, '');

/** How strings are written: escaped as XML wants, or with invalid characters as raw bytes. */
export type CharStyle = 'references' | 'raw';

function escapeText(s: string, style: CharStyle): string {
  const escaped = s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  return style === 'raw' ? escaped : escaped.replace(XML_INVALID, (c) => `&#x${c.codePointAt(0)!.toString(16).toUpperCase()};`);
}

function valueXml(v: PV, style: CharStyle): string {
  if (typeof v === 'string') return `<string>${escapeText(v, style)}</string>`;
  if (typeof v === 'number') return Number.isInteger(v) ? `<integer>${v}</integer>` : `<real>${v}</real>`;
  if (typeof v === 'boolean') return v ? '<true/>' : '<false/>';
  if (Buffer.isBuffer(v)) return `<data>${v.toString('base64')}</data>`;
  if (v instanceof Date) return `<date>${v.toISOString().replace(/\.\d{3}Z$/, 'Z')}</date>`;
  if (Array.isArray(v)) return `<array>${v.map((x) => valueXml(x, style)).join('')}</array>`;
  return `<dict>${Object.entries(v)
    .map(([k, x]) => `<key>${escapeText(k, style)}</key>${valueXml(x, style)}`)
    .join('')}</dict>`;
}

const PROLOGUE = '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">\n';

/** A top-level dict from ordered entries (keys may repeat). */
export function entriesXml(entries: [string, PV][], style: CharStyle): string {
  return `${PROLOGUE}<plist version="1.0"><dict>${entries.map(([k, v]) => `<key>${escapeText(k, style)}</key>${valueXml(v, style)}`).join('')}</dict></plist>\n`;
}

// ---------------------------------------------------------------------------------------------
// Arbitraries

const uuidish = fc.uuid().map((u) => u.toUpperCase());

/** Strings buildPlist accepts, with a bias to markup and to the protocol's own words. */
const plistString = fc.oneof(
  { weight: 4, arbitrary: fc.string({ unit: 'grapheme', maxLength: 24 }).map(xmlSafe) },
  { weight: 1, arbitrary: fc.constantFrom('', ' ', '<', '&', ']]>', '&amp;', 'Authenticate', 'TokenUpdate', 'Idle', 'Acknowledged', 'NotNow', '0', 'true', 'null') },
);

const leaf: fc.Arbitrary<PV> = fc.oneof(
  plistString,
  fc.integer(),
  fc.constantFrom(0, -1, 2 ** 31, -(2 ** 31) - 1, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER),
  fc.double({ noNaN: true }),
  fc.boolean(),
  fc.uint8Array({ maxLength: 48 }).map((b) => Buffer.from(b)),
  fc.date({ min: new Date('1900-01-01T00:00:00Z'), max: new Date('2100-01-01T00:00:00Z'), noInvalidDate: true }),
);

/** Random plist values: dicts, arrays, strings, integers, reals, booleans, data, dates. */
export const plistValue: fc.Arbitrary<PV> = fc.letrec<{ value: PV; array: PV[]; dict: Record<string, PV> }>((tie) => ({
  value: fc.oneof({ depthSize: 'small', maxDepth: 5, withCrossShrink: true }, leaf, tie('array'), tie('dict')),
  array: fc.array(tie('value'), { maxLength: 4 }),
  dict: fc.dictionary(plistString, tie('value'), { maxKeys: 5, noNullPrototype: true }),
})).value;

const endpoint = fc.constantFrom<Endpoint>('checkin', 'connect');

export function contentTypeFor(ep: Endpoint): fc.Arbitrary<string> {
  const right = ep === 'checkin' ? CHECKIN_TYPE : COMMAND_TYPE;
  return fc.oneof(
    { weight: 12, arbitrary: fc.constant(right) },
    { weight: 1, arbitrary: fc.constant(`${right}; charset=utf-8`) },
    { weight: 1, arbitrary: fc.constantFrom('', 'application/xml', 'text/plain', 'application/x-apple-aspen-config', ep === 'checkin' ? COMMAND_TYPE : 'application/x-apple-aspen-mdm-check') },
  );
}

const base64Chars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=';

/** Mostly correct signatures, otherwise one of the ways a signature can be wrong. */
export const signatureMode: fc.Arbitrary<SignatureMode> = fc.oneof(
  { weight: 12, arbitrary: fc.constant<SignatureMode>({ kind: 'device' }) },
  { weight: 1, arbitrary: fc.constant<SignatureMode>({ kind: 'none' }) },
  {
    weight: 1,
    arbitrary: fc
      .oneof(fc.string({ unit: fc.constantFrom(...base64Chars, ' ', '-', '_', '.', '!'), maxLength: 80 }), fc.uint8Array({ maxLength: 600 }).map((b) => Buffer.from(b).toString('base64')))
      .map((value): SignatureMode => ({ kind: 'literal', value })),
  },
  { weight: 1, arbitrary: fc.constant<SignatureMode>({ kind: 'rogue' }) },
  { weight: 1, arbitrary: fc.nat().map((at): SignatureMode => ({ kind: 'other-bytes', at })) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 99 }).map((keep): SignatureMode => ({ kind: 'truncated', keep })) },
);

/** Arbitrary bytes to either endpoint. */
export function arbitraryBytes(): fc.Arbitrary<FuzzRequest> {
  return endpoint.chain((ep) =>
    fc.record({
      endpoint: fc.constant(ep),
      contentType: contentTypeFor(ep),
      body: fc.oneof(fc.uint8Array({ maxLength: 4096 }), fc.uint8Array({ minLength: 60_000, maxLength: 70_000, size: 'xsmall' })).map((b) => Buffer.from(b)),
      signature: signatureMode,
      label: fc.constant('bytes'),
    }),
  );
}

/** Arbitrary strings (any code point, lone surrogates included), bare or inside plist markup. */
export function arbitraryStrings(ctx: DeviceContext): fc.Arbitrary<FuzzRequest> {
  const text = fc.oneof(fc.string({ unit: 'binary', maxLength: 400 }), fc.string({ unit: 'grapheme', maxLength: 400 }), fc.string({ unit: 'binary-ascii', maxLength: 400 }));
  const framed = fc.tuple(text, fc.constantFrom('bare', 'plist', 'dict', 'value', 'key')).map(([s, frame]) => {
    switch (frame) {
      case 'bare':
        return { s, label: 'string' };
      case 'plist':
        return { s: `<?xml version="1.0"?><plist version="1.0">${s}</plist>`, label: 'string-in-plist' };
      case 'dict':
        return { s: `<plist><dict><key>EnrollmentID</key><string>${ctx.enrollmentId}</string>${s}</dict></plist>`, label: 'string-in-dict' };
      case 'key':
        return { s: `<plist><dict><key>EnrollmentID</key><string>${ctx.enrollmentId}</string><key>${s}</key><string>Idle</string></dict></plist>`, label: 'string-as-key' };
      default:
        return {
          s: `<plist><dict><key>EnrollmentID</key><string>${ctx.enrollmentId}</string><key>MessageType</key><string>${s}</string><key>Status</key><string>${s}</string></dict></plist>`,
          label: 'string-as-value',
        };
    }
  });
  return endpoint.chain((ep) =>
    fc.record({
      endpoint: fc.constant(ep),
      contentType: contentTypeFor(ep),
      framed,
      signature: signatureMode,
    }),
  ).map(({ endpoint: ep, contentType, framed: { s, label }, signature }) => ({ endpoint: ep, contentType, body: Buffer.from(s, 'utf8'), signature, label }));
}

/** Random plists (built with buildPlist), alone or around the device's identifier and a message kind. */
export function randomPlists(ctx: DeviceContext): fc.Arbitrary<FuzzRequest> {
  const messageType = fc.constantFrom('Authenticate', 'TokenUpdate', 'GetToken', 'DeclarativeManagement', 'UserAuthenticate', 'SetBootstrapToken');
  const status = fc.constantFrom(...STATUSES);
  return endpoint.chain((ep) =>
    fc.record({
      endpoint: fc.constant(ep),
      contentType: contentTypeFor(ep),
      dict: fc.dictionary(plistString, plistValue, { maxKeys: 8, noNullPrototype: true }),
      frame: fc.constantFrom('alone', 'identified', 'typed'),
      kind: ep === 'checkin' ? messageType : status,
      commandUuid: fc.constantFrom(...ctx.answeredCommands, 'B0B0B0B0-0000-4000-8000-000000000000'),
      signature: signatureMode,
    }),
  ).map(({ endpoint: ep, contentType, dict, frame, kind, commandUuid, signature }) => {
    const top: Record<string, PV> = frame === 'alone' ? { ...dict } : { ...dict, EnrollmentID: ctx.enrollmentId, Topic: ctx.topic };
    if (frame === 'typed') Object.assign(top, ep === 'checkin' ? { MessageType: kind } : { Status: kind, CommandUUID: commandUuid });
    return { endpoint: ep, contentType, body: Buffer.from(buildPlist(top), 'utf8'), signature, label: `plist-${frame}` };
  });
}

// ---- mutations of valid messages ------------------------------------------------------------

export type BaseName = 'Authenticate' | 'TokenUpdate' | 'CheckOut' | 'Idle' | 'AckSecurityInfo' | 'AckDeviceInformation' | 'Error' | 'NotNow';

export function baseMessage(name: BaseName, ctx: DeviceContext, pending = false): { endpoint: Endpoint; entries: [string, PV][] } {
  const id: [string, PV][] = [['EnrollmentID', ctx.enrollmentId]];
  const checkin = (entries: [string, PV][]) => ({ endpoint: 'checkin' as const, entries: [['Topic', ctx.topic] as [string, PV], ...id, ...entries] });
  const report = (entries: [string, PV][]) => ({ endpoint: 'connect' as const, entries: [...id, ...entries] });
  const uuid = pending ? ctx.pendingCommandUuid : (ctx.answeredCommands[0] ?? 'A0A0A0A0-0000-4000-8000-000000000000');
  switch (name) {
    case 'Authenticate':
      return checkin([['MessageType', 'Authenticate'], ['OSVersion', ctx.osVersion], ['BuildVersion', '21F90'], ['ProductName', ctx.productName]]);
    case 'TokenUpdate':
      return checkin([['MessageType', 'TokenUpdate'], ['Token', ctx.pushToken], ['PushMagic', ctx.pushMagic], ['AwaitingConfiguration', false]]);
    case 'CheckOut':
      return checkin([['MessageType', 'CheckOut']]);
    case 'Idle':
      return report([['Status', 'Idle']]);
    case 'AckSecurityInfo':
      return report([
        ['CommandUUID', uuid],
        ['Status', 'Acknowledged'],
        ['SecurityInfo', { HardwareEncryptionCaps: 3, PasscodeCompliant: true, ManagementStatus: { IsUserEnrollment: true, EnrolledViaDEP: false } }],
      ]);
    case 'AckDeviceInformation':
      return report([
        ['CommandUUID', pending ? uuid : (ctx.answeredCommands[1] ?? uuid)],
        ['Status', 'Acknowledged'],
        ['QueryResponses', { DeviceName: 'iPhone', OSVersion: ctx.osVersion, ProductName: ctx.productName, DeviceCapacity: 128, AvailableDeviceCapacity: 64.5, BatteryLevel: 0.8 }],
      ]);
    case 'Error':
      return report([
        ['CommandUUID', uuid],
        ['Status', 'Error'],
        ['ErrorChain', [{ ErrorCode: 12021, ErrorDomain: 'MCMDMErrorDomain', LocalizedDescription: 'The command failed.', USEnglishDescription: 'The command failed.' }]],
      ]);
    case 'NotNow':
      return report([['CommandUUID', uuid], ['Status', 'NotNow']]);
  }
}

/** A structural change to the entries of a message. */
export type EntryOp =
  | { op: 'drop'; at: number }
  | { op: 'retype'; at: number; value: PV }
  | { op: 'huge'; at: number; unit: string; size: number }
  | { op: 'set'; key: string; value: PV }
  | { op: 'duplicate'; at: number; value: PV | null }
  | { op: 'add'; key: string; value: PV }
  | { op: 'control'; at: number; chars: string }
  | { op: 'nest'; at: number; depth: number; container: 'array' | 'dict' };

/** A change to the serialized XML. */
export type TextOp =
  | { op: 'inject'; template: number; at: number }
  | { op: 'truncate'; at: number }
  | { op: 'insert'; at: number; text: string }
  | { op: 'encoding'; how: 'bom' | 'utf16le' | 'latin1-declared' | 'utf16-declared' };

export interface Mutation {
  base: BaseName;
  ops: EntryOp[];
  style: CharStyle;
  text: TextOp[];
  /** send it to the other endpoint */
  swapEndpoint: boolean;
  contentType: 'right' | string;
  signature: SignatureMode;
  pending?: PendingType;
}

/** Entity and DTD injections; `%V` is replaced by a value element, `%I` by the identifier. */
export const INJECTIONS: { name: string; prologue?: string; value?: string }[] = [
  { name: 'internal entity', prologue: '<!DOCTYPE plist [<!ENTITY t "Authenticate">]>', value: '<string>&t;</string>' },
  { name: 'external entity', prologue: '<!DOCTYPE plist [<!ENTITY x SYSTEM "file:///etc/passwd">]>', value: '<string>&x;</string>' },
  {
    name: 'billion laughs',
    prologue:
      '<!DOCTYPE plist [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>',
    value: '<string>&d;</string>',
  },
  { name: 'parameter entity', prologue: '<!DOCTYPE plist [<!ENTITY % p SYSTEM "http://127.0.0.1:9/evil.dtd"> %p;]>' },
  { name: 'external DTD', prologue: '<!DOCTYPE plist SYSTEM "http://127.0.0.1:9/evil.dtd">' },
  { name: 'element declaration', prologue: '<!DOCTYPE plist [<!ELEMENT plist ANY>]>' },
  { name: 'undeclared entity', value: '<string>&undeclared;</string>' },
  { name: 'character references', value: '<string>&#65;uthenticate&#x0;</string>' },
  { name: 'CDATA', value: '<string><![CDATA[Authenticate]]></string>' },
  { name: 'CDATA with markup', value: '<string><![CDATA[</string></dict></plist>]]></string>' },
  { name: 'comment', value: '<!-- --><string>Idle</string><!-- -->' },
  { name: 'processing instruction', prologue: '<?xml-stylesheet type="text/xsl" href="http://127.0.0.1:9/x.xsl"?>' },
  { name: 'XInclude', value: '<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="file:///etc/passwd" parse="text"/>' },
  { name: 'namespaced value', value: '<p:string xmlns:p="urn:x">Idle</p:string>' },
  { name: 'attribute', value: '<string id="x" xml:space="preserve">Idle</string>' },
  { name: 'second root', value: '<string>Idle</string></dict></plist><plist><dict>' },
  { name: 'unclosed', value: '<string>Idle' },
  { name: 'bare ampersand', value: '<string>a & b</string>' },
];

/** Applies the mutation's structural and textual operations; returns the request. */
export function applyMutation(m: Mutation, ctx: DeviceContext): FuzzRequest {
  const base = baseMessage(m.base, ctx, m.pending !== undefined);
  const entries: [string, PV][] = base.entries.map(([k, v]) => [k, v]);
  const pick = (at: number) => (entries.length === 0 ? -1 : at % entries.length);
  for (const op of m.ops) {
    switch (op.op) {
      case 'drop': {
        const i = pick(op.at);
        if (i >= 0) entries.splice(i, 1);
        break;
      }
      case 'retype': {
        const i = pick(op.at);
        if (i >= 0) entries[i] = [entries[i]![0], op.value];
        break;
      }
      case 'huge': {
        const i = pick(op.at);
        const unit = op.unit === '' ? 'A' : op.unit;
        if (i >= 0) entries[i] = [entries[i]![0], unit.repeat(Math.ceil(op.size / unit.length)).slice(0, op.size)];
        break;
      }
      case 'set': {
        const i = entries.findIndex(([k]) => k === op.key);
        if (i >= 0) entries[i] = [op.key, op.value];
        else entries.push([op.key, op.value]);
        break;
      }
      case 'duplicate': {
        const i = pick(op.at);
        if (i >= 0) entries.splice(i + 1, 0, [entries[i]![0], op.value ?? entries[i]![1]]);
        break;
      }
      case 'add':
        entries.push([op.key, op.value]);
        break;
      case 'control': {
        const i = pick(op.at);
        if (i >= 0) {
          const [k, v] = entries[i]!;
          const s = typeof v === 'string' ? v : '';
          const mid = Math.floor(s.length / 2);
          entries[i] = [k, `${s.slice(0, mid)}${op.chars}${s.slice(mid)}`];
        }
        break;
      }
      case 'nest': {
        const i = pick(op.at);
        if (i >= 0) {
          let v: PV = entries[i]![1];
          for (let d = 0; d < op.depth; d++) v = op.container === 'array' ? [v] : { k: v };
          entries[i] = [entries[i]![0], v];
        }
        break;
      }
    }
  }
  let xml = entriesXml(entries, m.style);
  let encoding: TextOp & { op: 'encoding' } | undefined;
  for (const op of m.text) {
    switch (op.op) {
      case 'inject': {
        const injection = INJECTIONS[op.template % INJECTIONS.length]!;
        if (injection.prologue) xml = xml.replace(/<!DOCTYPE[^>]*>\n/, `${injection.prologue}\n`);
        if (injection.value) {
          // Replace the value of one entry (chosen by `at`), or add one under an unusual key.
          const values = [...xml.matchAll(/<\/key>(<(string|integer|real|data|date)>[^<]*<\/\2>|<(true|false)\/>)/g)];
          const target = values.length ? values[op.at % values.length] : undefined;
          xml = target
            ? `${xml.slice(0, target.index! + 6)}${injection.value}${xml.slice(target.index! + target[0].length)}`
            : xml.replace('</dict></plist>', `<key>Injected</key>${injection.value}</dict></plist>`);
        }
        break;
      }
      case 'truncate':
        xml = xml.slice(0, op.at % Math.max(1, xml.length));
        break;
      case 'insert': {
        const at = op.at % Math.max(1, xml.length);
        xml = `${xml.slice(0, at)}${op.text}${xml.slice(at)}`;
        break;
      }
      case 'encoding':
        encoding = op;
        break;
    }
  }
  let body: Buffer;
  switch (encoding?.how) {
    case 'bom':
      body = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(xml, 'utf8')]);
      break;
    case 'utf16le':
      body = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(xml.replace('encoding="UTF-8"', 'encoding="UTF-16"'), 'utf16le')]);
      break;
    case 'latin1-declared':
      body = Buffer.from(xml.replace('encoding="UTF-8"', 'encoding="ISO-8859-1"'), 'latin1');
      break;
    case 'utf16-declared':
      body = Buffer.from(xml.replace('encoding="UTF-8"', 'encoding="UTF-16"'), 'utf8');
      break;
    default:
      body = Buffer.from(xml, 'utf8');
  }
  const ep: Endpoint = m.swapEndpoint ? (base.endpoint === 'checkin' ? 'connect' : 'checkin') : base.endpoint;
  const right = ep === 'checkin' ? CHECKIN_TYPE : COMMAND_TYPE;
  const label = [m.base, ...m.ops.map((o) => o.op), ...m.text.map((o) => (o.op === 'inject' ? `inject:${INJECTIONS[o.template % INJECTIONS.length]!.name}` : o.op === 'encoding' ? o.how : o.op))].join('+');
  // A CheckOut ends the enrollment: it is only ever sent with a broken signature.
  const signature = m.base === 'CheckOut' && m.signature.kind === 'device' ? ({ kind: 'other-bytes', at: 7 } as const) : m.signature;
  return { endpoint: ep, contentType: m.contentType === 'right' ? right : m.contentType, body, signature, label, ...(m.pending ? { pending: m.pending } : {}) };
}

const NOT_CHECKOUT = (s: string) => s !== 'CheckOut';

/** Mutations of valid check-in messages (Authenticate, TokenUpdate; CheckOut only unsigned). */
export function mutatedMessages(ctx: DeviceContext, bases: BaseName[], keyOfKind: 'MessageType' | 'Status', { pending = false } = {}): fc.Arbitrary<FuzzRequest> {
  const wrongKind =
    keyOfKind === 'MessageType'
      ? fc.oneof(
          fc.constantFrom('', 'authenticate', 'AUTHENTICATE', 'Authenticate ', ' TokenUpdate', 'Tokenupdate', 'GetToken', 'DeclarativeManagement', 'UserAuthenticate', 'SetBootstrapToken', 'Idle', 'checkout'),
          fc.string({ maxLength: 20 }).map(xmlSafe).filter(NOT_CHECKOUT),
        )
      : fc.oneof(fc.constantFrom('', 'idle', 'IDLE', 'Idle ', 'Acknowledge', 'acknowledged', 'Authenticate', 'Error ', 'notnow'), fc.string({ maxLength: 20 }).map(xmlSafe));
  const wrongUuid = fc.oneof(
    fc.constantFrom(...ctx.answeredCommands, ...ctx.answeredCommands.map((u) => u.toLowerCase()), ctx.pendingCommandUuid.toLowerCase(), ` ${ctx.pendingCommandUuid}`, '', ' ', 'null', '00000000-0000-0000-0000-000000000000'),
    uuidish,
    fc.string({ maxLength: 40 }).map(xmlSafe),
  );
  const key = fc.oneof(
    fc.constantFrom('MessageType', 'Status', 'CommandUUID', 'EnrollmentID', 'UDID', 'SerialNumber', 'IMEI', 'PushToken', 'Topic', 'Token', 'PushMagic', 'UnlockToken', 'UserID', 'UserShortName', 'Challenge', 'AwaitingConfiguration', 'QueryResponses', 'SecurityInfo', 'ErrorChain'),
    plistString,
  );
  const at = fc.nat({ max: 15 });
  const w = <T>(weight: number, arbitrary: fc.Arbitrary<T>) => ({ weight, arbitrary });
  const entryOp: fc.Arbitrary<EntryOp> = fc.oneof(
    w(2, fc.record({ op: fc.constant('drop' as const), at })),
    w(2, fc.record({ op: fc.constant('retype' as const), at, value: plistValue })),
    w(1, fc.record({ op: fc.constant('huge' as const), at, unit: fc.string({ unit: 'grapheme', maxLength: 4 }).map(xmlSafe), size: fc.integer({ min: 1_000, max: 100_000 }) })),
    w(2, fc.record({ op: fc.constant('set' as const), key: fc.constant(keyOfKind), value: wrongKind as fc.Arbitrary<PV> })),
    w(2, fc.record({ op: fc.constant('set' as const), key: fc.constant('CommandUUID'), value: wrongUuid as fc.Arbitrary<PV> })),
    w(1, fc.record({ op: fc.constant('set' as const), key: fc.constant('EnrollmentID'), value: fc.oneof(fc.constantFrom('', ' ', ctx.enrollmentId.toLowerCase()), uuidish) as fc.Arbitrary<PV> })),
    w(2, fc.record({ op: fc.constant('duplicate' as const), at, value: fc.option(fc.oneof(plistValue, wrongKind), { nil: null }) })),
    w(2, fc.record({ op: fc.constant('add' as const), key, value: plistValue })),
    w(
      3,
      fc.record({
        op: fc.constant('control' as const),
        at,
        chars: fc.oneof(
          fc.constant('\u0000'),
          fc.constantFrom('\u0001', '\u0008', '\u000b', '\u001f', '\u007f', '\u0085', '\ufffe', '\uffff', '\ud800', '\udc00', '\u202e', '\u2028', '\ufeff'),
          fc.string({ unit: 'binary', minLength: 1, maxLength: 4 }),
        ),
      }),
    ),
    w(1, fc.record({ op: fc.constant('nest' as const), at, depth: fc.integer({ min: 1, max: 120 }), container: fc.constantFrom('array' as const, 'dict' as const) })),
  );
  const textOp: fc.Arbitrary<TextOp> = fc.oneof(
    { weight: 3, arbitrary: fc.record({ op: fc.constant('inject' as const), template: fc.nat({ max: INJECTIONS.length - 1 }), at }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('insert' as const), at: fc.nat(), text: fc.oneof(fc.constantFrom('<', '>', '&', '</dict>', '<dict>', '<key>k</key>', '<!--', '\u0000', '<![CDATA['), fc.string({ maxLength: 8 })) }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('encoding' as const), how: fc.constantFrom('bom' as const, 'utf16le' as const, 'latin1-declared' as const, 'utf16-declared' as const) }) },
  );
  return fc
    .record({
      base: fc.constantFrom(...bases),
      ops: fc.oneof(
        { withCrossShrink: true },
        { weight: 3, arbitrary: fc.array(entryOp, { minLength: 1, maxLength: 1 }) },
        { weight: 2, arbitrary: fc.array(entryOp, { minLength: 0, maxLength: 3 }) },
      ),
      style: fc.constantFrom<CharStyle>('references', 'references', 'raw'),
      text: fc.oneof({ withCrossShrink: true }, { weight: 4, arbitrary: fc.constant([] as TextOp[]) }, { weight: 1, arbitrary: fc.array(textOp, { minLength: 1, maxLength: 2 }) }),
      swapEndpoint: fc.oneof({ weight: 9, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
      contentType: fc.oneof({ weight: 12, arbitrary: fc.constant('right') }, { weight: 1, arbitrary: fc.constantFrom('', 'text/plain', 'application/xml') }),
      signature: signatureMode,
      pending: pending ? fc.constantFrom<PendingType | undefined>('DeviceInformation', 'SecurityInfo', 'DeviceLock') : fc.constant<PendingType | undefined>(undefined),
    })
    .map(({ pending: p, ...m }) => applyMutation(p ? { ...m, pending: p } : m, ctx));
}

// ---------------------------------------------------------------------------------------------
// Counterexample fixtures

export const FIXTURE_DIR = new URL('../fixtures/fuzz/', import.meta.url);

export interface FuzzFixture {
  /** the property that found it */
  property: string;
  seed: number | null;
  counterexamplePath: string | null;
  /** what the property saw */
  failure: string;
  label: string;
  endpoint: Endpoint;
  /** the request headers; Mdm-Signature is recomputed from `signature` on replay */
  headers: Record<string, string>;
  signature: SignatureMode;
  /** the type of the command queued and sent when the request is made, if any */
  pending?: PendingType;
  /** the body, with this run's per-device values replaced by {{PLACEHOLDERS}} */
  bodyBase64: string;
  /** a failure the server still has (a KNOWN_BUGS id and description): the replay is expected to fail */
  knownBug?: string;
  /** a failure the server had, now fixed (for the record; the replay must pass) */
  fixedBug?: string;
}

function placeholders(ctx: DeviceContext): [string, string][] {
  return [
    ['{{ENROLLMENT_ID}}', ctx.enrollmentId],
    ['{{ENROLLMENT_ID_LOWER}}', ctx.enrollmentId.toLowerCase()],
    ['{{TOPIC}}', ctx.topic],
    ['{{PUSH_MAGIC}}', ctx.pushMagic],
    ['{{PUSH_TOKEN_BASE64}}', ctx.pushToken.toString('base64')],
    ['{{PENDING_COMMAND_UUID}}', ctx.pendingCommandUuid],
    ['{{PENDING_COMMAND_UUID_LOWER}}', ctx.pendingCommandUuid.toLowerCase()],
    ...ctx.answeredCommands.flatMap((u, i): [string, string][] => [
      [`{{COMMAND_UUID_${i}}}`, u],
      [`{{COMMAND_UUID_${i}_LOWER}}`, u.toLowerCase()],
    ]),
  ];
}

/** Per-device values out of a body (byte-exact: the values are ASCII). */
export function templateBody(body: Buffer, ctx: DeviceContext): Buffer {
  let s = body.toString('latin1');
  for (const [name, value] of placeholders(ctx)) s = s.split(value).join(name);
  return Buffer.from(s, 'latin1');
}

export function untemplateBody(body: Buffer, ctx: DeviceContext): Buffer {
  let s = body.toString('latin1');
  for (const [name, value] of placeholders(ctx)) s = s.split(name).join(value);
  return Buffer.from(s, 'latin1');
}

/** Writes the counterexample; the name is stable for the same request, so reruns overwrite it. */
export function saveFixture(
  property: string,
  req: FuzzRequest,
  ctx: DeviceContext,
  info: { seed: number; counterexamplePath: string | null; failure: string; knownBug?: string },
): string {
  mkdirSync(FIXTURE_DIR, { recursive: true });
  const body = templateBody(req.body, ctx);
  const headers = plainHeaders(req);
  const digest = createHash('sha256').update(JSON.stringify([req.endpoint, req.contentType, req.signature, req.pending ?? null])).update(body).digest('hex').slice(0, 12);
  const name = `${property.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}-${digest}.json`;
  const url = new URL(name, FIXTURE_DIR);
  const fixture: FuzzFixture = {
    property,
    seed: info.seed,
    counterexamplePath: info.counterexamplePath,
    failure: info.failure,
    label: req.label,
    endpoint: req.endpoint,
    headers,
    signature: req.signature,
    ...(req.pending ? { pending: req.pending } : {}),
    bodyBase64: body.toString('base64'),
  };
  let previous: FuzzFixture | undefined;
  try {
    previous = JSON.parse(readFileSync(url, 'utf8')) as FuzzFixture;
  } catch {
    previous = undefined;
  }
  if (previous?.knownBug) fixture.knownBug = previous.knownBug;
  else if (info.knownBug) fixture.knownBug = info.knownBug;
  writeFileSync(url, `${JSON.stringify(fixture, null, 2)}\n`);
  return url.pathname;
}

export function loadFixtures(): { file: string; fixture: FuzzFixture }[] {
  let files: string[];
  try {
    files = readdirSync(FIXTURE_DIR).filter((f) => f.endsWith('.json'));
  } catch {
    return [];
  }
  return files.sort().map((file) => ({ file, fixture: JSON.parse(readFileSync(new URL(file, FIXTURE_DIR), 'utf8')) as FuzzFixture }));
}

export function requestFromFixture(fixture: FuzzFixture, ctx: DeviceContext): FuzzRequest {
  return {
    endpoint: fixture.endpoint,
    contentType: fixture.headers['content-type'] ?? '',
    body: untemplateBody(Buffer.from(fixture.bodyBase64, 'base64'), ctx),
    signature: fixture.signature,
    label: fixture.label,
    ...(fixture.pending ? { pending: fixture.pending } : {}),
  };
}
