import type { EnrollmentKind } from './kinds.js';

/** Events from the portal, devices, admins and app deployments. They arrive through the Postgres outbox. */
export type EnrollmentEvent =
  | { type: 'portal_authenticated' }
  | { type: 'profile_issued'; enrollmentType: EnrollmentKind; ownership: 'personal' | 'corporate' }
  | { type: 'device_authenticated' }
  | { type: 'token_updated' }
  | { type: 'checked_out' }
  | { type: 'disenroll_requested'; reason: string }
  /** the device acknowledged RemoveProfile of its enrollment profile */
  | { type: 'removal_confirmed' }
  /** an inactive device checked in again */
  | { type: 'device_seen' }
  /** a policy reaching this enrollment was created or changed */
  | { type: 'policies_changed' }
  /** the admin's "sync" of the agent app: restart a stalled or denied deployment */
  | { type: 'agent_sync' }
  /** Apps and Books licences were purchased (admin action or ASSET_COUNT notification) */
  | { type: 'licences_available' }
  /** an Apps and Books app to deploy (Install Application action, Required Apps policy) */
  | { type: 'app_install_requested'; adamId: string; bundleId: string }
  /** an app deployment is stuck on something a person must fix (an expired Apps and Books token) */
  | { type: 'app_attention'; adamId: string; reason: AppAttentionReason }
  | { type: 'app_attention_cleared'; adamId: string }
  /** the device signed a request with its renewed identity (the old one is refused from now on) */
  | { type: 'identity_renewed' }
  /** the device answered the renewal's InstallProfile with an error */
  | { type: 'identity_renewal_failed'; reason: string }
  /** the admin's retry of an enrollment in `attention`, or a fix that resumes it (`cause`) */
  | { type: 'retry'; cause?: 'admin' | 'push_certificate' }
  | { type: 'resend_requested' }
  | { type: 'cancel_requested'; reason: string };

/** Events for one app deployment (signals by workflow id, through the outbox or from the enrollment workflow). */
export type AppEvent =
  /** the admin's "sync" (or a new Apps and Books token): try again */
  | { type: 'sync' }
  | { type: 'licences_available' }
  /**
   * The device's own answer about this app, sent once per change (InstallApplication `State`,
   * ManagedApplicationList `Status`, presence in InstalledApplicationList as `Managed`), for the
   * InstallApplication command of the attempt it answers.
   */
  | { type: 'device_status'; status: string; installCommandUuid: string };

export type AppAttentionReason = 'vpp_token_invalid' | 'vpp_not_configured';
