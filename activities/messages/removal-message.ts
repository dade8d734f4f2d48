/** The message that tells an employee their device left management and what was removed. */
import { esc } from './invite-message.js';

export interface RemovalMessageValues {
  userName: string;
  organization: string;
  kind: 'user' | 'device' | null;
}

export function renderRemovalEmail(v: RemovalMessageValues): { subject: string; text: string; html: string } {
  const subject = `Your device is no longer managed by ${v.organization}`;
  const what =
    v.kind === 'device'
      ? `${v.organization} no longer manages your device. The apps, settings and accounts ${v.organization} installed have been removed.`
      : `${v.organization} no longer manages your device. Your work account, managed apps and all work data have been removed from it; your personal apps, photos and data were not touched.`;
  const closing = `If you did not expect this, contact your ${v.organization} IT team.`;
  const text = [`Hello ${v.userName},`, '', what, '', closing].join('\n');
  const p = 'margin:0 0 16px;font:16px/1.5 -apple-system,Helvetica,Arial,sans-serif;color:#1d1d1f;';
  const html = [`<p style="${p}">Hello ${esc(v.userName)},</p>`, `<p style="${p}">${esc(what)}</p>`, `<p style="${p}">${esc(closing)}</p>`].join('\n');
  return { subject, text, html };
}

export function renderRemovalSms(v: RemovalMessageValues): string {
  return `${v.organization}: your device is no longer managed. Work apps and data were removed; personal data was not touched.`;
}
