import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { encodeContentToken, formatAppleDate, parseAppleDate, parseContentToken, VppTokenFormatError } from '../../integrations/apple/vpp/token.js';

const SECRET = 'c2VjcmV0LWlubmVyLXRva2Vu';
const b64 = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64');

function thrown(fn: () => unknown): VppTokenFormatError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(VppTokenFormatError);
    return err as VppTokenFormatError;
  }
  throw new Error('expected a throw');
}

describe('parseContentToken', () => {
  it("reads Apple's base64 JSON {token, expDate, orgName}", () => {
    const sToken = b64({ token: SECRET, expDate: '2027-01-01T00:00:00+0000', orgName: 'Acme Corp' });
    const parsed = parseContentToken(sToken);
    expect(parsed.token).toBe(SECRET);
    expect(parsed.orgName).toBe('Acme Corp');
    expect(parsed.expDate.toISOString()).toBe('2027-01-01T00:00:00.000Z');
    expect(parsed.raw).toBe(sToken);
  });

  it('accepts other ISO-8601 offsets and a token pasted with line breaks', () => {
    const sToken = b64({ token: SECRET, expDate: '2026-06-30T12:00:00-07:00', orgName: 'Acme' });
    const pasted = `  ${sToken.slice(0, 20)}\n${sToken.slice(20)}\r\n`;
    const parsed = parseContentToken(pasted);
    expect(parsed.expDate.toISOString()).toBe('2026-06-30T19:00:00.000Z');
    expect(parsed.raw).toBe(sToken);
  });

  it('round-trips encodeContentToken', () => {
    const expDate = new Date('2028-02-29T10:20:30Z');
    const parsed = parseContentToken(encodeContentToken({ token: 'abc', expDate, orgName: 'Org' }));
    expect(parsed).toMatchObject({ orgName: 'Org', expDate });
    expect(formatAppleDate(expDate)).toBe('2028-02-29T10:20:30+0000');
    expect(parseAppleDate('2028-02-29T10:20:30Z')).toEqual(expDate);
    expect(parseAppleDate('tomorrow')).toBeUndefined();
  });

  it('keeps the token out of JSON, inspect and spreads', () => {
    const parsed = parseContentToken(b64({ token: SECRET, expDate: '2027-01-01T00:00:00+0000', orgName: 'Acme' }));
    expect(JSON.stringify(parsed)).not.toContain(SECRET);
    expect(inspect(parsed)).not.toContain(SECRET);
    expect(Object.keys(parsed).sort()).toEqual(['expDate', 'orgName']);
  });

  it.each([
    ['empty', '   '],
    ['not base64', 'this is *not* base64!'],
    ['base64 of something that is not JSON', b64('hello there')],
    ['JSON without a token', b64({ expDate: '2027-01-01T00:00:00+0000', orgName: 'x' })],
    ['JSON with a numeric orgName', b64({ token: 't', expDate: '2027-01-01T00:00:00+0000', orgName: 5 })],
    ['a JSON array', b64([1, 2])],
    ['an unreadable expDate', b64({ token: 't', expDate: 'next year', orgName: 'x' })],
    ['far too long', 'A'.repeat(20_000)],
  ])('rejects %s with a clear error', (_what, input) => {
    const err = thrown(() => parseContentToken(input));
    expect(err.message).toMatch(/^not an Apps and Books content token \(sToken\): /);
  });

  it('never echoes the input in its error', () => {
    const bad = b64({ token: SECRET, expDate: 'soon', orgName: 'x' });
    const err = thrown(() => parseContentToken(bad));
    expect(err.message).not.toContain(SECRET);
    expect(err.message).not.toContain(bad);
    expect(err.message).toContain('expDate');
  });
});
