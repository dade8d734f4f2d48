/**
 * Kysely table types. Personal data (names, emails, phone numbers, Apple IDs) lives only here, in
 * Postgres; workflows carry enrollment ids and states.
 *
 * User Enrollment privacy is structural: `devices` has no column for a serial number, UDID, IMEI
 * or MEID. Those live in `device_hardware_ids`, whose foreign key only accepts devices enrolled
 * with Device Enrollment (see migration 0001).
 */
import type { ColumnType, Generated, Insertable, JSONColumnType, Selectable, Updateable } from 'kysely';
import type { EnrollmentKind, InviteChannel, Ownership } from '../domain/kinds.js';
import type { EnrollmentStatus } from '../domain/lifecycle.js';

type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type NullableTimestamp = ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;

export { enrollmentStatuses, type EnrollmentStatus } from '../domain/lifecycle.js';
export type { EnrollmentKind, InviteChannel, Ownership } from '../domain/kinds.js';
export type AuthMode = 'authenticated' | 'open';

export interface UsersTable {
  id: string;
  name: string;
  email: string | null;
  phone: string | null;
  managed_apple_id: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
  /** directory credential for account-driven sign-in without an invite (scrypt) */
  password_hash: string | null;
  failed_attempts: Generated<number>;
  locked_until: NullableTimestamp;
  /** directory groups, for policies assigned to a group */
  groups: ColumnType<string[], string[] | undefined, string[]>;
}

