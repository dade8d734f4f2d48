/**
 * The one error the Apps and Books (VPP) client throws. `kind` is what a caller decides on:
 *
 * - `no_licenses`   the location has no free licence for the asset: buy more (or reclaim), then retry
 * - `token_invalid` the sToken is expired, revoked, unknown or malformed: an admin must upload a new
 *                   one; retrying with the same token never helps
 * - `rate_limited`  Apple asked us to slow down (429 / 9646): wait `retryAfterMs` (or back off)
 * - `retryable`     a transient fault (5xx, maintenance, network, an unreadable answer): retry later
 * - `rejected`      Apple refused the request as such (bad argument, unknown user or event, limits):
 *                   the same request will fail again
 *
 * Mapping, from Apple's Apps and Books "Interpreting error codes" list and `VppErrorCode`
 * (developer.apple.com/documentation/devicemanagement/vpperrorcode); docs/apple-protocol-notes.md §7
 * summarises it. The errorNumber decides first; the HTTP status only when the number is absent or
 * not listed here:
 *
 * | errorNumber                         | HTTP      | meaning                                        | kind          |
 * |-------------------------------------|-----------|------------------------------------------------|---------------|
 * | 9709                                | async     | not enough licences                            | no_licenses   |
 * | 9621                                | 401       | sToken expired                                 | token_invalid |
 * | 9625                                | 401       | sToken revoked                                 | token_invalid |
 * | 9622                                | 401       | invalid authentication token                   | token_invalid |
 * | 9601                                | 401       | login required                                 | token_invalid |
 * | 9722                                | 401       | malformed Authorization header                 | token_invalid |
 * | 9646                                | 429       | too many requests for this organisation        | rate_limited  |
 * | 9603                                | 500/async | internal error                                 | retryable     |
 * | 9644                                | async     | maintenance                                    | retryable     |
 * | 9729                                | 503       | temporarily unavailable                        | retryable     |
 * | 9634                                | 410       | service no longer available                    | rejected      |
 * | 9602, 9609, 9700–9708, 9710–9720,   | 400       | invalid argument, user not found, limits,      | rejected      |
 * |   9723–9728, 9635, 9641, 9716, 9610 |  / async  |   duplicates, config, Apple Account conflicts  |               |
 * | (none)                              | 429       |                                                | rate_limited  |
 * | (none)                              | 401       |                                                | token_invalid |
 * | (none)                              | 408, 5xx  |                                                | retryable     |
 * | (none)                              | 0         | network failure / timeout / unreadable answer  | retryable     |
 * | (none)                              | other 4xx |                                                | rejected      |
 *
 * `Retry-After` (delta-seconds or an HTTP date) is read on every rate_limited or retryable answer.
 */
import { parseRetryAfter, redactContact } from '../../provider-errors.js';

export type VppErrorKind = 'no_licenses' | 'token_invalid' | 'rate_limited' | 'retryable' | 'rejected';

/** Apple's `ErrorResponse.errorInfo`: which assets, users or devices an error is about. */
export interface VppErrorInfo {
  assets?: { adamId: string; pricingParam?: string }[];
  clientUserIds?: string[];
  serialNumbers?: string[];
  [key: string]: unknown;
}

/** Apple's `ErrorResponse`, as it appears in a status response's `failures`. */
export interface VppFailure {
  errorNumber: number;
  errorMessage: string;
  errorInfo?: VppErrorInfo;
}

/** The error numbers Tandem acts on (Apple's "Interpreting error codes"; see the table above). */
export const VppErrorNumber = {
  LOGIN_REQUIRED: 9601,
  INVALID_ARGUMENT: 9602,
  INTERNAL_ERROR: 9603,
  USER_NOT_FOUND: 9609,
  LICENSE_NOT_FOUND: 9610,
  TOKEN_EXPIRED: 9621,
  TOKEN_INVALID: 9622,
  TOKEN_REVOKED: 9625,
  SERVICE_GONE: 9634,
  APPLE_ACCOUNT_NOT_ASSOCIABLE: 9635,
  APPLE_ACCOUNT_TAKEN: 9641,
  MAINTENANCE: 9644,
  TOO_MANY_REQUESTS: 9646,
  ASSET_NOT_REVOCABLE: 9706,
  ASSET_NOT_DEVICE_ASSIGNABLE: 9707,
  UNKNOWN_EVENT: 9708,
  NO_LICENSES: 9709,
  TOO_MANY_USERS: 9714,
  DUPLICATE_USERS: 9715,
  USER_EXISTS: 9716,
  INVALID_EMAIL: 9717,
  NO_ASSIGNEES: 9719,
  USERS_MISSING: 9720,
  MALFORMED_AUTHORIZATION: 9722,
  WRONG_METHOD: 9726,
  WRONG_CONTENT_TYPE: 9727,
  NOTIFICATION_TEST_FAILED: 9728,
  TEMPORARILY_UNAVAILABLE: 9729,
} as const;

