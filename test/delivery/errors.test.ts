import { describe, expect, it } from 'vitest';
import { DeliveryError, parseRetryAfter, redactContact } from '../../integrations/provider-errors.js';

describe('delivery errors', () => {
  it('carry retryability, code, Retry-After and cause', () => {
    const cause = new Error('socket hang up');
    const err = new DeliveryError('boom', { retryable: true, code: 'ECONNRESET', retryAfterMs: 500, cause });
    expect(err).toBeInstanceOf(Error);
    expect(err).toMatchObject({ name: 'DeliveryError', retryable: true, code: 'ECONNRESET', retryAfterMs: 500, cause });
  });

  it('read Retry-After as seconds or as an HTTP date', () => {
    const now = Date.parse('2030-01-01T00:00:00Z');
    expect(parseRetryAfter('120', now)).toBe(120_000);
    expect(parseRetryAfter('Tue, 01 Jan 2030 00:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(null, now)).toBeUndefined();
  });

  it('mask e-mail addresses and phone numbers but not hosts or codes', () => {
    expect(redactContact('550 5.1.1 <ada.l+x@mail.example.co.uk>: no such user')).toBe('550 5.1.1 <[email]>: no such user');
    expect(redactContact("The 'To' number +1 (415) 555-0123 is not valid")).toBe("The 'To' number [phone] is not valid");
    expect(redactContact('To 14155550123 failed')).toBe('To [phone] failed');
    expect(redactContact('connect ECONNREFUSED 127.0.0.1:2525')).toBe('connect ECONNREFUSED 127.0.0.1:2525');
  });
});
