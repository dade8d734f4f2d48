/**
 * Account-driven enrollment (iOS 15+; the only User Enrollment on iOS 18+): the user types their
 * work account in Settings, the device discovers Tandem through `.well-known`, POSTs to the
 * enrollment URL, is challenged (401 `apple-as-web`), signs in on our web page, comes back with a
 * bearer token, and receives a profile with EnrollmentMode and AssignedManagedAppleID. The same
 * token then accompanies every check-in.
 */
import { randomBytes } from 'node:crypto';
import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { csrf } from 'hono/csrf';
import { html } from 'hono/html';
import { sql } from 'kysely';
import type { Logger } from 'pino';
import type { Env } from '../../config/env.js';
import type { Db } from '../../db/connection.js';
import { findUserByIdentifier, getManagedDomains } from '../../db/directory.js';
import { createAccountEnrollment, lifecycleFromEnv } from '../../db/enrollments.js';
import { SignInLockout } from '../../db/sign-in-lockout.js';
import { recordEnrollmentEvent } from '../../db/outbox.js';
import { verifySignedData } from '../../mdm/cms.js';
import { parsePlist } from '../../mdm/plist-codec.js';
import { hashApiToken } from '../../security/api-tokens.js';
import { bearerToken } from '../../security/bearer.js';
import { hashOneTimePassword, verifyOneTimePassword } from '../../security/one-time-password.js';
import type { SecretBox } from '../../security/secret-box.js';
import type { OutboxRelay } from '../outbox-relay.js';
import { layout, messagePage, tooLargePage } from '../portal/pages.js';
import { issueAccountDrivenProfile } from '../portal/profile-issuer.js';
import { limitBody } from '../body-limit.js';
import { clientAddress } from '../client-address.js';

export interface AccountEnrollmentDeps {
  db: Db;
  box: SecretBox;
  relay: OutboxRelay;
  log: Logger;
  env: Env;
  publicUrl: string;
}

export const accountPaths = { base: '/account-enrollment', signIn: '/account-enrollment/sign-in' };
/** A token not used for an enrollment POST within this time stops working. */
export const SIGN_IN_TOKEN_TTL_MS = 15 * 60_000;
const CALLBACK = 'apple-remotemanagement-user-login://authentication-results';
const enrollmentOpen = ['created', 'invited', 'portal_authenticated', 'profile_issued', 'authenticated'] as const;

/** The challenge that sends the device to our web sign-in (also the answer to a missing or bad token). */
export function bearerChallenge(publicUrl: string): Record<string, string> {
  return { 'WWW-Authenticate': `Bearer method="apple-as-web", url="${new URL(accountPaths.signIn, publicUrl).href}"` };
}

/** Verified against when the account is unknown, so that answer takes as long as a wrong password. */
let decoyHash: Promise<string> | undefined;

const minutesUntil = (until: Date) => {
  const minutes = Math.max(1, Math.ceil((until.getTime() - Date.now()) / 60_000));
  return `${minutes} minute${minutes === 1 ? '' : 's'}`;
};

const wellKnownFailed = (c: Context, message: string, description: string) =>
  c.json({ code: 'com.apple.well-known.failed', description, message }, 403);

