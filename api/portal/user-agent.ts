/**
 * What the portal needs to know about the browser. Safari on iPhone and iPad reports
 * "CPU iPhone OS 17_5 like Mac OS X" / "CPU OS 17_5 like Mac OS X"; in Desktop Website mode it
 * claims to be a Mac, and then only a Device Enrollment profile can be installed.
 */
export type BrowserKind = 'ios' | 'desktop-mode' | 'other';

export interface BrowserInfo {
  kind: BrowserKind;
  /** iOS/iPadOS major version, when the user agent tells it */
  iosMajor?: number;
}

export function classifyUserAgent(ua: string | undefined): BrowserInfo {
  const text = ua ?? '';
  const ios = /\b(?:iPhone|iPad|iPod)\b.*?\bOS (\d+)[_.]\d+/.exec(text);
  if (ios) return { kind: 'ios', iosMajor: Number(ios[1]) };
  if (/\bMacintosh\b/.test(text) && /\bSafari\//.test(text) && !/\b(?:Chrome|Chromium|Firefox|Edg)\//.test(text)) return { kind: 'desktop-mode' };
  return { kind: 'other' };
}

/** iOS 18 removed profile-based User Enrollment: only account-driven enrollment remains. */
export function needsAccountDrivenEnrollment(info: BrowserInfo): boolean {
  return info.kind === 'ios' && (info.iosMajor ?? 0) >= 18;
}
