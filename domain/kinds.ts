/** The choices an enrollment is made of. */
export type EnrollmentKind = 'user' | 'device';
export type Ownership = 'personal' | 'corporate' | 'user_choice';
/** How the user was invited; `account`: no invite, the user started from Settings (account-driven). */
export type InviteChannel = 'email' | 'sms' | 'account';

export const enrollmentKindLabel = (kind: EnrollmentKind | null): string =>
  kind === 'user' ? 'User Enrollment' : kind === 'device' ? 'Device Enrollment' : 'enrollment type not chosen yet';
