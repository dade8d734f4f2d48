/**
 * The portal session: a signed cookie naming the enrollment and the invite it signed in with.
 * Issuing a new invite (resend) therefore ends every session of the old one. Stateless, HMAC-SHA256
 * with a key derived from the master key.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { Context } from 'hono';
import { getCookie, setCookie } from 'hono/cookie';

const COOKIE = 'tandem_portal';
const LIFETIME_S = 60 * 60;

export class PortalSessions {
  readonly #key: Buffer;

  constructor(masterKeyBase64: string) {
    this.#key = createHash('sha256').update('tandem-portal-session:').update(Buffer.from(masterKeyBase64, 'base64')).digest();
  }

  #sign(payload: string): string {
    return createHmac('sha256', this.#key).update(payload).digest('base64url');
  }

  start(c: Context, enrollmentId: string, inviteId: string): void {
    const payload = `${enrollmentId}.${inviteId}.${Math.floor(Date.now() / 1000) + LIFETIME_S}`;
    setCookie(c, COOKIE, `${payload}.${this.#sign(payload)}`, {
      httpOnly: true,
      sameSite: 'Lax',
      secure: new URL(c.req.url).protocol === 'https:',
      path: `/enroll/${enrollmentId}`,
      maxAge: LIFETIME_S,
    });
  }

  /** The invite id this browser signed in with for this enrollment, if the cookie is valid. */
  read(c: Context, enrollmentId: string): string | undefined {
    const value = getCookie(c, COOKIE);
    if (!value) return undefined;
    const parts = value.split('.');
    if (parts.length !== 4) return undefined;
    const [id, inviteId, exp, mac] = parts as [string, string, string, string];
    const expected = Buffer.from(this.#sign(`${id}.${inviteId}.${exp}`));
    const given = Buffer.from(mac);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
    if (id !== enrollmentId || Number(exp) < Date.now() / 1000) return undefined;
    return inviteId;
  }
}
