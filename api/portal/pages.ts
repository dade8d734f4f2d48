/**
 * Enrollment portal pages: server-rendered HTML for mobile Safari, no JavaScript. Wording follows
 * the vendor guide the product is modelled on. Every interpolated value is escaped by `html`.
 */
import { html } from 'hono/html';
import type { HtmlEscapedString } from 'hono/utils/html';
import { CSRF_FIELD } from './csrf.js';

type Html = HtmlEscapedString | Promise<HtmlEscapedString>;

const style = `
body{font:17px/1.45 -apple-system,system-ui,sans-serif;margin:0;background:#f2f2f7;color:#1c1c1e}
main{max-width:34rem;margin:0 auto;padding:1.5rem 1.25rem}
h1{font-size:1.5rem;margin:.5rem 0 1rem}
.card{background:#fff;border-radius:12px;padding:1.25rem;margin:1rem 0}
label{display:block;margin:.75rem 0 .25rem;font-weight:600}
input[type=text],input[type=email],input[type=password]{width:100%;box-sizing:border-box;font-size:17px;padding:.7rem;border:1px solid #c7c7cc;border-radius:8px}
.choice{display:flex;gap:.6rem;align-items:flex-start;font-weight:400;margin:.8rem 0}
button,.button{display:block;width:100%;box-sizing:border-box;text-align:center;font-size:17px;font-weight:600;padding:.85rem;margin-top:1.25rem;border:0;border-radius:10px;background:#0a84ff;color:#fff;text-decoration:none}
.error{background:#ffe5e5;color:#a00;border-radius:8px;padding:.75rem}
.note{color:#6c6c70;font-size:15px}
ol li{margin:.4rem 0}`;

export function layout(title: string, organization: string, body: Html): Html {
  return html`<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>${title} · ${organization}</title>
    <style>${style}</style>
  </head>
  <body>
    <main>
      <p class="note">${organization} device enrollment</p>
      ${body}
    </main>
  </body>
</html>`;
}

const errorBox = (error?: string) => (error ? html`<p class="error" role="alert">${error}</p>` : '');
/** Every form carries the portal's CSRF token (see csrf.ts). */
const csrfInput = (token: string) => html`<input type="hidden" name="${CSRF_FIELD}" value="${token}" />`;

export function termsPage(p: { action: string; organization: string; csrf: string; error?: string }): Html {
  return layout(
    'Enroll your device',
    p.organization,
    html`<h1>Enroll your device</h1>
      ${errorBox(p.error)}
      <div class="card">
        <p>${p.organization} will manage work apps and data on this device. With User Enrollment your
        personal apps, data and photos stay private: ${p.organization} cannot see them, cannot read the
        serial number, and cannot erase your device.</p>
        <form method="post" action="${p.action}">
          ${csrfInput(p.csrf)}
          <label class="choice"><input type="checkbox" name="accept" value="yes" /> I agree to the terms and conditions</label>
          <button type="submit">Enroll</button>
        </form>
      </div>`,
  );
}

export function signInPage(p: { action: string; organization: string; csrf: string; username: string; askOwnership: boolean; askPassword: boolean; error?: string }): Html {
  return layout(
    'Sign in',
    p.organization,
    html`<h1>${p.askPassword ? 'Sign in' : 'Who owns this device?'}</h1>
      ${errorBox(p.error)}
      <div class="card">
        <form method="post" action="${p.action}">
          ${csrfInput(p.csrf)}
          ${p.askPassword
            ? html`<label for="username">Username</label>
                <input id="username" name="username" type="text" autocapitalize="none" autocorrect="off" value="${p.username}" required />
                <label for="password">Password</label>
                <input id="password" name="password" type="password" autocomplete="one-time-code" required />`
            : ''}
          ${p.askOwnership
            ? html`<label class="choice"><input type="radio" name="ownership" value="personal" checked /> I own this device</label>
                <label class="choice"><input type="radio" name="ownership" value="corporate" /> My organization owns this device</label>`
            : ''}
          <button type="submit">${p.askPassword ? 'Authenticate' : 'Continue'}</button>
        </form>
      </div>
      ${p.askPassword ? html`<p class="note">Use the username and one-time password from your enrollment invitation.</p>` : ''}`,
  );
}

export function scopePage(p: { action: string; organization: string; csrf: string }): Html {
  return layout(
    'How should your device be managed?',
    p.organization,
    html`<h1>How do you want ${p.organization} to manage this device?</h1>
      <div class="card">
        <form method="post" action="${p.action}">
          ${csrfInput(p.csrf)}
          <label class="choice"><input type="radio" name="scope" value="device" />
            <span><strong>Manage entire device</strong><br /><span class="note">To manage the device completely without limitations on MDM capabilities.</span></span></label>
          <label class="choice"><input type="radio" name="scope" value="user" checked />
            <span><strong>Manage only work-related data and apps</strong><br /><span class="note">To manage corporate data by creating a separate volume on the device with limited MDM capabilities.</span></span></label>
          <button type="submit">Continue</button>
        </form>
      </div>`,
  );
}

