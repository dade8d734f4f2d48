/**
 * The one error every delivery provider throws. `retryable` tells the caller (an activity, and
 * through it Temporal's retry policy) whether the same send may succeed later; permanent failures
 * should end the attempt instead of burning retries.
 */
export interface DeliveryErrorOptions {
  retryable: boolean;
  /** provider-specific code: an SMTP reply code, a Twilio error code, a Node errno */
  code?: string;
  /** the provider asked us to wait at least this long (Retry-After) */
  retryAfterMs?: number;
  cause?: unknown;
}

export class DeliveryError extends Error {
  readonly retryable: boolean;
  readonly code: string | undefined;
  readonly retryAfterMs: number | undefined;

  constructor(message: string, opts: DeliveryErrorOptions) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'DeliveryError';
    this.retryable = opts.retryable;
    this.code = opts.code;
    this.retryAfterMs = opts.retryAfterMs;
  }
}

/**
 * Retry-After is either delta-seconds or an HTTP date (RFC 9110 §10.2.3). Returns milliseconds
 * from `now`, or undefined when the header is absent or unreadable.
 */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | undefined {
  if (value == null) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/**
 * Provider replies often quote the recipient ("550 <ada@example.com>: no such user", "The 'To'
 * number +1415… is not valid"). Error messages travel into workflow histories, which carry no
 * personal data, so addresses and phone numbers are masked before they reach a DeliveryError.
 */
export function redactContact(text: string): string {
  return text
    .replace(/[^\s<>"'()\[\],;:]+@[^\s<>"'()\[\],;:]+\.[a-z]{2,}/gi, '[email]')
    .replace(/\+\d[\d ().-]{5,}\d/g, '[phone]')
    .replace(/\b\d{10,15}\b/g, '[phone]');
}
