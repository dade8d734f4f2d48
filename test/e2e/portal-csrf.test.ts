/**
 * The portal's CSRF tokens, over real HTTP: every form carries a token bound to the browser's
 * cookie and the enrollment; a POST without it, with another browser's, or with another
 * enrollment's is refused (403 `csrf_token_invalid`) before anything changes, and a real browser
 * (the simulated iPhone) still walks the whole portal.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formOn, parseInvite, SimulatedDevice } from '../../scripts/simulator/device.js';
import { startTestStack, type TestStack } from '../support/stack.js';

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(() => stack?.stop({ noFailedWorkflows: true }));

const tag = () => Math.random().toString(36).slice(2, 8);

async function invited(body: { ownership: 'personal' | 'corporate' | 'user_choice'; authMode: 'open' | 'authenticated' }) {
  const email = `csrf.${tag()}@example.com`;
  const res = await stack.admin('/api/v1/enrollments', {
    method: 'POST',
    body: JSON.stringify({ user: { name: 'Csrf User', email }, channel: 'email', managedAppleId: `m.${tag()}@acme.example`, ...body }),
  });
  expect(res.status, await res.clone().text()).toBe(201);
  const created = (await res.json()) as { id: string; workflowId: string };
  const invite = parseInvite((await stack.smtp.waitFor((m) => m.to.includes(email) && m.text.includes(created.id), 15_000)).text);
  return { created, invite };
}

/** The CSRF token in the form of a page this browser loads. */
async function tokenOn(device: SimulatedDevice, url: string): Promise<string> {
  const page = await device.browse(url);
  expect(page.status).toBe(200);
  const token = formOn(page.body.toString())?.hidden.csrf;
  expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
  return token!;
}

function expectRefused(page: { status: number; body: Buffer }, enrollmentId: string) {
  const html = page.body.toString();
  expect(page.status).toBe(403);
  expect(html).toContain('data-error-code="csrf_token_invalid"');
  expect(html).toContain('This form has expired or was not sent from the enrollment page. Go back and try again.');
  expect(html).toContain(`href="/enroll/${enrollmentId}"`);
}

const db = () => stack.database.db;
const portalAuthenticatedEvents = async (workflowId: string) =>
  (await db().selectFrom('outbox').select('dedupe_key').where('workflow_id', '=', workflowId).execute()).filter((r) => r.dedupe_key.includes(':portal-authenticated:')).length;

/** A raw form POST with an explicit cookie, as a browser with that cookie would send it. */
const post = (url: string, cookie: string | undefined, form: Record<string, string>) =>
  fetch(url, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin: new URL(url).origin, ...(cookie ? { cookie } : {}) },
    body: new URLSearchParams(form).toString(),
  });