export function accountEnrollmentRoutes(deps: AccountEnrollmentDeps) {
  const app = new Hono();
  const org = deps.env.TANDEM_ORGANIZATION;
  const lockout = new SignInLockout(deps.db, deps.env.TANDEM_MASTER_KEY!, { maxAttempts: deps.env.PORTAL_MAX_ATTEMPTS, lockoutMs: deps.env.PORTAL_LOCKOUT });

  /** The invite-opened enrollment a user may continue, if any. */
  const openInvite = (userId: string) =>
    deps.db
      .selectFrom('enrollments as e')
      .innerJoin('invites as i', (j) => j.onRef('i.enrollment_id', '=', 'e.id').on('i.revoked_at', 'is', null))
      .select(['e.id', 'e.enrollment_type', 'i.id as invite_id', 'i.otp_hash', 'i.expires_at'])
      .where('e.user_id', '=', userId)
      .where('e.status', 'in', ['invited', 'portal_authenticated', 'profile_issued'])
      .where('i.expires_at', '>', sql<Date>`now()`)
      .orderBy('e.created_at', 'desc')
      .executeTakeFirst();

  // Every address of a managed domain gets the same answer, so discovery tells no one who is in
  // the directory: sign-in decides. (An organisation that offers account-driven Device Enrollment
  // answers mdm-adde to the users invited for it, as the README says.)
  app.get('/.well-known/com.apple.remotemanagement', async (c) => {
    const identifier = c.req.query('user-identifier') ?? '';
    const at = identifier.lastIndexOf('@');
    if (at < 1) return wellKnownFailed(c, 'Enter your work account, for example name@company.com.', 'user-identifier missing or not name@domain');
    const domain = identifier.slice(at + 1).toLowerCase();
    const { domains, deviceEnrollment } = await getManagedDomains(deps.db);
    if (!domains.includes(domain)) return wellKnownFailed(c, `${org} does not manage accounts of ${domain}.`, `domain ${domain} is not a managed domain`);
    let version = 'mdm-byod';
    if (deviceEnrollment) {
      const user = await findUserByIdentifier(deps.db, identifier);
      const invite = user ? await openInvite(user.id) : undefined;
      if (invite?.enrollment_type === 'device') version = 'mdm-adde';
    }
    return c.json({ Servers: [{ Version: version, BaseURL: new URL(accountPaths.base, deps.publicUrl).href }] });
  });

  // Enrollment requests are a small signed plist: refuse anything bigger before reading it.
  app.post(accountPaths.base, limitBody(64 * 1024), async (c) => {
    const body = Buffer.from(await c.req.arrayBuffer());
    // The device signs the body with its built-in identity (CMS); Apple's examples show a raw plist.
    let request: Record<string, unknown>;
    try {
      let content: Buffer = body;
      try {
        content = verifySignedData(body).content;
      } catch {
        /* not CMS: a raw plist */
      }
      request = parsePlist(content);
    } catch (err) {
      return c.json({ error: { code: 'malformed_enrollment_request', message: (err as Error).message } }, 400);
    }
    const bearer = bearerToken(c.req.header('authorization'));
    const token = bearer
      ? await deps.db
          .selectFrom('account_tokens as t')
          .innerJoin('enrollments as e', 'e.id', 't.enrollment_id')
          .select(['t.id', 't.enrollment_id', 'e.status', 'e.enrollment_type'])
          .where('t.token_hash', '=', hashApiToken(bearer))
          .where('t.revoked_at', 'is', null)
          .where((eb) => eb.or([eb('t.expires_at', 'is', null), eb('t.expires_at', '>', sql<Date>`now()`)]))
          .executeTakeFirst()
      : undefined;
    if (!token) return c.body(null, 401, bearerChallenge(deps.publicUrl));
    if (!(enrollmentOpen as readonly string[]).includes(token.status)) {
      return c.json({ error: { code: 'enrollment_closed', message: `This enrollment is ${token.status}.` } }, 403);
    }
    deps.log.info({ product: request.PRODUCT, version: request.VERSION }, 'account-driven enrollment request');
    const issued = await issueAccountDrivenProfile({ ...deps, organization: org, identityValidityMs: deps.env.TANDEM_IDENTITY_VALIDITY }, token.enrollment_id, token.enrollment_type ?? 'user', `token-${token.id}`);
    // From now on the token is this enrollment's credential on every check-in, until revoked.
    await deps.db.updateTable('account_tokens').set({ expires_at: null, last_used_at: sql`now()` }).where('id', '=', token.id).execute();
    void deps.relay.kick();
    return c.body(new Uint8Array(issued.der), 200, { 'content-type': 'application/x-apple-aspen-config' });
  });

  const signInPage = (c: Context, identifier: string, error?: string, status: 200 | 400 | 423 = 200) =>
    c.html(
      layout(
        'Sign in',
        org,
        html`<h1>Sign in to ${org}</h1>
          ${error ? html`<p class="error" role="alert">${error}</p>` : ''}
          <div class="card">
            <form method="post" action="${accountPaths.signIn}">
              <label for="username">Work account</label>
              <input id="username" name="username" type="email" autocapitalize="none" value="${identifier}" required />
              <label for="password">Password</label>
              <input id="password" name="password" type="password" required />
              <button type="submit">Sign In</button>
            </form>
            <p class="note">Use the one-time password from your enrollment invitation, or your ${org} password.</p>
          </div>`,
      ),
      status,
    );

  const lockedPage = (c: Context, identifier: string, until: Date) =>
    signInPage(
      c,
      identifier,
      `Too many failed attempts. Try again in ${minutesUntil(until)}, or ask your IT team to send you a new invitation and sign in with its one-time password.`,
      423,
    );

  app.get(accountPaths.signIn, (c) => signInPage(c, c.req.query('user-identifier') ?? ''));

  // The sign-in form posts to itself from the web view iOS opens: another origin has no business here.
  const publicOrigin = new URL(deps.publicUrl).origin;
  const signInBodyLimit = bodyLimit({ maxSize: 16 * 1024, onError: (c) => c.html(tooLargePage(org), 413) });
  app.post(accountPaths.signIn, signInBodyLimit, csrf({ origin: (origin, c) => origin === publicOrigin || origin === new URL(c.req.url).origin }), async (c) => {
    // A body that does not parse as the form it claims to be (a multipart without parts) is a
    // failed sign-in like any other, not a server error.
    const form = await c.req.parseBody().catch(() => ({}) as Record<string, unknown>);
    const identifier = typeof form.username === 'string' ? form.username.trim().slice(0, 320) : '';
    const password = typeof form.password === 'string' ? form.password.slice(0, 200) : '';
    const subject = lockout.subject(identifier, clientAddress(c, deps.env.TRUST_PROXY));
    const lockedUntil = await lockout.lockedUntil(subject);
    const user = identifier ? await findUserByIdentifier(deps.db, identifier) : undefined;
    const invite = user ? await openInvite(user.id) : undefined;
    // An invite's one-time password gets through even a lock: it is random, so the lock does not
    // need to guard it, and a fresh invite is the way in for a user someone else locked out.
    // Directory passwords are people's own, so a locked pair gets no guesses at them.
    const byInvite = !!invite && (await verifyOneTimePassword(password, invite.otp_hash));
    const byPassword = !byInvite && !lockedUntil && !!user?.password_hash && (await verifyOneTimePassword(password, user.password_hash));
    if (!user) await verifyOneTimePassword(password, await (decoyHash ??= hashOneTimePassword('decoy'))); // an unknown account takes as long
    if (!user || !(byInvite || byPassword)) {
      const until = lockedUntil ?? (await lockout.fail(subject));
      if (until) return lockedPage(c, identifier, until);
      return signInPage(c, identifier, 'The account or password is incorrect.', 400);
    }
    if (!user.managed_apple_id) return c.html(messagePage({ organization: org, title: 'Account not ready', message: 'Your account has no Managed Apple ID yet. Contact your IT team.' }), 403);
    await lockout.clear(subject);

    // With an invite, its enrollment continues; without one, the user's own enrollment starts
    // (signal-with-start, so the workflow begins already signed in).
    const enrollmentId = invite?.id ?? (await createAccountEnrollment(deps.db, { userId: user.id, managedAppleId: user.managed_apple_id, env: deps.env, lifecycle: lifecycleFromEnv(deps.env) }));
    const token = randomBytes(32).toString('base64url');
    await deps.db.transaction().execute(async (trx) => {
      await trx
        .insertInto('account_tokens')
        .values({ token_hash: hashApiToken(token), enrollment_id: enrollmentId, user_id: user.id, expires_at: new Date(Date.now() + SIGN_IN_TOKEN_TTL_MS) })
        .execute();
      if (invite) await recordEnrollmentEvent(trx, enrollmentId, { type: 'portal_authenticated' }, `account-signed-in:${invite.invite_id}`);
    });
    void deps.relay.kick();
    return c.body(null, 308, { Location: `${CALLBACK}?access-token=${encodeURIComponent(token)}` });
  });

  return app;
}
