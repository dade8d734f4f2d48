/**
 * The Apps and Books content token ("sToken"), as a content manager downloads it from Apple Business
 * (or School) Manager for one location: base64 of JSON `{"token": "…", "expDate": "<ISO-8601>",
 * "orgName": "…"}` (Apple: "Getting started with the management API"; docs/apple-protocol-notes.md
 * §7). The whole base64 string is what goes into
 * `Authorization: Bearer <sToken>`; decoding it only tells us the expiry and the organisation, so an
 * admin can see both when uploading it and Tandem can warn before it expires.
 *
 * The token is a credential: it is never put into an error message, and the parsed object keeps
 * `token` and `raw` non-enumerable so JSON.stringify, pino and util.inspect leave them out.
 */
import { z } from 'zod';

export interface VppContentToken {
  /** the inner token (non-enumerable) */
  token: string;
  expDate: Date;
  orgName: string;
  /** the sToken as sent to Apple, whitespace removed (non-enumerable) */
  raw: string;
}

export class VppTokenFormatError extends Error {
  constructor(reason: string) {
    super(`not an Apps and Books content token (sToken): ${reason}`);
    this.name = 'VppTokenFormatError';
  }
}

/** A downloaded .vpptoken file is a few hundred bytes; anything much larger is not one. */
const MAX_STOKEN_CHARS = 16 * 1024;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{2,3})?$/;
const BASE64URL = /^[A-Za-z0-9_-]+={0,2}$/;
/** ISO-8601 date-time with Z, ±HH:MM or Apple's ±HHMM offset, e.g. 2027-01-01T00:00:00+0000 */
const ISO_DATE_TIME = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)(Z|[+-]\d{2}:?\d{2})$/;

const tokenJson = z.object({
  token: z.string().min(1),
  expDate: z.string().min(1),
  orgName: z.string(),
});

export function parseContentToken(sToken: string): VppContentToken {
  if (typeof sToken !== 'string') throw new VppTokenFormatError('expected a string');
  // Tokens are pasted from files and e-mails: line breaks and spaces are never part of base64.
  const raw = sToken.replace(/\s+/g, '');
  if (raw.length === 0) throw new VppTokenFormatError('it is empty');
  if (raw.length > MAX_STOKEN_CHARS) throw new VppTokenFormatError(`it is longer than ${MAX_STOKEN_CHARS} characters`);
  const urlSafe = !BASE64.test(raw);
  if (urlSafe && !BASE64URL.test(raw)) throw new VppTokenFormatError('it is not base64');

  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(raw, urlSafe ? 'base64url' : 'base64').toString('utf8'));
  } catch {
    throw new VppTokenFormatError('its base64 does not decode to JSON');
  }
  const parsed = tokenJson.safeParse(json);
  if (!parsed.success) {
    const fields = [...new Set(parsed.error.issues.map((i) => i.path.join('.') || '(root)'))].join(', ');
    throw new VppTokenFormatError(`the decoded JSON lacks or mistypes ${fields} (expected token, expDate, orgName)`);
  }
  const expDate = parseAppleDate(parsed.data.expDate);
  if (!expDate) throw new VppTokenFormatError('expDate is not an ISO-8601 date-time');

  const result = { expDate, orgName: parsed.data.orgName } as VppContentToken;
  Object.defineProperties(result, {
    token: { value: parsed.data.token, enumerable: false },
    raw: { value: raw, enumerable: false },
  });
  return result;
}

/**
 * Builds an sToken (the inverse of parseContentToken): for the sandbox server and tests; Apple
 * issues the real ones.
 */
export function encodeContentToken(fields: { token: string; expDate: Date; orgName: string }): string {
  return Buffer.from(JSON.stringify({ token: fields.token, expDate: formatAppleDate(fields.expDate), orgName: fields.orgName })).toString('base64');
}

/** Apple's date-time style in the VPP API: `2027-01-01T00:00:00+0000`. */
export function formatAppleDate(date: Date): string {
  return `${date.toISOString().slice(0, 19)}+0000`;
}

/** Reads `2027-01-01T00:00:00+0000` (and the other ISO-8601 offsets); undefined when unreadable. */
export function parseAppleDate(value: string): Date | undefined {
  const match = ISO_DATE_TIME.exec(value.trim());
  if (!match) return undefined;
  const [, local, zone] = match;
  const offset = zone === 'Z' || zone === undefined ? 'Z' : zone.includes(':') ? zone : `${zone.slice(0, 3)}:${zone.slice(3)}`;
  const ms = Date.parse(`${local}${offset}`);
  return Number.isNaN(ms) ? undefined : new Date(ms);
}