export interface EnrollmentsTable {
  id: string;
  user_id: string;
  channel: InviteChannel;
  ownership: Ownership;
  /** null until the user decides (ownership `user_choice`) */
  enrollment_type: EnrollmentKind | null;
  /** the admin's Idempotency-Key for the request that created it */
  idempotency_key: ColumnType<string | null, string | null | undefined, never>;
  /** the user's answer when ownership is `user_choice` */
  device_ownership: 'personal' | 'corporate' | null;
  auth_mode: AuthMode;
  status: EnrollmentStatus;
  /** why the enrollment waits for a person (domain/attention.ts); null while nothing does */
  attention_reason: ColumnType<string | null, string | null | undefined, string | null>;
  attention_detail: ColumnType<string | null, string | null | undefined, string | null>;
  attention_since: NullableTimestamp;
  username: string;
  workflow_id: string;
  expires_at: Timestamp;
  created_by: string;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface InvitesTable {
  id: Generated<string>;
  enrollment_id: string;
  /** scrypt hash of the one-time password: `scrypt$<salt b64>$<hash b64>` */
  otp_hash: string;
  /** the one-time password itself, AES-GCM sealed, so a reminder can repeat it */
  otp_sealed: Buffer;
  issued_at: Timestamp;
  expires_at: Timestamp;
  revoked_at: NullableTimestamp;
  idempotency_key: string;
  failed_attempts: Generated<number>;
  locked_until: NullableTimestamp;
}

export interface EnrollmentTransitionsTable {
  id: Generated<string>;
  enrollment_id: string;
  from_status: EnrollmentStatus | null;
  to_status: EnrollmentStatus;
  reason: string | null;
  idempotency_key: string;
  at: Timestamp;
}

export interface DevicesTable {
  id: Generated<string>;
  enrollment_id: string;
  kind: EnrollmentKind;
  /** Apple's per-enrollment `EnrollmentID` (User Enrollment) */
  apple_enrollment_id: string | null;
  model: string | null;
  model_name: string | null;
  product_name: string | null;
  os_version: string | null;
  build_version: string | null;
  topic: string | null;
  push_token_sealed: Buffer | null;
  push_magic_sealed: Buffer | null;
  last_seen_at: NullableTimestamp;
  created_at: Timestamp;
  updated_at: Timestamp;
  /** sha256 of the device identity certificate bound at the first Authenticate */
  identity_fingerprint: string | null;
  enrolled_at: NullableTimestamp;
  checked_out_at: NullableTimestamp;
  push_unregistered_at: NullableTimestamp;
  facts: ColumnType<Record<string, unknown>, string | undefined, string>;
  /** set while the device is unreachable (APNs 410 or no contact); cleared when it checks in */
  inactive_since: NullableTimestamp;
  inactive_reason: string | null;
}

export interface ProfileDownloadsTable {
  id: Generated<string>;
  enrollment_id: string;
  token_hash: string;
  enrollment_type: EnrollmentKind;
  created_at: Timestamp;
  expires_at: Timestamp;
  used_at: NullableTimestamp;
}

export interface EnrollmentIdentitiesTable {
  fingerprint: string;
  enrollment_id: string;
  /** the profile this identity went into: User or Device Enrollment */
  enrollment_type: EnrollmentKind;
  /** account-driven enrollments must also present their bearer token on every request */
  flavor: ColumnType<'profile-based' | 'account-driven', 'profile-based' | 'account-driven' | undefined, never>;
  serial_number: string;
  not_after: Timestamp;
  issued_at: Timestamp;
  revoked_at: NullableTimestamp;
  /** a renewal: the fingerprint of the identity it replaces */
  renewal_of: ColumnType<string | null, string | null | undefined, never>;
  /** the renewIdentity call that issued it (one identity per call) */
  idempotency_key: ColumnType<string | null, string | null | undefined, never>;
  /** the InstallProfile that carries a renewal to the device */
  command_uuid: ColumnType<string | null, string | null | undefined, string | null>;
  /** renewals: the first request signed with it, which bound it; pending until then (null for first identities) */
  bound_at: NullableTimestamp;
}

export interface AccountTokensTable {
  id: Generated<string>;
  token_hash: string;
  enrollment_id: string;
  user_id: string;
  created_at: Timestamp;
  expires_at: NullableTimestamp;
  last_used_at: NullableTimestamp;
  revoked_at: NullableTimestamp;
}

export interface PoliciesTable {
  id: Generated<string>;
  name: string;
  /** null: assigned to every enrollment */
  group_name: string | null;
  spec_sealed: Buffer;
  version: Generated<number>;
  created_at: Timestamp;
  updated_at: Timestamp;
  deleted_at: NullableTimestamp;
}

export interface PolicyApplicationsTable {
  id: Generated<string>;
  enrollment_id: string;
  policy_id: string;
  version: number;
  command_uuid: string | null;
  refused_code: string | null;
  refused_message: string | null;
  notes: ColumnType<unknown[], string | undefined, string>;
  created_at: Timestamp;
}

export type AppDeploymentStatus =
  | 'licensing'
  | 'waiting_for_licences'
  | 'vpp_token_invalid'
  | 'vpp_not_configured'
  | 'installing'
  | 'prompting'
  | 'installed'
  | 'denied'
  | 'failed'
  | 'not_approved'
  | 'cancelled';

export interface AppDeploymentsTable {
  id: Generated<string>;
  enrollment_id: string;
  adam_id: string;
  bundle_id: string;
  status: AppDeploymentStatus;
  licence: ColumnType<'none' | 'assigned' | 'released', 'none' | 'assigned' | 'released' | undefined, 'none' | 'assigned' | 'released'>;
  last_checked_at: NullableTimestamp;
  /** transitions, each with the device status first seen: [{ at, status, deviceStatus? }] */
  history: ColumnType<{ at: string; status: string; detail?: string }[], string | undefined, string>;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface VppNotificationsTable {
  notification_id: string;
  notification_type: string;
  received_at: Timestamp;
}

export interface SandboxMessagesTable {
  id: Generated<string>;
  channel: 'email' | 'sms';
  recipient: string;
  subject: string | null;
  text_body: string;
  html_body: string | null;
  created_at: Timestamp;
}

/** Hardware identifiers, for Device Enrollment only (foreign key on (device_id, kind = 'device')). */
export interface DeviceHardwareIdsTable {
  device_id: string;
  kind: ColumnType<'device', 'device' | undefined, never>;
  udid: string | null;
  serial_number: string | null;
  imei: string | null;
  meid: string | null;
}

export type CommandStatus = 'staged' | 'queued' | 'sent' | 'acknowledged' | 'error' | 'not_now' | 'cancelled' | 'refused';

export interface CommandQueueTable {
  id: Generated<string>;
  device_id: string;
  command_uuid: string;
  request_type: string;
  /** the full command plist (may hold secrets such as Wi-Fi passwords: sealed) */
  payload_sealed: Buffer;
  status: Generated<CommandStatus>;
  idempotency_key: string;
  created_at: Timestamp;
  sent_at: NullableTimestamp;
  /** when an APNs push announced this command (null: not pushed yet) */
  pushed_at: NullableTimestamp;
  answered_at: NullableTimestamp;
  result_status: string | null;
  result: JSONColumnType<Record<string, unknown>> | null;
  /** the admin (token name) who asked for it, for admin actions */
  requested_by: ColumnType<string | null, string | null | undefined, string | null>;
  /** the action as the admin sent it, secrets removed */
  action: ColumnType<Record<string, unknown> | null, string | null | undefined, string | null>;
}

/** `signal_app`: an app deployment workflow (`app/<enrollment>/<adamId>`), signalled by id */
export type OutboxKind = 'start_enrollment' | 'signal_enrollment' | 'signal_app';

/** Events that must reach Temporal; written in the same transaction as the state they describe. */
export interface OutboxTable {
  id: Generated<string>;
  kind: OutboxKind;
  workflow_id: string;
  payload: JSONColumnType<Record<string, unknown>>;
  dedupe_key: string;
  created_at: Timestamp;
  attempts: Generated<number>;
  available_at: Timestamp;
  delivered_at: NullableTimestamp;
  last_error: string | null;
}

/** One fixed window of one rate limit; the subject is a hash (never a token or an address in clear). */
export interface RateLimitWindowsTable {
  bucket: string;
  subject: string;
  window_start: Timestamp;
  hits: number;
}

/** Failed account-driven sign-ins per account and client address (an HMAC of both). */
export interface SignInLockoutsTable {
  subject: string;
  failed_attempts: Generated<number>;
  locked_until: NullableTimestamp;
  updated_at: Timestamp;
}

export interface SettingsTable {
  key: string;
  value: JSONColumnType<Record<string, unknown>>;
  updated_at: Timestamp;
}

/** Secrets at rest: AES-256-GCM under the master key, bound to their name (see db/secret-box.ts). */
export interface SecretsTable {
  name: string;
  sealed: Buffer;
  updated_at: Timestamp;
}

export interface AuditLogTable {
  id: Generated<string>;
  actor: string;
  action: string;
  target_type: string;
  target_id: string | null;
  details: JSONColumnType<Record<string, unknown>>;
  request_id: string | null;
  at: Timestamp;
}

export type TokenScope = 'admin' | 'read';

export interface ApiTokensTable {
  id: Generated<string>;
  name: string;
  /** sha256 of the token, hex */
  token_hash: string;
  scope: TokenScope;
  created_at: Timestamp;
  last_used_at: NullableTimestamp;
  revoked_at: NullableTimestamp;
  /** null: does not expire */
  expires_at: NullableTimestamp;
  /** the name of the token that minted this one (null for the bootstrap token) */
  created_by: string | null;
}

/** One row per side effect an activity performed, keyed `<workflowId>:<step>`. */
export interface ActivityEffectsTable {
  idempotency_key: string;
  result: JSONColumnType<Record<string, unknown>>;
  at: Timestamp;
}

export interface Database {
  users: UsersTable;
  enrollments: EnrollmentsTable;
  invites: InvitesTable;
  enrollment_transitions: EnrollmentTransitionsTable;
  devices: DevicesTable;
  device_hardware_ids: DeviceHardwareIdsTable;
  command_queue: CommandQueueTable;
  outbox: OutboxTable;
  settings: SettingsTable;
  secrets: SecretsTable;
  audit_log: AuditLogTable;
  api_tokens: ApiTokensTable;
  activity_effects: ActivityEffectsTable;
  profile_downloads: ProfileDownloadsTable;
  enrollment_identities: EnrollmentIdentitiesTable;
  sandbox_messages: SandboxMessagesTable;
  account_tokens: AccountTokensTable;
  policies: PoliciesTable;
  policy_applications: PolicyApplicationsTable;
  app_deployments: AppDeploymentsTable;
  vpp_notifications: VppNotificationsTable;
  rate_limit_windows: RateLimitWindowsTable;
  sign_in_lockouts: SignInLockoutsTable;
}

export type Enrollment = Selectable<EnrollmentsTable>;
export type NewEnrollment = Insertable<EnrollmentsTable>;
export type EnrollmentUpdate = Updateable<EnrollmentsTable>;
export type User = Selectable<UsersTable>;
export type Transition = Selectable<EnrollmentTransitionsTable>;
