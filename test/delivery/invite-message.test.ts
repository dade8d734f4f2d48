import { describe, expect, it } from 'vitest';
import { renderInviteEmail, renderInviteSms, type InviteMessageValues } from '../../activities/messages/invite-message.js';

const base: InviteMessageValues = {
  userName: 'Ada Lovelace',
  organization: 'Acme',
  enrollmentUrl: 'https://mdm.acme.example/enroll/abc?x=1&y=2',
  username: 'ada@acme.example',
  password: 'K7XQ2MPH9R',
  expiresAt: new Date('2030-06-03T14:05:00Z'),
  reminder: false,
  accountDrivenHint: false,
};

describe('invite email', () => {
  it('carries the link, username, password and expiry in both parts', () => {
    const mail = renderInviteEmail(base);
    expect(mail.subject).toBe('Enroll your iPhone with Acme');
    for (const part of [mail.text, mail.html]) {
      expect(part).toContain('ada@acme.example');
      expect(part).toContain('K7XQ2MPH9R');
      expect(part).toContain('Safari');
      expect(part).toMatch(/June 3, 2030.*14:05 UTC/);
    }
    expect(mail.text).toContain('https://mdm.acme.example/enroll/abc?x=1&y=2');
    expect(mail.html).toContain('href="https://mdm.acme.example/enroll/abc?x=1&#38;y=2"');
  });

  it('escapes every interpolated value in the HTML', () => {
    const mail = renderInviteEmail({
      ...base,
      userName: '<script>alert(1)</script>',
      organization: 'Acme "R&D" <Ltd>',
      username: "o'brien<b>",
      password: '<i>pw</i>',
    });
    expect(mail.html).not.toContain('<script>');
    expect(mail.html).toContain('&#60;script&#62;alert(1)&#60;/script&#62;');
    expect(mail.html).toContain('Acme &#34;R&#38;D&#34; &#60;Ltd&#62;');
    expect(mail.html).toContain('o&#39;brien&#60;b&#62;');
    expect(mail.html).toContain('&#60;i&#62;pw&#60;/i&#62;');
    expect(mail.html).not.toMatch(/<(b|i|Ltd)>/);
  });

  it('uses inline styles only and loads nothing remote', () => {
    const { html } = renderInviteEmail({ ...base, accountDrivenHint: true });
    expect(html).not.toMatch(/<style|<link|<img|<script|url\(/i);
    expect(html.match(/(?:src|href)="([^"]*)"/g)).toEqual(['href="https://mdm.acme.example/enroll/abc?x=1&#38;y=2"']);
  });

  it('explains account-driven enrollment from Settings on iOS 18 when asked', () => {
    const without = renderInviteEmail(base);
    const withHint = renderInviteEmail({ ...base, accountDrivenHint: true });
    expect(without.text).not.toContain('iOS 18');
    expect(withHint.text).toContain('iOS 18 or later');
    expect(withHint.text).toContain('Settings → General → VPN & Device Management → Sign In to Work or School Account');
    expect(withHint.text).toContain('older iOS');
    expect(withHint.html).toContain('VPN &#38; Device Management');
  });

  it('says so when open enrollment needs no password', () => {
    const mail = renderInviteEmail({ ...base, password: null });
    expect(mail.text).not.toContain('password:');
    expect(mail.text).not.toContain('K7XQ2MPH9R');
    expect(mail.text).toContain('No password is needed');
  });

  it('marks reminders', () => {
    const mail = renderInviteEmail({ ...base, reminder: true });
    expect(mail.subject).toBe('Reminder: Enroll your iPhone with Acme');
    expect(mail.text).toContain('reminder');
  });

  it('refuses a non-web enrollment link', () => {
    expect(() => renderInviteEmail({ ...base, enrollmentUrl: 'javascript:alert(1)' })).toThrow(/http/);
  });

  it('keeps names from breaking the subject line', () => {
    expect(renderInviteEmail({ ...base, organization: 'Acme\r\nBcc: x@evil.example' }).subject).not.toMatch(/[\r\n]/);
  });
});

describe('invite SMS', () => {
  it('carries link, username, password and expiry within two segments', () => {
    const sms = renderInviteSms(base);
    expect(sms).toContain('https://mdm.acme.example/enroll/abc?x=1&y=2');
    expect(sms).toContain('ada@acme.example');
    expect(sms).toContain('K7XQ2MPH9R');
    expect(sms).toMatch(/Jun 3.*14:05 UTC/);
    expect(sms.length).toBeLessThanOrEqual(320);
    expect(sms).toMatch(/^[\x20-\x7e\n]*$/);
  });

  it('adds the iOS 18 Settings path when it fits, and drops extras before essentials', () => {
    const hinted = renderInviteSms({ ...base, accountDrivenHint: true });
    expect(hinted).toContain('Sign In to Work or School Account');
    expect(hinted.length).toBeLessThanOrEqual(320);

    const longUrl = `https://mdm.acme.example/enroll/${'x'.repeat(200)}`;
    const long = renderInviteSms({ ...base, enrollmentUrl: longUrl, accountDrivenHint: true });
    expect(long).toContain(longUrl);
    expect(long).toContain('K7XQ2MPH9R');
    expect(long).not.toContain('Sign In to Work');
  });

  it('omits the password line for open enrollment', () => {
    expect(renderInviteSms({ ...base, password: null })).not.toContain('Password');
  });
});