const KIND_BY_NUMBER: ReadonlyMap<number, VppErrorKind> = new Map<number, VppErrorKind>([
  [VppErrorNumber.NO_LICENSES, 'no_licenses'],
  [VppErrorNumber.TOKEN_EXPIRED, 'token_invalid'],
  [VppErrorNumber.TOKEN_REVOKED, 'token_invalid'],
  [VppErrorNumber.TOKEN_INVALID, 'token_invalid'],
  [VppErrorNumber.LOGIN_REQUIRED, 'token_invalid'],
  [VppErrorNumber.MALFORMED_AUTHORIZATION, 'token_invalid'],
  [VppErrorNumber.TOO_MANY_REQUESTS, 'rate_limited'],
  [VppErrorNumber.INTERNAL_ERROR, 'retryable'],
  [VppErrorNumber.MAINTENANCE, 'retryable'],
  [VppErrorNumber.TEMPORARILY_UNAVAILABLE, 'retryable'],
  [VppErrorNumber.SERVICE_GONE, 'rejected'],
]);

/** See the table at the top of this file. `status` 0 means no HTTP answer (network, timeout). */
export function classifyVppError(status: number, errorNumber?: number): VppErrorKind {
  const byNumber = errorNumber === undefined ? undefined : KIND_BY_NUMBER.get(errorNumber);
  if (byNumber) return byNumber;
  if (errorNumber !== undefined && status < 500 && status !== 429 && status !== 401) return 'rejected';
  if (status === 429) return 'rate_limited';
  if (status === 401) return 'token_invalid';
  if (status === 0 || status === 408 || status >= 500) return 'retryable';
  return 'rejected';
}

export interface VppErrorOptions {
  kind: VppErrorKind;
  /** HTTP status of the answer that carried the error; 0 when there was none (network, timeout, refused client-side) */
  status: number;
  errorNumber?: number;
  retryAfterMs?: number;
  /** the async event this error reports, and its failures */
  eventId?: string;
  failures?: VppFailure[];
  cause?: unknown;
}

export class VppError extends Error {
  readonly kind: VppErrorKind;
  readonly status: number;
  readonly errorNumber: number | undefined;
  readonly retryAfterMs: number | undefined;
  readonly eventId: string | undefined;
  readonly failures: VppFailure[] | undefined;

  constructor(message: string, opts: VppErrorOptions) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'VppError';
    this.kind = opts.kind;
    this.status = opts.status;
    this.errorNumber = opts.errorNumber;
    this.retryAfterMs = opts.retryAfterMs;
    this.eventId = opts.eventId;
    this.failures = opts.failures;
  }

  /** the same request may succeed later (Temporal's retry policy should keep going) */
  get retryable(): boolean {
    return this.kind === 'rate_limited' || this.kind === 'retryable';
  }
}

/**
 * The error for a non-2xx answer, or a 2xx one whose JSON carries an `errorNumber`. `body` is the
 * parsed JSON (undefined when the body was not JSON, e.g. a proxy's HTML page).
 */
export function vppErrorFromResponse(
  what: string,
  status: number,
  body: Record<string, unknown> | undefined,
  retryAfterHeader: string | null | undefined,
): VppError {
  const errorNumber = typeof body?.errorNumber === 'number' && Number.isInteger(body.errorNumber) ? body.errorNumber : undefined;
  const errorMessage = typeof body?.errorMessage === 'string' ? body.errorMessage : undefined;
  const kind = classifyVppError(status, errorNumber);
  const retryAfterMs = kind === 'rate_limited' || kind === 'retryable' ? parseRetryAfter(retryAfterHeader) : undefined;
  const detail = [errorNumber === undefined ? undefined : `error ${errorNumber}`, errorMessage ? clip(redactContact(errorMessage)) : undefined]
    .filter(Boolean)
    .join(': ');
  return new VppError(`VPP ${what} answered ${status}${detail ? ` (${detail})` : ''}`, {
    kind,
    status,
    ...(errorNumber === undefined ? {} : { errorNumber }),
    ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
  });
}

/** Most actionable first: a dead token beats no licences beats a refusal beats a transient fault. */
const KIND_PRIORITY: readonly VppErrorKind[] = ['token_invalid', 'no_licenses', 'rejected', 'rate_limited', 'retryable'];

/**
 * The error for an async event that ended FAILED (or finished with `failures`): the kind of its
 * most actionable failure, and every failure attached for callers that need the affected users.
 */
export function vppErrorFromEvent(
  eventId: string,
  event: { eventStatus: string; eventType?: string; failures?: VppFailure[] },
  status = 200,
): VppError {
  const failures = event.failures ?? [];
  const ranked = failures
    .map((f) => ({ f, kind: classifyVppError(400, f.errorNumber) }))
    .sort((a, b) => KIND_PRIORITY.indexOf(a.kind) - KIND_PRIORITY.indexOf(b.kind));
  const top = ranked[0];
  const numbers = [...new Set(failures.map((f) => f.errorNumber))].join(', ');
  const message = `VPP ${event.eventType ?? 'event'} ${eventId} ended ${event.eventStatus}${
    top ? ` with ${failures.length} failure(s) (error ${numbers}: ${clip(redactContact(top.f.errorMessage))})` : ''
  }`;
  return new VppError(message, {
    // FAILED without any failure listed: nothing says what went wrong, so trying again is fair.
    kind: top?.kind ?? 'retryable',
    status,
    ...(top ? { errorNumber: top.f.errorNumber } : {}),
    eventId,
    failures,
  });
}

function clip(text: string, max = 200): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}
