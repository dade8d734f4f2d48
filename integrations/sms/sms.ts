/**
 * SMS through Twilio's Programmable Messaging REST API (2010-04-01), spoken over plain fetch so the
 * same client reaches api.twilio.com in production and a loopback sink in tests.
 */
import { DeliveryError, parseRetryAfter, redactContact } from '../provider-errors.js';

export interface SmsMessage {
  /** E.164, e.g. +14155550123 */
  to: string;
  body: string;
  /** stable per logical message, so a retried request is not sent twice */
  idempotencyKey: string;
}

export interface SmsProvider {
  send(msg: SmsMessage): Promise<{ providerMessageId: string }>;
}

export interface TwilioSmsOptions {
  /** https://api.twilio.com in production */
  baseUrl: string;
  accountSid: string;
  authToken: string;
  /** sender number (E.164) or alphanumeric sender id */
  from: string;
  requestTimeoutMs?: number;
}

const E164 = /^\+[1-9]\d{6,14}$/;

export function createTwilioSmsProvider(opts: TwilioSmsOptions): SmsProvider {
  const endpoint = new URL(
    `2010-04-01/Accounts/${encodeURIComponent(opts.accountSid)}/Messages.json`,
    opts.baseUrl.endsWith('/') ? opts.baseUrl : `${opts.baseUrl}/`,
  );
  const authorization = `Basic ${Buffer.from(`${opts.accountSid}:${opts.authToken}`).toString('base64')}`;
  const timeoutMs = opts.requestTimeoutMs ?? 15_000;

  return {
    async send({ to, body, idempotencyKey }) {
      if (!E164.test(to)) {
        throw new DeliveryError('SMS recipient is not an E.164 phone number', { retryable: false, code: 'invalid_recipient' });
      }
      let response: Response;
      try {
        response = await fetch(endpoint, {
          method: 'POST',
          headers: {
            authorization,
            'content-type': 'application/x-www-form-urlencoded',
            accept: 'application/json',
            'i-twilio-idempotency-token': idempotencyKey,
          },
          body: new URLSearchParams({ To: to, From: opts.from, Body: body }),
          signal: AbortSignal.timeout(timeoutMs),
          redirect: 'error',
        });
      } catch (err) {
        throw new DeliveryError(`SMS provider unreachable: ${describeNetworkError(err)}`, { retryable: true, code: networkCode(err), cause: err });
      }

      const payload = await readJson(response);
      if (response.status === 200 || response.status === 201) {
        const sid = typeof payload?.sid === 'string' ? payload.sid : undefined;
        // Created but unreadable: retrying is safe because the idempotency token dedupes it.
        if (!sid) throw new DeliveryError('SMS provider answered without a message sid', { retryable: true });
        return { providerMessageId: sid };
      }
      throw twilioError(response, payload);
    },
  };
}

function twilioError(response: Response, payload: Record<string, unknown> | undefined): DeliveryError {
  const { status } = response;
  const twilioCode = typeof payload?.code === 'number' || typeof payload?.code === 'string' ? String(payload.code) : undefined;
  const twilioMessage = typeof payload?.message === 'string' ? payload.message : response.statusText;
  const retryable = status === 429 || status >= 500;
  const retryAfterMs = retryable ? parseRetryAfter(response.headers.get('retry-after')) : undefined;
  return new DeliveryError(`Twilio ${status}${twilioCode ? ` (code ${twilioCode})` : ''}: ${redactContact(twilioMessage)}`, {
    retryable,
    code: twilioCode ?? String(status),
    ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
  });
}

/** The body of an error answer may be anything (an HTML page from a proxy): never trust it. */
async function readJson(response: Response): Promise<Record<string, unknown> | undefined> {
  try {
    const parsed: unknown = await response.json();
    return typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function networkCode(err: unknown): string {
  if (err instanceof Error && err.name === 'TimeoutError') return 'ETIMEDOUT';
  const cause = err instanceof Error ? (err.cause as { code?: unknown } | undefined) : undefined;
  return typeof cause?.code === 'string' ? cause.code : 'ENETWORK';
}

function describeNetworkError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause instanceof Error ? `: ${err.cause.message}` : '';
  return `${err.message}${cause}`;
}
