import { describe, expect, it } from 'vitest';
import { classifyVppError, VppError, vppErrorFromEvent, vppErrorFromResponse } from '../../integrations/apple/vpp/errors.js';

describe('classifyVppError', () => {
  it.each([
    [400, 9709, 'no_licenses'],
    [401, 9621, 'token_invalid'],
    [401, 9625, 'token_invalid'],
    [401, 9622, 'token_invalid'],
    [401, 9601, 'token_invalid'],
    [401, 9722, 'token_invalid'],
    [200, 9621, 'token_invalid'],
    [429, 9646, 'rate_limited'],
    [400, 9646, 'rate_limited'],
    [500, 9603, 'retryable'],
    [400, 9644, 'retryable'],
    [503, 9729, 'retryable'],
    [410, 9634, 'rejected'],
    [400, 9602, 'rejected'],
    [400, 9609, 'rejected'],
    [400, 9708, 'rejected'],
    [400, 9716, 'rejected'],
    [500, 12345, 'retryable'],
  ] as const)('HTTP %i with errorNumber %i is %s', (status, errorNumber, kind) => {
    expect(classifyVppError(status, errorNumber)).toBe(kind);
  });

  it.each([
    [429, 'rate_limited'],
    [401, 'token_invalid'],
    [500, 'retryable'],
    [502, 'retryable'],
    [503, 'retryable'],
    [408, 'retryable'],
    [0, 'retryable'],
    [400, 'rejected'],
    [403, 'rejected'],
    [404, 'rejected'],
  ] as const)('HTTP %i without an errorNumber is %s', (status, kind) => {
    expect(classifyVppError(status)).toBe(kind);
  });
});

describe('vppErrorFromResponse', () => {
  it('reads errorNumber, errorMessage and Retry-After (seconds)', () => {
    const err = vppErrorFromResponse('GET /assets', 429, { errorNumber: 9646, errorMessage: 'Too many requests.' }, '12');
    expect(err).toBeInstanceOf(VppError);
    expect(err).toMatchObject({ kind: 'rate_limited', status: 429, errorNumber: 9646, retryAfterMs: 12_000, retryable: true });
    expect(err.message).toBe('VPP GET /assets answered 429 (error 9646: Too many requests.)');
  });

  it('reads Retry-After as an HTTP date', () => {
    const at = new Date(Date.now() + 5000).toUTCString();
    const err = vppErrorFromResponse('GET /status', 503, { errorNumber: 9729, errorMessage: 'x' }, at);
    expect(err.retryAfterMs).toBeGreaterThan(3000);
    expect(err.retryAfterMs).toBeLessThanOrEqual(5000);
  });

  it('ignores Retry-After on permanent errors and copes with a non-JSON body', () => {
    const err = vppErrorFromResponse('POST /users/create', 401, undefined, '30');
    expect(err).toMatchObject({ kind: 'token_invalid', retryable: false, retryAfterMs: undefined, errorNumber: undefined });
  });

  it('masks e-mail addresses Apple may quote', () => {
    const err = vppErrorFromResponse('POST /users/create', 400, { errorNumber: 9717, errorMessage: 'Invalid email ada@example.com' }, null);
    expect(err.message).not.toContain('ada@example.com');
  });
});

describe('vppErrorFromEvent', () => {
  it('picks the most actionable failure and keeps them all', () => {
    const failures = [
      { errorNumber: 9609, errorMessage: 'Registered user not found.', errorInfo: { clientUserIds: ['u2'] } },
      { errorNumber: 9709, errorMessage: 'Not enough licenses.', errorInfo: { clientUserIds: ['u1'], assets: [{ adamId: '1', pricingParam: 'STDQ' }] } },
    ];
    const err = vppErrorFromEvent('ev-1', { eventStatus: 'FAILED', eventType: 'ASSOCIATE', failures });
    expect(err).toMatchObject({ kind: 'no_licenses', errorNumber: 9709, eventId: 'ev-1', retryable: false });
    expect(err.failures).toHaveLength(2);
    expect(err.message).toContain('ASSOCIATE ev-1 ended FAILED');
  });

  it('treats FAILED without failures as retryable', () => {
    expect(vppErrorFromEvent('ev-2', { eventStatus: 'FAILED' }).kind).toBe('retryable');
  });
});
