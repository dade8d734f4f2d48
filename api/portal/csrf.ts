/**
 * Synchronizer tokens for the portal's forms, on top of the Origin check. Double submit, so it
 * works before sign-in too (login CSRF): the browser holds a random value in an HttpOnly cookie
 * scoped to its enrollment, and every form carries HMAC-SHA256(enrollment id, that value) under a
 * key derived from the master key. Another site can neither read the cookie nor compute the
 * token, a token only works with the cookie of the browser it was rendered for, and never for
 * another enrollment. Stateless, like PortalSessions.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Context } from 'hono';
import { getCookie, setCookie } from 'hono/cookie';

const COOKIE = 'tandem_portal_csrf';
/** The name of the hidden form field. */
export const CSRF_FIELD = 'csrf';
/** Long enough for a page left open a while; an expired cookie only means "go back and try again". */
const LIFETIME_S = 12 * 60 * 60;
/** 32 random bytes, base64url. */
const COOKIE_VALUE = /^[A-Za-z0-9_-]{43}$/;

export class PortalCsrf {
  readonly #key: Buffer;

  constructor(masterKeyBase64: string) {
    this.#key = createHash('sha256').update('tandem-portal-csrf:').update(Buffer.from(masterKeyBase64, 'base64')).digest();
  }

  #token(enrollmentId: string, browserValue: string): string {
    return createHmac('sha256', this.#key).update(`${enrollmentId}:${browserValue}`).digest('base64url');
  }

  #browserValue(c: Context): string | undefined {
    const value = getCookie(c, COOKIE);
    return value && COOKIE_VALUE.test(value) ? value : undefined;
  }

  /** The token for this browser's forms of this enrollment; sets the cookie if the browser has none. */
  token(c: Context, enrollmentId: string): string {
    let value = this.#browserValue(c);
    if (!value) {
      value = randomBytes(32).toString('base64url');
      setCookie(c, COOKIE, value, {
        httpOnly: true,
        sameSite: 'Lax',
        secure: new URL(c.req.url).protocol === 'https:',
        path: `/enroll/${enrollmentId}`,
        maxAge: LIFETIME_S,
      });
    }
    return this.#token(enrollmentId, value);
  }

  /** Whether `submitted` is the token of this browser's cookie for this enrollment (constant time). */
  verify(c: Context, enrollmentId: string, submitted: unknown): boolean {
    const value = this.#browserValue(c);
    if (!value || typeof submitted !== 'string') return false;
    const expected = Buffer.from(this.#token(enrollmentId, value));
    const given = Buffer.from(submitted);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }
}
