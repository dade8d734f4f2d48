/**
 * Invite wording for employees enrolling their own iPhone. Plain text and HTML say the same
 * thing; every interpolated value is escaped in the HTML, which uses inline styles only and loads
 * nothing remote (mail clients block remote content and it would leak when the mail is opened).
 */

export interface InviteMessageValues {
  userName: string;
  organization: string;
  enrollmentUrl: string;
  username: string;
  /** null for open enrollment: the portal asks for no password */
  password: string | null;
  expiresAt: Date;
  reminder: boolean;
  /** also explain account-driven User Enrollment from Settings (iOS 18 or later) */
  accountDrivenHint: boolean;
  /** IANA zone for the expiry; default UTC, since the user's own zone is unknown */
  timeZone?: string;
}

export interface InviteEmail {
  subject: string;
  text: string;
  html: string;
}

const SETTINGS_PATH = ['Settings', 'General', 'VPN & Device Management', 'Sign In to Work or School Account'];

export function renderInviteEmail(v: InviteMessageValues): InviteEmail {
  const url = safeUrl(v.enrollmentUrl);
  const org = oneLine(v.organization);
  const name = oneLine(v.userName);
  const expires = formatExpiry(v.expiresAt, 'long', v.timeZone);
  const subject = `${v.reminder ? 'Reminder: ' : ''}Enroll your iPhone with ${org}`;
  const intro = v.reminder
    ? `This is a reminder: your invitation to enroll your iPhone with ${org} is still waiting.`
    : `${org} has invited you to enroll your personal iPhone, so you can use work apps and data on it.`;
  const openInSafari = 'On your iPhone, open this link in Safari (other browsers cannot install the enrollment profile):';
  const credentials: [string, string][] = [['Username', oneLine(v.username)]];
  if (v.password !== null) credentials.push(['One-time password', v.password]);
  const passwordNote = v.password === null ? 'No password is needed on the enrollment page.' : 'Keep the password to yourself: it is only for this enrollment.';
  const expiry = `The link${v.password === null ? '' : ' and password'} expire on ${expires}.`;
  const hint = v.accountDrivenHint
    ? {
        lead: 'On iOS 18 or later, enroll from Settings instead:',
        path: SETTINGS_PATH.join(' → '),
        tail: 'and sign in with your work account. On older iOS versions, use the link above.',
      }
    : undefined;
  const closing = "If you weren't expecting this message, ignore it or contact your IT team.";

  const text = [
    `Hello ${name},`,
    '',
    intro,
    '',
    openInSafari,
    url,
    '',
    ...credentials.map(([label, value]) => `${label}: ${value}`),
    '',
    `${passwordNote} ${expiry}`,
    ...(hint ? ['', `${hint.lead} ${hint.path}, ${hint.tail}`] : []),
    '',
    closing,
    '',
  ].join('\n');

  const p = 'margin:0 0 16px 0;';
  const html = [
    '<!DOCTYPE html>',
    '<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"></head>',
    '<body style="margin:0;padding:24px;background:#f5f5f7;font-family:-apple-system,Helvetica,Arial,sans-serif;font-size:16px;line-height:1.5;color:#1d1d1f;">',
    '<div style="max-width:560px;margin:0 auto;padding:24px;background:#ffffff;border-radius:12px;">',
    `<p style="${p}">Hello ${esc(name)},</p>`,
    `<p style="${p}">${esc(intro)}</p>`,
    `<p style="${p}">${esc(openInSafari)}</p>`,
    `<p style="${p}text-align:center;"><a href="${esc(url)}" style="display:inline-block;padding:12px 24px;background:#0071e3;color:#ffffff;text-decoration:none;border-radius:8px;font-weight:600;">Enroll my iPhone</a></p>`,
    `<p style="${p}font-size:13px;color:#6e6e73;word-break:break-all;">${esc(url)}</p>`,
    `<table role="presentation" style="${p}border-collapse:collapse;">`,
    ...credentials.map(
      ([label, value]) =>
        `<tr><td style="padding:4px 16px 4px 0;color:#6e6e73;">${esc(label)}</td><td style="padding:4px 0;font-family:Menlo,Consolas,monospace;font-size:17px;">${esc(value)}</td></tr>`,
    ),
    '</table>',
    `<p style="${p}">${esc(passwordNote)} ${esc(expiry)}</p>`,
    ...(hint ? [`<p style="${p}">${esc(hint.lead)} <strong>${esc(hint.path)}</strong>, ${esc(hint.tail)}</p>`] : []),
    `<p style="margin:0;font-size:13px;color:#6e6e73;">${esc(closing)}</p>`,
    '</div></body></html>',
  ].join('\n');

  return { subject, text, html };
}

const SMS_TARGET_LENGTH = 320;

/**
 * Short text for SMS: link, username, password, expiry first; the greeting and the iOS 18 hint
 * only when they still fit in two segments. ASCII only, so carriers keep the 160-char GSM
 * encoding instead of 70-char UCS-2 segments.
 */
export function renderInviteSms(v: InviteMessageValues): string {
  const org = oneLine(v.organization);
  const essentials = [
    `${v.reminder ? 'Reminder: enroll' : 'Enroll'} your iPhone with ${org}. Open in Safari: ${safeUrl(v.enrollmentUrl)}`,
    `Username: ${oneLine(v.username)}`,
    ...(v.password === null ? [] : [`Password: ${v.password}`]),
    `Expires ${formatExpiry(v.expiresAt, 'short', v.timeZone)}.`,
  ].join('\n');
  const greeting = `Hi ${oneLine(v.userName)}, `;
  const hint = `\nOn iOS 18+ you can instead use Settings > General > VPN & Device Management > Sign In to Work or School Account.`;

  let message = essentials;
  if (v.accountDrivenHint && (message + hint).length <= SMS_TARGET_LENGTH) message += hint;
  if ((greeting + message).length <= SMS_TARGET_LENGTH) message = greeting + lowerFirst(message);
  return message;
}

/** HTML escaping for text and double-quoted attribute values. */
export function esc(value: string): string {
  return value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Only web links may reach an invite: anything else (javascript:, data:) is a bug or an attack. */
function safeUrl(raw: string): string {
  const url = new URL(raw);
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error(`enrollment URL must be http(s), got ${url.protocol}`);
  return url.toString();
}

/** Names come from admins and directories; keep them from breaking lines or headers. */
function oneLine(value: string): string {
  return value.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
}

function lowerFirst(value: string): string {
  return value.charAt(0).toLowerCase() + value.slice(1);
}

function formatExpiry(at: Date, style: 'long' | 'short', timeZone = 'UTC'): string {
  return new Intl.DateTimeFormat('en-US', {
    timeZone,
    year: style === 'long' ? 'numeric' : undefined,
    month: style,
    day: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
    timeZoneName: 'short',
  }).format(at);
}