describe('portal CSRF tokens', () => {
  it('come with an HttpOnly, SameSite=Lax cookie scoped to the enrollment, and are kept once set', async () => {
    const { created, invite } = await invited({ ownership: 'personal', authMode: 'open' });
    const first = await fetch(invite.enrollmentUrl);
    expect(first.status).toBe(200);
    const set = first.headers.getSetCookie().find((c) => c.startsWith('tandem_portal_csrf='));
    expect(set).toBeDefined();
    expect(set).toMatch(/; HttpOnly/i);
    expect(set).toMatch(/; SameSite=Lax/i);
    expect(set).toContain(`; Path=/enroll/${created.id}`);
    expect(set).not.toMatch(/; Secure/i); // plain http here; https requests get Secure
    const token = formOn(await first.text())?.hidden.csrf;
    expect(token).toBeDefined();

    const cookie = set!.split(';')[0]!;
    const again = await fetch(invite.enrollmentUrl, { headers: { cookie } });
    expect(again.headers.getSetCookie().some((c) => c.startsWith('tandem_portal_csrf='))).toBe(false);
    expect(formOn(await again.text())?.hidden.csrf).toBe(token);
  });

  it('refuse a POST without or with a wrong token, and nothing is recorded', async () => {
    const { created, invite } = await invited({ ownership: 'personal', authMode: 'open' });
    const device = new SimulatedDevice();
    const token = await tokenOn(device, invite.enrollmentUrl);

    expectRefused(await device.browse(invite.enrollmentUrl, { accept: 'yes' }), created.id);
    expectRefused(await device.browse(invite.enrollmentUrl, { accept: 'yes', csrf: '' }), created.id);
    expectRefused(await device.browse(invite.enrollmentUrl, { accept: 'yes', csrf: `${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}` }), created.id);
    expectRefused(await device.browse(invite.enrollmentUrl, { accept: 'yes', csrf: `${token}x` }), created.id);
    // Not signed in: the download page sends the browser back to the terms, and no event was recorded.
    expect(formOn((await device.browse(`${invite.enrollmentUrl}/download`)).body.toString())?.action).toBe(`/enroll/${created.id}`);
    expect(await portalAuthenticatedEvents(created.workflowId)).toBe(0);
    expect((await db().selectFrom('enrollments').select('status').where('id', '=', created.id).executeTakeFirstOrThrow()).status).toBe('invited');

    // The same request with the token signs in (so the checks above can fail).
    const accepted = await device.browse(invite.enrollmentUrl, { accept: 'yes', csrf: token });
    expect(accepted.status).toBe(200);
    expect(accepted.url).toMatch(/\/managed-apple-id$/);
    expect(await portalAuthenticatedEvents(created.workflowId)).toBe(1);
  });

  it('refuse a sign-in with the right password but no token: not signed in, no attempt counted', async () => {
    const { created, invite } = await invited({ ownership: 'user_choice', authMode: 'authenticated' });
    const signIn = `${invite.enrollmentUrl}/sign-in`;
    const device = new SimulatedDevice();
    const token = await tokenOn(device, signIn);

    expectRefused(await device.browse(signIn, { username: invite.username, password: invite.password!, ownership: 'corporate' }), created.id);
    expectRefused(await device.browse(signIn, { username: invite.username, password: 'WRONGPASS1', ownership: 'corporate' }), created.id);
    const enrollment = () => db().selectFrom('enrollments').select(['device_ownership', 'enrollment_type']).where('id', '=', created.id).executeTakeFirstOrThrow();
    const inviteRow = () => db().selectFrom('invites').select(['failed_attempts', 'locked_until']).where('enrollment_id', '=', created.id).executeTakeFirstOrThrow();
    expect(await enrollment()).toEqual({ device_ownership: null, enrollment_type: null });
    expect(await inviteRow()).toEqual({ failed_attempts: 0, locked_until: null });
    expect(await portalAuthenticatedEvents(created.workflowId)).toBe(0);
    expect((await device.browse(`${invite.enrollmentUrl}/scope`)).url).toBe(invite.enrollmentUrl);

    // With the token: a wrong password counts, and the page it answers with carries a working token.
    const wrong = await device.browse(signIn, { username: invite.username, password: 'WRONGPASS1', ownership: 'corporate', csrf: token });
    expect(wrong.status).toBe(400);
    expect(await inviteRow()).toMatchObject({ failed_attempts: 1 });
    const retry = formOn(wrong.body.toString())!;
    const right = await device.browse(new URL(retry.action, signIn).href, { ...retry.hidden, username: invite.username, password: invite.password!, ownership: 'corporate' });
    expect(right.status).toBe(200);
    expect(right.url).toMatch(/\/download$/);
    expect(await enrollment()).toEqual({ device_ownership: 'corporate', enrollment_type: 'device' });
    expect(await portalAuthenticatedEvents(created.workflowId)).toBe(1);
  });

  it("refuse a token rendered for another browser's cookie, or sent without a cookie", async () => {
    const { created, invite } = await invited({ ownership: 'personal', authMode: 'open' });
    const alice = new SimulatedDevice();
    const mallory = new SimulatedDevice();
    const aliceToken = await tokenOn(alice, invite.enrollmentUrl);
    const malloryToken = await tokenOn(mallory, invite.enrollmentUrl);
    expect(malloryToken).not.toBe(aliceToken);

    expectRefused(await mallory.browse(invite.enrollmentUrl, { accept: 'yes', csrf: aliceToken }), created.id);
    expectRefused(await new SimulatedDevice().browse(invite.enrollmentUrl, { accept: 'yes', csrf: aliceToken }), created.id);
    expect(await portalAuthenticatedEvents(created.workflowId)).toBe(0);

    expect((await alice.browse(invite.enrollmentUrl, { accept: 'yes', csrf: aliceToken })).url).toMatch(/\/managed-apple-id$/);
  });

  it('refuse a token rendered for another enrollment, even with the same cookie', async () => {
    const one = await invited({ ownership: 'personal', authMode: 'open' });
    const two = await invited({ ownership: 'personal', authMode: 'open' });
    const first = await fetch(one.invite.enrollmentUrl);
    const cookie = first.headers.getSetCookie().find((c) => c.startsWith('tandem_portal_csrf='))!.split(';')[0]!;
    const tokenForOne = formOn(await first.text())!.hidden.csrf!;
    // The same browser value on the second enrollment (as if the cookie were not path-scoped).
    const tokenForTwo = formOn(await (await fetch(two.invite.enrollmentUrl, { headers: { cookie } })).text())!.hidden.csrf!;
    expect(tokenForTwo).not.toBe(tokenForOne);

    const refused = await post(two.invite.enrollmentUrl, cookie, { accept: 'yes', csrf: tokenForOne });
    expectRefused({ status: refused.status, body: Buffer.from(await refused.arrayBuffer()) }, two.created.id);
    expect(refused.headers.getSetCookie().some((c) => c.startsWith('tandem_portal='))).toBe(false);
    expect(await portalAuthenticatedEvents(two.created.workflowId)).toBe(0);

    const accepted = await post(two.invite.enrollmentUrl, cookie, { accept: 'yes', csrf: tokenForTwo });
    expect(accepted.status).toBe(303);
    expect(accepted.headers.getSetCookie().some((c) => c.startsWith('tandem_portal='))).toBe(true);
  });

  it('let a browser walk every form: terms, sign-in with ownership, scope, Managed Apple ID, download', async () => {
    const { invite } = await invited({ ownership: 'user_choice', authMode: 'authenticated' });
    const device = new SimulatedDevice();
    const der = await device.enrollThroughPortal(invite.enrollmentUrl, {
      username: invite.username,
      password: invite.password!,
      ownership: 'personal',
      scope: 'user',
      managedAppleId: `walked.${tag()}@acme.example`,
    });
    expect(device.installProfile(der).kind).toBe('user');
  });
});