export function managedAppleIdPage(p: { action: string; organization: string; csrf: string; value: string; error?: string }): Html {
  return layout(
    'Managed Apple ID',
    p.organization,
    html`<h1>Enter your Managed Apple ID</h1>
      ${errorBox(p.error)}
      <div class="card">
        <form method="post" action="${p.action}">
          ${csrfInput(p.csrf)}
          <label for="managedAppleId">Managed Apple ID</label>
          <input id="managedAppleId" name="managedAppleId" type="email" autocapitalize="none" value="${p.value}" required />
          <button type="submit">Download Profile</button>
        </form>
        <p class="note">This is your work account (for example name@${p.organization.toLowerCase().replace(/[^a-z0-9]+/g, '')}.example), not your personal Apple ID.</p>
      </div>`,
  );
}

const nextSteps = (kind: 'user' | 'device', organization: string) => html`<ol>
  <li>Tap <strong>Allow</strong> when Safari asks to download the configuration profile, then <strong>Close</strong>.</li>
  <li>Open <strong>Settings</strong> and tap <strong>Enroll in ${organization}</strong> (or <strong>Profile Downloaded</strong>).</li>
  <li>Tap <strong>Enroll My iPhone</strong> (or <strong>Install</strong>) and follow the prompts.</li>
  ${kind === 'user' ? html`<li>Enter the password of your Managed Apple ID when asked.</li>` : html`<li>Enter your device passcode when asked.</li>`}
  <li>The profile then shows under <strong>General → VPN &amp; Device Management</strong>.</li>
</ol>`;

export function downloadPage(p: { organization: string; href: string; kind: 'user' | 'device'; notice?: string }): Html {
  return layout(
    'Download profile',
    p.organization,
    html`<h1>Download the enrollment profile</h1>
      ${p.notice ? html`<p class="note">${p.notice}</p>` : ''}
      <div class="card">
        <a class="button" href="${p.href}">Download Profile</a>
        <p class="note">The link works once. If the download fails, reload this page for a new one.</p>
      </div>
      <div class="card"><h2>Next steps</h2>${nextSteps(p.kind, p.organization)}</div>`,
  );
}

export function desktopModePage(p: { organization: string; deviceEnrollmentHref?: string }): Html {
  return layout(
    'Switch to the mobile website',
    p.organization,
    html`<h1>Safari is showing the desktop website</h1>
      <div class="card">
        <p>In Desktop Website mode only the Device Enrollment profile can be downloaded. To keep your
        personal data private with User Enrollment, tap <strong>aA</strong> in the address bar, choose
        <strong>Request Mobile Website</strong>, and reload this page.</p>
        ${p.deviceEnrollmentHref ? html`<a class="button" href="${p.deviceEnrollmentHref}">Continue with Device Enrollment</a>` : ''}
      </div>`,
  );
}

export function accountDrivenPage(p: { organization: string; managedAppleId: string }): Html {
  return layout(
    'Enroll from Settings',
    p.organization,
    html`<h1>Enroll from Settings</h1>
      <div class="card">
        <p>On iOS and iPadOS 18 and later, work accounts are added from Settings instead of a downloaded profile:</p>
        <ol>
          <li>Open <strong>Settings → General → VPN &amp; Device Management</strong>.</li>
          <li>Tap <strong>Sign In to Work or School Account</strong>.</li>
          <li>Enter <strong>${p.managedAppleId}</strong> and follow the prompts.</li>
        </ol>
      </div>`,
  );
}

/**
 * A page that only tells something. `code`, when given, is the machine-readable reason (like the
 * JSON API's `error.code`), shown small for support and in `data-error-code` for scripts; `back`
 * is a link to where the person can try again.
 */
export function messagePage(p: { organization: string; title: string; message: string; code?: string; back?: { href: string; label: string } }): Html {
  return layout(
    p.title,
    p.organization,
    html`<h1>${p.title}</h1>
      <div class="card"${p.code ? html` data-error-code="${p.code}"` : ''}>
        <p>${p.message}</p>
        ${p.back ? html`<a class="button" href="${p.back.href}">${p.back.label}</a>` : ''}
      </div>
      ${p.code ? html`<p class="note">Error code: ${p.code}</p>` : ''}`,
  );
}

/** The page a form gets when its body is over the limit (portal and account-driven sign-in). */
export const tooLargePage = (organization: string) => messagePage({ organization, title: 'Request too large', message: 'Please go back and try again.' });
