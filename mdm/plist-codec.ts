/**
 * XML property lists in and out. Devices send check-ins and command results as XML plists; the
 * input is untrusted, so it is size-limited and screened (see plist-xml-screen.ts) before parsing.
 * Binary plists are refused: devices speaking the MDM protocol send XML.
 */
import { build, parse, type PlistValue } from 'plist';
import { isDict } from './dict.js';
import { screenPlistXml } from './plist-xml-screen.js';

export type PlistErrorCode = 'malformed_plist' | 'plist_too_large' | 'plist_too_deep' | 'plist_entities_forbidden';

export class PlistError extends Error {
  override readonly name = 'PlistError';

  constructor(
    readonly code: PlistErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export interface ParsePlistOptions {
  /** Largest accepted input in bytes (default 1 MiB). */
  maxBytes?: number;
  /** How deeply dicts and arrays may nest (default 32). */
  maxDepth?: number;
}

const DEFAULT_MAX_BYTES = 1024 * 1024;
const DEFAULT_MAX_DEPTH = 32;
const SCREEN_CODES = { malformed: 'malformed_plist', too_deep: 'plist_too_deep', entities: 'plist_entities_forbidden' } as const;

/** Parses an XML plist whose top level is a dict; `<data>` becomes a Buffer, `<date>` a Date. */
export function parsePlist(input: Buffer | string, opts: ParsePlistOptions = {}): Record<string, unknown> {
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
  const size = typeof input === 'string' ? Buffer.byteLength(input, 'utf8') : input.length;
  if (size > maxBytes) throw new PlistError('plist_too_large', `the plist is ${size} bytes, more than the ${maxBytes} accepted`);

  let xml = typeof input === 'string' ? input : input.toString('utf8');
  if (xml.startsWith('\uFEFF')) xml = xml.slice(1);
  if (xml.startsWith('bplist')) throw new PlistError('malformed_plist', 'binary plists are not accepted; only XML plists are');
  // The plist package would read `{`/`(` as an OpenStep plist; only XML is part of the protocol.
  if (!xml.trimStart().startsWith('<')) throw new PlistError('malformed_plist', 'not an XML plist; only XML plists are accepted');

  const issue = screenPlistXml(xml, opts.maxDepth ?? DEFAULT_MAX_DEPTH);
  if (issue) throw new PlistError(SCREEN_CODES[issue.code], issue.message);

  let parsed: PlistValue;
  try {
    parsed = parse(xml);
  } catch (error) {
    throw new PlistError('malformed_plist', `malformed plist: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (!isDict(parsed)) throw new PlistError('malformed_plist', 'the top level of the plist must be a dict');
  return normalize(parsed) as Record<string, unknown>;
}

/** Builds an XML plist (with the Apple DOCTYPE); Buffers become `<data>`, Dates `<date>`. */
export function buildPlist(value: Record<string, unknown>): string {
  return build(value as PlistValue);
}

/** Turns the parser's Uint8Arrays into Buffers and rejects values the parser let through as NaN. */
function normalize(value: unknown): unknown {
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw new PlistError('malformed_plist', 'malformed plist: an invalid <date>');
    return value;
  }
  if (typeof value === 'number' && Number.isNaN(value)) {
    throw new PlistError('malformed_plist', 'malformed plist: an <integer> or <real> that is not a number');
  }
  if (typeof value === 'string') checkText(value);
  if (Array.isArray(value)) return value.map(normalize);
  if (isDict(value)) {
    for (const key of Object.keys(value)) {
      checkText(key);
      value[key] = normalize(value[key]);
    }
    return value;
  }
  return value;
}

/**
 * Text must be storable as-is: no NUL (PostgreSQL text refuses it) and no unpaired UTF-16
 * surrogate (not valid Unicode). XML 1.0 forbids both, so no real device sends them.
 */
function checkText(text: string): void {
  // eslint-disable-next-line no-control-regex
  if (/\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(text)) {
    throw new PlistError('malformed_plist', 'malformed plist: a string holds NUL or an unpaired surrogate, which XML does not allow');
  }
}
