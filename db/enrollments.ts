/**
 * Enrollment records: creation (row + outbox start event + audit, in one transaction) and the
 * read models the admin API serves.
 */
import { createHash, randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import type { Env } from '../config/env.js';
import { enrollmentWorkflowId } from '../domain/workflow-ids.js';
import { agentDefaults, type AppDeploymentDurations, type EnrollmentWorkflowInput } from '../domain/workflow-inputs.js';
import type { Db } from './connection.js';
import { ConflictError } from './errors.js';
import { recordEnrollmentEvent } from './outbox.js';
import type { AuthMode, EnrollmentKind, EnrollmentStatus, InviteChannel, Ownership } from './schema.js';
import { recordAudit } from './audit.js';
import { describeAttention } from '../domain/attention.js';
import type { DisplayStatus } from '../domain/lifecycle.js';

/** The business durations after enrollment (workflow input). */
export interface LifecycleDurations {
  removalWindowMs: number;
  unreachableGraceMs: number;
  inactiveAfterMs: number;
  agent: AppDeploymentDurations;
}

export function lifecycleFromEnv(env: Pick<Env, 'TANDEM_REMOVAL_WINDOW' | 'TANDEM_UNREACHABLE_GRACE' | 'TANDEM_INACTIVE_AFTER' | 'AGENT_RECHECK_INITIAL' | 'AGENT_RECHECK_MAX' | 'AGENT_LICENCE_RECHECK' | 'AGENT_APPROVAL_WINDOW' | 'AGENT_REMINDER_EVERY'>): LifecycleDurations {
  return {
    removalWindowMs: env.TANDEM_REMOVAL_WINDOW,
    unreachableGraceMs: env.TANDEM_UNREACHABLE_GRACE,
    inactiveAfterMs: env.TANDEM_INACTIVE_AFTER,
    agent: {
      // polling fields: only deployments that started on agentDeploymentWorkflow read them
      pollInitialMs: agentDefaults.pollInitialMs,
      pollMaxMs: agentDefaults.pollMaxMs,
      approvalWindowMs: env.AGENT_APPROVAL_WINDOW,
      reminderEveryMs: env.AGENT_REMINDER_EVERY,
      recheckInitialMs: env.AGENT_RECHECK_INITIAL,
      recheckMaxMs: env.AGENT_RECHECK_MAX,
      licenceRecheckInitialMs: env.AGENT_LICENCE_RECHECK,
    },
  };
}

export interface NewEnrollmentRequest {
  user: { name: string; email?: string | undefined; phone?: string | undefined };
  channel: InviteChannel;
  ownership: Ownership;
  enrollmentType: EnrollmentKind | null;
  authMode: AuthMode;
  managedAppleId?: string | undefined;
  inviteTtlMs: number;
  reminderAfterMs: number[];
  installWindowMs: number;
  lifecycle: LifecycleDurations;
  actor: string;
  requestId?: string | undefined;
  /** scoped to the actor: a retried request returns the enrollment it created */
  idempotencyKey?: string | undefined;
}

export interface CreatedEnrollment {
  id: string;
  status: EnrollmentStatus;
  username: string;
  expiresAt: Date;
  workflowId: string;
  /** true when an earlier request with the same Idempotency-Key created it */
  replayed?: boolean;
}

/** Reuses the user with the same email (case-insensitive); updates what the admin re-sent. */
async function upsertUser(trx: Db, user: NewEnrollmentRequest['user'], managedAppleId: string | undefined): Promise<string> {
  if (managedAppleId) {
    const holder = await trx
      .selectFrom('users')
      .select(['id', 'email'])
      .where(sql`lower(managed_apple_id)`, '=', managedAppleId.toLowerCase())
      .executeTakeFirst();
    if (holder && (!user.email || holder.email?.toLowerCase() !== user.email.toLowerCase())) {
      throw new ConflictError('managed_apple_id_in_use', 'This Managed Apple ID already belongs to another user.', { field: 'managedAppleId' });
    }
  }
  if (user.email) {
    const existing = await trx
      .selectFrom('users')
      .select('id')
      .where(sql`lower(email)`, '=', user.email.toLowerCase())
      .executeTakeFirst();
    if (existing) {
      await trx
        .updateTable('users')
        .set({
          name: user.name,
          ...(user.phone ? { phone: user.phone } : {}),
          ...(managedAppleId ? { managed_apple_id: managedAppleId } : {}),
          updated_at: sql`now()`,
        })
        .where('id', '=', existing.id)
        .execute();
      return existing.id;
    }
  }
  const id = randomUUID();
  await trx
    .insertInto('users')
    .values({ id, name: user.name, email: user.email ?? null, phone: user.phone ?? null, managed_apple_id: managedAppleId ?? null })
    .execute();
  return id;
}

export async function createEnrollment(db: Db, req: NewEnrollmentRequest): Promise<CreatedEnrollment> {
  const id = randomUUID();
  const workflowId = enrollmentWorkflowId(id);
  const username = req.user.email ?? req.user.phone!;
  const key = req.idempotencyKey ? `${req.actor}:${req.idempotencyKey}` : null;
  return db.transaction().execute(async (trx): Promise<CreatedEnrollment> => {
    // Concurrent requests with one Idempotency-Key, or for one new person, take turns here: the
    // second sees what the first committed instead of colliding with it on a unique index.
    const locks = [key && `enrollment-create:${key}`, `user:${(req.user.email ?? req.user.phone!).toLowerCase()}`];
    if (req.managedAppleId) locks.push(`managed-apple-id:${req.managedAppleId.toLowerCase()}`);
    for (const lock of locks) if (lock) await sql`select pg_advisory_xact_lock(hashtextextended(${lock}, 0))`.execute(trx);
    if (key) {
      const earlier = await trx.selectFrom('enrollments').select(['id', 'status', 'username', 'expires_at', 'workflow_id']).where('idempotency_key', '=', key).executeTakeFirst();
      if (earlier) return { id: earlier.id, status: earlier.status, username: earlier.username, expiresAt: earlier.expires_at, workflowId: earlier.workflow_id, replayed: true };
    }
    const userId = await upsertUser(trx, req.user, req.managedAppleId);
    const row = await trx
      .insertInto('enrollments')
      .values({
        id,
        user_id: userId,
        channel: req.channel,
        ownership: req.ownership,
        enrollment_type: req.enrollmentType,
        auth_mode: req.authMode,
        status: 'created',
        username,
        workflow_id: workflowId,
        expires_at: sql`now() + ${`${req.inviteTtlMs} milliseconds`}::interval`,
        created_by: req.actor,
        idempotency_key: key,
      })
      .returning(['status', 'expires_at'])
      .executeTakeFirstOrThrow();
    const input: EnrollmentWorkflowInput = {
      enrollmentId: id,
      enrollmentType: req.enrollmentType,
      ownership: req.ownership,
      channel: req.channel,
      inviteExpiresAt: row.expires_at.toISOString(),
      reminderAfterMs: req.reminderAfterMs,
      installWindowMs: req.installWindowMs,
      ...req.lifecycle,
    };
    await trx
      .insertInto('outbox')
      .values({ kind: 'start_enrollment', workflow_id: workflowId, payload: JSON.stringify(input), dedupe_key: `${workflowId}:start` })
      .execute();
    await recordAudit(trx, {
      actor: req.actor,
      action: 'enrollment.create',
      targetType: 'enrollment',
      targetId: id,
      details: { channel: req.channel, ownership: req.ownership, enrollmentType: req.enrollmentType, authMode: req.authMode },
      requestId: req.requestId,
    });
    return { id, status: row.status, username, expiresAt: row.expires_at, workflowId };
  });
}

export interface AttentionView {
  /** machine-readable (domain/attention.ts) */
  reason: string;
  /** what to do about it */
  message: string;
  /** a short, non-personal detail such as "InviteUndeliverable 550" */
  detail: string | null;
  since: string;
}

export interface EnrollmentView {
  id: string;
  /** `attention` while something needs a person; otherwise the lifecycle status */
  status: DisplayStatus;
  /** where the enrollment is in its lifecycle (the status it resumes when attention clears) */
  lifecycleStatus: EnrollmentStatus;
  attention: AttentionView | null;
  channel: InviteChannel;
  ownership: Ownership;
  enrollmentType: EnrollmentKind | null;
  authMode: AuthMode;
  username: string;
  user: { name: string; email: string | null; phone: string | null; managedAppleId: string | null };
  workflowId: string;
  expiresAt: string;
  createdAt: string;
  updatedAt: string;
}

export interface DeviceView {
  kind: 'user' | 'device';
  /** Apple's per-enrollment identifier (User Enrollment only) */
  appleEnrollmentId: string | null;
  productName: string | null;
  osVersion: string | null;
  buildVersion: string | null;
  lastSeenAt: string | null;
  enrolledAt: string | null;
  checkedOutAt: string | null;
  pushUnregisteredAt: string | null;
  facts: Record<string, unknown>;
  /** Device Enrollment only: a user-enrolled device never has these */
  hardware?: { udid: string | null; serialNumber: string | null; imei: string | null; meid: string | null };
}

export interface AppDeploymentView {
  adamId: string;
  bundleId: string;
  status: string;
  licence: string;
  lastCheckedAt: string | null;
  history: { at: string; status: string; detail?: string }[];
}

export interface EnrollmentDetail extends EnrollmentView {
  timeline: { from: EnrollmentStatus | null; to: EnrollmentStatus; reason: string | null; at: string }[];
  device: DeviceView | null;
  /** the agent app's deployment (Apps and Books), once it started */
  agent: AppDeploymentView | null;
  /** every Apps and Books app deployed to this device (the agent app included) */
  apps: AppDeploymentView[];
}

const viewColumns = [
  'e.id',
  'e.status',
  'e.channel',
  'e.ownership',
  'e.enrollment_type',
  'e.auth_mode',
  'e.username',
  'e.workflow_id',
  'e.expires_at',
  'e.created_at',
  'e.updated_at',
  'e.attention_reason',
  'e.attention_detail',
  'e.attention_since',
  'u.name',
  'u.email',
  'u.phone',
  'u.managed_apple_id',
] as const;

function baseQuery(db: Db) {
  return db.selectFrom('enrollments as e').innerJoin('users as u', 'u.id', 'e.user_id').select(viewColumns);
}

type ViewRow = Awaited<ReturnType<ReturnType<typeof baseQuery>['executeTakeFirstOrThrow']>>;

function toView(r: ViewRow): EnrollmentView {
  return {
    id: r.id,
    status: r.attention_reason ? 'attention' : r.status,
    lifecycleStatus: r.status,
    attention: r.attention_reason
      ? { reason: r.attention_reason, message: describeAttention(r.attention_reason), detail: r.attention_detail, since: (r.attention_since ?? r.updated_at).toISOString() }
      : null,
    channel: r.channel,
    ownership: r.ownership,
    enrollmentType: r.enrollment_type,
    authMode: r.auth_mode,
    username: r.username,
    user: { name: r.name, email: r.email, phone: r.phone, managedAppleId: r.managed_apple_id },
    workflowId: r.workflow_id,
    expiresAt: r.expires_at.toISOString(),
    createdAt: r.created_at.toISOString(),
    updatedAt: r.updated_at.toISOString(),
  };
}

export async function getEnrollment(db: Db, id: string): Promise<EnrollmentDetail | undefined> {
  const row = await baseQuery(db).where('e.id', '=', id).executeTakeFirst();
  if (!row) return undefined;
  const transitions = await db
    .selectFrom('enrollment_transitions')
    .select(['from_status', 'to_status', 'reason', 'at'])
    .where('enrollment_id', '=', id)
    .orderBy('id')
    .execute();
  return {
    ...toView(row),
    timeline: transitions.map((t) => ({ from: t.from_status, to: t.to_status, reason: t.reason, at: t.at.toISOString() })),
    device: await getDevice(db, id),
    ...(await getApps(db, id)),
  };
}

async function getApps(db: Db, enrollmentId: string): Promise<{ agent: AppDeploymentView | null; apps: AppDeploymentView[] }> {
  const rows = await db.selectFrom('app_deployments').selectAll().where('enrollment_id', '=', enrollmentId).orderBy('id').execute();
  const vpp = await db.selectFrom('settings').select('value').where('key', '=', 'vpp').executeTakeFirst();
  const agentAdamId = (vpp?.value as { agent?: { adamId?: string } | null } | undefined)?.agent?.adamId;
  const apps = rows.map((a) => ({
    adamId: a.adam_id,
    bundleId: a.bundle_id,
    status: a.status,
    licence: a.licence,
    lastCheckedAt: a.last_checked_at?.toISOString() ?? null,
    history: a.history,
  }));
  return { agent: apps.find((a) => a.adamId === agentAdamId) ?? null, apps };
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);

async function getDevice(db: Db, enrollmentId: string): Promise<DeviceView | null> {
  const d = await db
    .selectFrom('devices as d')
    .leftJoin('device_hardware_ids as h', 'h.device_id', 'd.id')
    .select(['d.kind', 'd.apple_enrollment_id', 'd.product_name', 'd.os_version', 'd.build_version', 'd.last_seen_at', 'd.enrolled_at', 'd.checked_out_at', 'd.push_unregistered_at', 'd.facts'])
    .select(['h.udid', 'h.serial_number', 'h.imei', 'h.meid'])
    .where('d.enrollment_id', '=', enrollmentId)
    .executeTakeFirst();
  if (!d) return null;
  return {
    kind: d.kind,
    appleEnrollmentId: d.apple_enrollment_id,
    productName: d.product_name,
    osVersion: d.os_version,
    buildVersion: d.build_version,
    lastSeenAt: iso(d.last_seen_at),
    enrolledAt: iso(d.enrolled_at),
    checkedOutAt: iso(d.checked_out_at),
    pushUnregisteredAt: iso(d.push_unregistered_at),
    facts: d.facts,
    ...(d.kind === 'device' ? { hardware: { udid: d.udid, serialNumber: d.serial_number, imei: d.imei, meid: d.meid } } : {}),
  };
}

export interface ListFilter {
  /** the shown status: `attention` lists every enrollment waiting for a person */
  status?: DisplayStatus | undefined;
  limit: number;
  /** opaque cursor from a previous page */
  cursor?: { createdAt: string; id: string } | undefined;
}

// JavaScript dates hold milliseconds; compare at that precision so a cursor never skips a row.
const createdAtMs = sql<Date>`date_trunc('milliseconds', e.created_at)`;

/** Newest first, keyset-paginated on (created_at, id). */
export async function listEnrollments(db: Db, filter: ListFilter): Promise<{ items: EnrollmentView[]; next?: { createdAt: string; id: string } }> {
  let q = baseQuery(db);
  if (filter.status === 'attention') q = q.where('e.attention_reason', 'is not', null);
  else if (filter.status) q = q.where('e.status', '=', filter.status).where('e.attention_reason', 'is', null);
  if (filter.cursor) {
    const { createdAt, id } = filter.cursor;
    q = q.where(sql<boolean>`(${createdAtMs}, e.id) < (${createdAt}::timestamptz, ${id}::uuid)`);
  }
  const rows = await q.orderBy(createdAtMs, 'desc').orderBy('e.id', 'desc').limit(filter.limit + 1).execute();
  const items = rows.slice(0, filter.limit).map(toView);
  const last = items.at(-1);
  return rows.length > filter.limit && last ? { items, next: { createdAt: last.createdAt, id: last.id } } : { items };
}

export class InviteChangeError extends Error {
  constructor(
    readonly code: 'enrollment_not_found' | 'invite_not_open' | 'already_enrolled' | 'already_finished',
    message: string,
  ) {
    super(message);
  }
}

const changeable: Record<'resend_requested' | 'cancel_requested', readonly EnrollmentStatus[]> = {
  resend_requested: ['invited', 'portal_authenticated'],
  cancel_requested: ['created', 'invited', 'portal_authenticated', 'profile_issued', 'authenticated'],
};

/**
 * Resend or cancel: the current credentials stop working at once (in this transaction), and the
 * workflow hears of it through the outbox. Returns the enrollment's status.
 */
export async function requestInviteChange(
  db: Db,
  enrollmentId: string,
  event: { type: 'resend_requested' } | { type: 'cancel_requested'; reason: string },
  actor: string,
  requestId: string | undefined,
): Promise<EnrollmentStatus> {
  return db.transaction().execute(async (trx) => {
    const e = await trx.selectFrom('enrollments').select(['status']).where('id', '=', enrollmentId).forUpdate().executeTakeFirst();
    if (!e) throw new InviteChangeError('enrollment_not_found', 'No enrollment has this id.');
    if (!changeable[event.type].includes(e.status)) {
      if (e.status === 'enrolled') throw new InviteChangeError('already_enrolled', 'The device is already enrolled: disenroll it instead.');
      if (['expired', 'cancelled', 'disenrolled', 'disenrolling'].includes(e.status)) throw new InviteChangeError('already_finished', `The enrollment is ${e.status}.`);
      throw new InviteChangeError('invite_not_open', `The invite cannot be resent while the enrollment is ${e.status}.`);
    }
    await trx.updateTable('invites').set({ revoked_at: sql`now()` }).where('enrollment_id', '=', enrollmentId).where('revoked_at', 'is', null).execute();
    await recordEnrollmentEvent(trx, enrollmentId, event, `${event.type}:${randomUUID()}`);
    await recordAudit(trx, { actor, action: event.type === 'resend_requested' ? 'enrollment.resend' : 'enrollment.cancel', targetType: 'enrollment', targetId: enrollmentId, requestId });
    return e.status;
  });
}

/**
 * The enrollment a directory user starts from Settings, with no invite. Its id is derived from the
 * user and how many such enrollments they had, so a retried sign-in finds the same one; an open one
 * is reused. The workflow is started with its first event (signal-with-start).
 */
export async function createAccountEnrollment(
  db: Db,
  req: { userId: string; managedAppleId: string; env: { TANDEM_INVITE_TTL: number; TANDEM_INSTALL_WINDOW: number }; lifecycle: LifecycleDurations },
): Promise<string> {
  return db.transaction().execute(async (trx) => {
    const open = await trx
      .selectFrom('enrollments')
      .select('id')
      .where('user_id', '=', req.userId)
      .where('channel', '=', 'account')
      .where('status', 'in', ['created', 'portal_authenticated', 'profile_issued', 'authenticated'])
      .executeTakeFirst();
    if (open) return open.id;
    const earlier = await trx.selectFrom('enrollments').select(({ fn }) => fn.countAll<string>().as('n')).where('user_id', '=', req.userId).where('channel', '=', 'account').executeTakeFirstOrThrow();
    const digest = createHash('sha256').update(`account-enrollment:${req.userId}:${earlier.n}`).digest('hex');
    const id = `${digest.slice(0, 8)}-${digest.slice(8, 12)}-5${digest.slice(13, 16)}-8${digest.slice(17, 20)}-${digest.slice(20, 32)}`;
    const workflowId = enrollmentWorkflowId(id);
    const row = await trx
      .insertInto('enrollments')
      .values({
        id,
        user_id: req.userId,
        channel: 'account',
        ownership: 'personal',
        enrollment_type: 'user',
        auth_mode: 'authenticated',
        status: 'created',
        username: req.managedAppleId,
        workflow_id: workflowId,
        expires_at: sql`now() + ${`${req.env.TANDEM_INVITE_TTL} milliseconds`}::interval`,
        created_by: 'account-driven sign-in',
      })
      .onConflict((oc) => oc.column('id').doNothing())
      .returning('expires_at')
      .executeTakeFirst();
    if (!row) return id; // a concurrent sign-in created it
    const input: EnrollmentWorkflowInput = {
      enrollmentId: id,
      enrollmentType: 'user',
      ownership: 'personal',
      channel: 'account',
      inviteExpiresAt: row.expires_at.toISOString(),
      reminderAfterMs: [],
      installWindowMs: req.env.TANDEM_INSTALL_WINDOW,
      ...req.lifecycle,
    };
    await trx
      .insertInto('outbox')
      .values({
        kind: 'start_enrollment',
        workflow_id: workflowId,
        payload: JSON.stringify({ ...input, initialEvent: { type: 'portal_authenticated' } }),
        dedupe_key: `${workflowId}:start`,
      })
      .execute();
    await recordAudit(trx, { actor: `user:${req.userId}`, action: 'enrollment.account_driven_start', targetType: 'enrollment', targetId: id });
    return id;
  });
}
