/**
 * The enrollment portal: terms → (sign in) → (ownership, scope) → (Managed Apple ID) → download.
 * Which step comes next is derived from the enrollment row, so reloading any page is safe.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { csrf } from 'hono/csrf';
import { sql, type Selectable } from 'kysely';
import { z } from 'zod';
import type { Db } from '../../db/connection.js';
import { clearFailedAttempts, countFailedAttempt } from '../../db/lockout.js';
import { recordEnrollmentEvent } from '../../db/outbox.js';
import type { Enrollment, InvitesTable } from '../../db/schema.js';
import { verifyOneTimePassword } from '../../security/one-time-password.js';
import type { SecretBox } from '../../security/secret-box.js';
import type { EnrollmentStatus } from '../../workflows/enrollment-machine.js';
import type { EnrollmentKind } from '../../workflows/messages.js';
import type { OutboxRelay } from '../outbox-relay.js';
import { CSRF_FIELD, PortalCsrf } from './csrf.js';
import {
  accountDrivenPage,
  desktopModePage,
  downloadPage,
  managedAppleIdPage,
  messagePage,
  scopePage,
  signInPage,
  termsPage,
  tooLargePage,
} from './pages.js';
import { issueProfile } from './profile-issuer.js';
import { PortalSessions } from './session.js';
import { classifyUserAgent, needsAccountDrivenEnrollment } from './user-agent.js';

type Invite = Selectable<InvitesTable>;

export interface PortalDeps {
  db: Db;
  box: SecretBox;
  relay: OutboxRelay;
  masterKey: string;
  organization: string;
  publicUrl: string;
  maxAttempts: number;
  lockoutMs: number;
  /** TANDEM_IDENTITY_VALIDITY: how long the device identity in a profile is valid */
  identityValidityMs: number;
}

const DOWNLOAD_LINK_TTL_MS = 15 * 60_000;
/** The invite's credentials open the portal until the device authenticates (a profile may be re-downloaded). */
const portalOpenStatuses: readonly EnrollmentStatus[] = ['invited', 'portal_authenticated', 'profile_issued'];
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const managedAppleIdSchema = z.email().max(254);

function sameText(a: string, b: string): boolean {
  // Hash first so the comparison is constant-time whatever the lengths.
  return timingSafeEqual(Buffer.from(sha256(a.trim().toLowerCase()), 'hex'), Buffer.from(sha256(b.trim().toLowerCase()), 'hex'));
}

