/** The activity surface the enrollment workflow calls. Implemented in activities/, type-only here. */
import type { EnrollmentStatus } from '../domain/lifecycle.js';

/** Every activity input carries `<workflowId>:<step>`: a retried activity has one effect. */
interface Keyed {
  enrollmentId: string;
  idempotencyKey: string;
}

export interface RecordTransitionInput extends Keyed {
  from: EnrollmentStatus;
  to: EnrollmentStatus;
  reason?: string;
}

export interface DeliverInviteInput extends Keyed {
  reminder: boolean;
}

export type PushOutcome = 'delivered' | 'unregistered' | 'no_token' | 'rejected';

export interface EnrollmentActivities {
  /** New one-time password and credentials (revoking any earlier ones). */
  issueInvite(input: Keyed): Promise<{ inviteId: string; expiresAt: string }>;
  /** Sends the live invite by the enrollment's channel (email or SMS). */
  deliverInvite(input: DeliverInviteInput): Promise<{ channel: string; messageId: string }>;
  recordTransition(input: RecordTransitionInput): Promise<void>;
  /** Queues the first queries for a newly enrolled device (only those its enrollment type allows). */
  queueInitialCommands(input: Keyed): Promise<{ commandUuids: string[] }>;
  /** Releases a command the API staged for an admin action, so the device receives it. */
  releaseCommand(input: Keyed & { commandUuid: string }): Promise<void>;
  /** Queues RemoveProfile of the enrollment profile (admin disenrollment). */
  queueRemoval(input: Keyed): Promise<{ commandUuid: string }>;
  /** Marks the device inactive (or active again, with `reason` null). */
  markInactive(input: Keyed & { reason: string | null }): Promise<void>;
  /** When the device last reached Tandem (ISO), if ever. */
  lastContact(input: Keyed): Promise<{ lastSeenAt: string | null }>;
  /**
   * Forgets everything the enrollment held: pending commands, push token and PushMagic, device
   * identity binding, bearer tokens, invite secrets; writes the audit record.
   */
  cleanUpEnrollment(input: Keyed & { reason: string }): Promise<void>;
  /** Tells the user their work data was removed from the device. */
  notifyDisenrolled(input: Keyed): Promise<{ sent: boolean }>;
  /** Queues the policy versions this enrollment has not received yet; returns how many, and the required apps. */
  applyPolicies(input: Keyed): Promise<{ queued: number; apps?: { adamId: string; bundleId: string }[] }>;
  /** The agent app to deploy, if one is configured with an Apps and Books token. */
  agentConfig(input: Keyed): Promise<{ adamId: string; bundleId: string } | null>;
  /** Returns the user's Apps and Books licences when they have no other enrollment. */
  releaseLicences(input: Keyed): Promise<{ released: number }>;
  /** An APNs MDM push so the device checks in; the queued commands it announces are marked pushed. */
  pushDevice(input: Keyed): Promise<{ outcome: PushOutcome }>;
  /** Shows (reason) or clears (null) the enrollment's `attention` in Postgres, with an audit line. */
  recordAttention(input: Keyed & { reason: string | null; detail: string | null }): Promise<void>;
  /** Reports a step whose failure does not hold the lifecycle (a notification, a licence release): an audit line. */
  reportFailure(input: Keyed & { step: string; failure: string }): Promise<void>;
  /** The device identity currently bound to the device, and whether a renewal awaits the device. */
  identityStatus(input: Keyed): Promise<IdentityStatus>;
  /**
   * Issues a new identity (one per idempotency key) and queues InstallProfile of the updated
   * enrollment profile that carries it. The caller pushes the device afterwards.
   */
  renewIdentity(input: Keyed): Promise<{ commandUuid: string; expiresAt: string }>;
}

export interface IdentityStatus {
  /** ISO times of the bound identity */
  issuedAt: string;
  expiresAt: string;
  /** when it reaches TANDEM_IDENTITY_RENEW_AT percent of its life: renew from then on */
  renewAt: string;
  /** a renewed identity was issued and the device has not yet signed with it */
  pendingRenewal: boolean;
}

export interface AppTarget {
  enrollmentId: string;
  adamId: string;
  bundleId: string;
}

/** The activities of agentDeploymentWorkflow, the older app deployment workflow that running histories still replay. */
export interface LegacyAppDeploymentActivities {
  /** VPP: the user (by Managed Apple ID) and a user licence for the app. Fails NoLicences / VppTokenInvalid. */
  assignLicence(input: AppTarget & { idempotencyKey: string }): Promise<void>;
  /** InstallApplication with a user licence (PurchaseMethod 1). */
  queueAppInstall(input: AppTarget & { idempotencyKey: string }): Promise<{ commandUuid: string }>;
  /**
   * The app's status from the device's latest ManagedApplicationList answer given after this
   * attempt's InstallApplication (older answers describe an earlier attempt), then asks again.
   */
  checkAppStatus(input: AppTarget & { installCommandUuid: string; idempotencyKey: string }): Promise<{ deviceStatus: string | null }>;
  recordAppStatus(input: AppTarget & { status: string; detail?: string; idempotencyKey: string }): Promise<void>;
  /** Reminds the user to approve the install prompt. */
  remindAppApproval(input: AppTarget & { idempotencyKey: string }): Promise<void>;
  pushDevice(input: Keyed): Promise<{ outcome: PushOutcome }>;
}

/** What one licence attempt came to; everything but `assigned` is already recorded as the app's status. */
export type LicenceOutcome =
  | { outcome: 'assigned' }
  | { outcome: 'waiting_for_licences' | 'vpp_token_invalid' | 'vpp_not_configured' | 'failed'; detail: string };

/**
 * appDeploymentWorkflow's activities: each does one whole step (status, command and push
 * together), so a deployment costs few Temporal actions however long it waits.
 */
export interface AppActivities {
  /**
   * VPP licence for the app. Never fails for what a person must fix: no licences, an invalid or
   * missing token, or a refusal are recorded as the app's status (with an attention event for the
   * enrollment) and returned.
   */
  licenseApp(input: AppTarget & { idempotencyKey: string }): Promise<LicenceOutcome>;
  /** Records `installing`, queues InstallApplication and pushes, in one step. */
  installApp(input: AppTarget & { idempotencyKey: string }): Promise<{ commandUuid: string }>;
  /**
   * Queues a ManagedApplicationList for the app's bundle id and pushes; when `remind`, also mails
   * the user a reminder to answer the prompt. The device's answer comes back as a signal.
   */
  recheckApp(input: AppTarget & { idempotencyKey: string; remind: boolean }): Promise<void>;
  recordAppStatus(input: AppTarget & { status: string; detail?: string; idempotencyKey: string }): Promise<void>;
}