export function portalRoutes(deps: PortalDeps) {
  const app = new Hono();
  const sessions = new PortalSessions(deps.masterKey);
  const csrfTokens = new PortalCsrf(deps.masterKey);
  const org = deps.organization;
  const publicOrigin = new URL(deps.publicUrl).origin;

  app.use('*', bodyLimit({ maxSize: 16 * 1024, onError: (c) => c.html(tooLargePage(org), 413) }));
  app.use('*', csrf({ origin: (origin, c) => origin === publicOrigin || origin === new URL(c.req.url).origin }));
  // Defence in depth: every form submission must also carry this browser's token (csrf.ts),
  // checked before any handler reads or changes anything.
  app.use('/:id/*', async (c, next) => {
    if (['GET', 'HEAD', 'OPTIONS'].includes(c.req.method)) return next();
    const id = c.req.param('id')!;
    const form = await c.req.parseBody().catch(() => ({}) as Record<string, unknown>);
    if (csrfTokens.verify(c, id, form[CSRF_FIELD])) return next();
    return c.html(
      messagePage({
        organization: org,
        title: 'Please try again',
        message: 'This form has expired or was not sent from the enrollment page. Go back and try again.',
        code: 'csrf_token_invalid',
        back: { href: `/enroll/${encodeURIComponent(id)}`, label: 'Back to the enrollment' },
      }),
      403,
    );
  });

  const load = (id: string) =>
    z.uuid().safeParse(id).success ? deps.db.selectFrom('enrollments').selectAll().where('id', '=', id).executeTakeFirst() : Promise.resolve(undefined);
  const liveInvite = (enrollmentId: string) =>
    deps.db.selectFrom('invites').selectAll().where('enrollment_id', '=', enrollmentId).where('revoked_at', 'is', null).executeTakeFirst();

  const closedPage = async (c: Context, e: Enrollment | undefined): Promise<Response> => {
    const why = !e
      ? 'This enrollment link is not valid. Check the link in your invitation.'
      : e.status === 'expired'
        ? 'This invitation has expired. Ask your administrator to send a new one.'
        : e.status === 'cancelled'
          ? 'This invitation was cancelled by your administrator.'
          : e.status === 'enrolled' || e.status === 'authenticated'
            ? 'This device enrollment is already complete.'
            : 'This invitation can no longer be used.';
    return c.html(messagePage({ organization: org, title: 'Enrollment unavailable', message: why }), e ? 410 : 404);
  };

  type Opened = { ok: false; response: Response } | { ok: true; enrollment: Enrollment; invite: Invite };

  /** The enrollment if its invite still opens the portal (and, when `signedIn`, this browser signed in). */
  async function open(c: Context, { signedIn }: { signedIn: boolean }): Promise<Opened> {
    const e = await load(c.req.param('id')!);
    const invite = e && portalOpenStatuses.includes(e.status) ? await liveInvite(e.id) : undefined;
    if (!e || !invite || invite.expires_at.getTime() <= Date.now()) return { ok: false, response: await closedPage(c, e) };
    if (signedIn && sessions.read(c, e.id) !== invite.id) return { ok: false, response: c.redirect(`/enroll/${e.id}`, 303) };
    return { ok: true, enrollment: e, invite };
  }

  function nextStep(e: Enrollment): string {
    const base = `/enroll/${e.id}`;
    if (e.ownership === 'user_choice' && !e.device_ownership) return `${base}/sign-in`;
    if (!e.enrollment_type) return `${base}/scope`;
    return e.enrollment_type === 'user' ? `${base}/managed-apple-id` : `${base}/download`;
  }

  async function signedIn(c: Context, e: Enrollment, inviteId: string) {
    sessions.start(c, e.id, inviteId);
    await recordEnrollmentEvent(deps.db, e.id, { type: 'portal_authenticated' }, `portal-authenticated:${inviteId}`);
    void deps.relay.kick();
  }

  app.get('/:id', async (c) => {
    const r = await open(c, { signedIn: false });
    return r.ok ? c.html(termsPage({ action: c.req.path, organization: org, csrf: csrfTokens.token(c, r.enrollment.id) })) : r.response;
  });

  app.post('/:id', async (c) => {
    const r = await open(c, { signedIn: false });
    if (!r.ok) return r.response;
    const { enrollment: e, invite } = r;
    const form = await c.req.parseBody();
    if (form.accept !== 'yes') return c.html(termsPage({ action: c.req.path, organization: org, csrf: csrfTokens.token(c, e.id), error: 'Please agree to the terms and conditions to continue.' }), 400);
    if (e.auth_mode === 'authenticated' || e.ownership === 'user_choice') return c.redirect(`/enroll/${e.id}/sign-in`, 303);
    await signedIn(c, e, invite.id);
    return c.redirect(nextStep(e), 303);
  });

  const signInView = (c: Context, e: Enrollment, error?: string, status: 400 | 423 | 200 = 200) =>
    c.html(
      signInPage({
        action: c.req.path,
        organization: org,
        csrf: csrfTokens.token(c, e.id),
        username: e.username,
        askPassword: e.auth_mode === 'authenticated',
        askOwnership: e.ownership === 'user_choice',
        ...(error ? { error } : {}),
      }),
      status,
    );

  app.get('/:id/sign-in', async (c) => {
    const r = await open(c, { signedIn: false });
    return r.ok ? signInView(c, r.enrollment) : r.response;
  });

  app.post('/:id/sign-in', async (c) => {
    const r = await open(c, { signedIn: false });
    if (!r.ok) return r.response;
    const { enrollment: e, invite } = r;
    const form = await c.req.parseBody();
    if (e.auth_mode === 'authenticated') {
      if (invite.locked_until && invite.locked_until.getTime() > Date.now()) {
        const minutes = Math.ceil((invite.locked_until.getTime() - Date.now()) / 60_000);
        return signInView(c, e, `Too many failed attempts. Try again in ${minutes} minute${minutes === 1 ? '' : 's'}.`, 423);
      }
      const username = typeof form.username === 'string' ? form.username : '';
      const password = typeof form.password === 'string' ? form.password.slice(0, 100) : '';
      const usernameOk = sameText(username, e.username);
      const passwordOk = await verifyOneTimePassword(password, invite.otp_hash);
      if (!usernameOk || !passwordOk) {
        if (await countFailedAttempt(deps.db, 'invites', invite.id, { maxAttempts: deps.maxAttempts, lockoutMs: deps.lockoutMs })) {
          return signInView(c, e, `Too many failed attempts. Try again in ${Math.ceil(deps.lockoutMs / 60_000)} minutes.`, 423);
        }
        return signInView(c, e, 'The username or password is incorrect.', 400);
      }
      await clearFailedAttempts(deps.db, 'invites', invite.id);
    }
    if (e.ownership === 'user_choice') {
      if (form.ownership !== 'corporate' && form.ownership !== 'personal') return signInView(c, e, 'Choose who owns this device.', 400);
      const corporate = form.ownership === 'corporate';
      await deps.db
        .updateTable('enrollments')
        // Organization-owned devices always use Device Enrollment.
        .set({ device_ownership: corporate ? 'corporate' : 'personal', ...(corporate ? { enrollment_type: 'device' as const } : {}), updated_at: sql`now()` })
        .where('id', '=', e.id)
        .execute();
    }
    await signedIn(c, e, invite.id);
    return c.redirect(nextStep((await load(e.id))!), 303);
  });

  app.get('/:id/scope', async (c) => {
    const r = await open(c, { signedIn: true });
    return r.ok ? c.html(scopePage({ action: c.req.path, organization: org, csrf: csrfTokens.token(c, r.enrollment.id) })) : r.response;
  });

  app.post('/:id/scope', async (c) => {
    const r = await open(c, { signedIn: true });
    if (!r.ok) return r.response;
    const e = r.enrollment;
    if (e.enrollment_type) return c.redirect(nextStep(e), 303);
    const form = await c.req.parseBody();
    const kind: EnrollmentKind = form.scope === 'device' ? 'device' : 'user';
    await deps.db.updateTable('enrollments').set({ enrollment_type: kind, updated_at: sql`now()` }).where('id', '=', e.id).execute();
    return c.redirect(nextStep((await load(e.id))!), 303);
  });

  const knownManagedAppleId = async (e: Enrollment) =>
    (await deps.db.selectFrom('users').select('managed_apple_id').where('id', '=', e.user_id).executeTakeFirstOrThrow()).managed_apple_id ?? '';

  app.get('/:id/managed-apple-id', async (c) => {
    const r = await open(c, { signedIn: true });
    return r.ok ? c.html(managedAppleIdPage({ action: c.req.path, organization: org, csrf: csrfTokens.token(c, r.enrollment.id), value: await knownManagedAppleId(r.enrollment) })) : r.response;
  });

  app.post('/:id/managed-apple-id', async (c) => {
    const r = await open(c, { signedIn: true });
    if (!r.ok) return r.response;
    const e = r.enrollment;
    const form = await c.req.parseBody();
    const parsed = managedAppleIdSchema.safeParse(typeof form.managedAppleId === 'string' ? form.managedAppleId.trim() : '');
    if (!parsed.success) {
      return c.html(managedAppleIdPage({ action: c.req.path, organization: org, csrf: csrfTokens.token(c, e.id), value: String(form.managedAppleId ?? ''), error: 'Enter your Managed Apple ID, for example name@company.com.' }), 400);
    }
    await deps.db.updateTable('users').set({ managed_apple_id: parsed.data, updated_at: sql`now()` }).where('id', '=', e.user_id).execute();
    return c.redirect(`/enroll/${e.id}/download`, 303);
  });

  app.get('/:id/download', async (c) => {
    const r = await open(c, { signedIn: true });
    if (!r.ok) return r.response;
    const e = r.enrollment;
    if (!e.enrollment_type) return c.redirect(nextStep(e), 303);
    const browser = classifyUserAgent(c.req.header('user-agent'));
    let kind: EnrollmentKind = e.enrollment_type;
    let notice: string | undefined;
    if (kind === 'user' && browser.kind === 'desktop-mode') {
      // The guide: a desktop-mode Safari can only install the Device Enrollment profile.
      const mayUseDevice = e.ownership === 'user_choice' && c.req.query('device') === '1';
      if (!mayUseDevice) return c.html(desktopModePage({ organization: org, ...(e.ownership === 'user_choice' ? { deviceEnrollmentHref: `${c.req.path}?device=1` } : {}) }));
      kind = 'device';
      notice = 'Desktop Website mode: this is the Device Enrollment profile.';
    }
    if (kind === 'user' && needsAccountDrivenEnrollment(browser)) {
      return c.html(accountDrivenPage({ organization: org, managedAppleId: await knownManagedAppleId(e) }));
    }
    const token = randomBytes(24).toString('base64url');
    await deps.db
      .insertInto('profile_downloads')
      .values({ enrollment_id: e.id, token_hash: sha256(token), enrollment_type: kind, expires_at: new Date(Date.now() + DOWNLOAD_LINK_TTL_MS) })
      .execute();
    return c.html(downloadPage({ organization: org, href: `/enroll/${e.id}/profile/${token}`, kind, ...(notice ? { notice } : {}) }));
  });

  app.get('/:id/profile/:token', async (c) => {
    const r = await open(c, { signedIn: true });
    if (!r.ok) return r.response;
    const e = r.enrollment;
    const issued = await issueProfile(deps, e.id, sha256(c.req.param('token')));
    if (!issued) {
      return c.html(
        messagePage({ organization: org, title: 'Download link already used', message: 'Each download link works once. Go back to the previous page and reload it for a new link.' }),
        410,
      );
    }
    void deps.relay.kick();
    return c.body(new Uint8Array(issued.der), 200, {
      'content-type': 'application/x-apple-aspen-config',
      'content-disposition': `attachment; filename="${org.replace(/[^A-Za-z0-9]+/g, '-')}-enrollment.mobileconfig"`,
      'cache-control': 'no-store',
    });
  });

  return app;
}
