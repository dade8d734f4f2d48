/**
 * An app deployment's status as the admin sees it (`app_deployments`), written by its workflow's
 * activities and, for what the device itself answers, by the MDM endpoint. Either way the status,
 * its history line, its audit record and any event it owes a workflow land in one transaction.
 */
import { sql } from 'kysely';
import type { AppAttentionReason } from '../domain/events.js';
import { recordAudit } from './audit.js';
import type { Db } from './connection.js';
import { recordAppEvent, recordEnrollmentEvent } from './outbox.js';
import type { AppDeploymentStatus } from './schema.js';

export interface AppRef {
  enrollmentId: string;
  adamId: string;
  bundleId: string;
}

/** Statuses only a person can get out of: the enrollment workflow is told when they begin and end. */
const attention: Partial<Record<string, AppAttentionReason>> = { vpp_token_invalid: 'vpp_token_invalid', vpp_not_configured: 'vpp_not_configured' };

export interface WriteOptions {
  /** write nothing when the status is already this one (a re-check that changed nothing) */
  onlyIfChanged?: boolean;
  /** write nothing over these statuses */
  notOver?: readonly string[];
}

/**
 * Writes the app's status (upserting the deployment) with its history line and audit record, and
 * tells the enrollment workflow, in the same transaction, when the deployment starts or stops
 * needing a person (`app_attention` / `app_attention_cleared`). Returns the status it replaced, or
 * false when it wrote nothing.
 */
export async function writeAppStatus(trx: Db, app: AppRef, status: string, detail: string | undefined, dedupe: string, opts: WriteOptions = {}): Promise<string | null | false> {
  const current = await trx
    .selectFrom('app_deployments')
    .select('status')
    .where('enrollment_id', '=', app.enrollmentId)
    .where('adam_id', '=', app.adamId)
    .forUpdate()
    .executeTakeFirst();
  const previous = current?.status ?? null;
  if (opts.onlyIfChanged && previous === status) return false;
  if (previous && opts.notOver?.includes(previous)) return false;
  const entry = JSON.stringify([{ at: new Date().toISOString(), status, ...(detail ? { detail } : {}) }]);
  await trx
    .insertInto('app_deployments')
    .values({ enrollment_id: app.enrollmentId, adam_id: app.adamId, bundle_id: app.bundleId, status: status as AppDeploymentStatus, history: entry })
    .onConflict((oc) =>
      oc.columns(['enrollment_id', 'adam_id']).doUpdateSet({ status: status as AppDeploymentStatus, history: sql`app_deployments.history || ${entry}::jsonb`, updated_at: sql`now()` }),
    )
    .execute();
  await recordAudit(trx, { actor: 'tandem', action: 'app.status', targetType: 'enrollment', targetId: app.enrollmentId, details: { adamId: app.adamId, bundleId: app.bundleId, status, ...(detail ? { detail } : {}) } });
  if (status === 'vpp_token_invalid') {
    await recordAudit(trx, { actor: 'tandem', action: 'alert.vpp_token_invalid', targetType: 'settings', targetId: 'vpp', details: { enrollmentId: app.enrollmentId, detail } });
  }
  const was = previous ? attention[previous] : undefined;
  const now = attention[status];
  if (now && now !== was) {
    await recordEnrollmentEvent(trx, app.enrollmentId, { type: 'app_attention', adamId: app.adamId, reason: now }, `app-attention:${app.adamId}:${dedupe}`);
  } else if (was && !now) {
    await recordEnrollmentEvent(trx, app.enrollmentId, { type: 'app_attention_cleared', adamId: app.adamId }, `app-attention-cleared:${app.adamId}:${dedupe}`);
  }
  return previous;
}

/** The status the admin sees for what the device reports (ManagedApplicationList `Status`). */
export function appStatusOfDevice(deviceStatus: string): AppDeploymentStatus {
  if (deviceStatus === 'Managed') return 'installed';
  if (deviceStatus === 'UserRejected' || deviceStatus === 'ManagementRejected') return 'denied';
  if (deviceStatus === 'Failed') return 'failed';
  if (deviceStatus.startsWith('Prompting')) return 'prompting';
  return 'installing';
}

/** Commands whose results speak of app deployments. */
export const appAnswerTypes: ReadonlySet<string> = new Set(['InstallApplication', 'ManagedApplicationList', 'InstalledApplicationList']);

/** Deployment commands are keyed `app/<enrollment>/<adamId>:…` (the deployment's workflow id first). */
const installKeyPrefix = (enrollmentId: string, adamId: string) => `app/${enrollmentId}/${adamId}:`;

export interface DeviceAnswer {
  deviceId: string;
  enrollmentId: string;
  requestType: string;
  commandUuid: string;
  idempotencyKey: string;
  /** the result's `Status`: Acknowledged or Error (NotNow says nothing about the app) */
  resultStatus: string;
  /** the result as stored */
  result: Record<string, unknown>;
  /**
   * InstalledApplicationList lists only managed apps (User Enrollment): presence means installed.
   * Elsewhere an app in the list may be the user's own, so the list says nothing about the deployment.
   */
  managedAppsOnly: boolean;
}

/**
 * What the device said about the apps being deployed to it, each as the app's status and as a
 * `device_status` signal for that app's deployment workflow. Once per change: the outbox dedupe
 * key is the install attempt's command and the status, so a repeated `Prompting` costs nothing.
 */
export async function recordDeviceAppAnswer(trx: Db, answer: DeviceAnswer): Promise<number> {
  if (!appAnswerTypes.has(answer.requestType) || answer.resultStatus === 'NotNow') return 0;
  const deployments = await trx.selectFrom('app_deployments').select(['adam_id', 'bundle_id']).where('enrollment_id', '=', answer.enrollmentId).execute();
  const said: { adamId: string; bundleId: string; status: string; installCommandUuid?: string }[] = [];
  const r = answer.result;
  if (answer.requestType === 'InstallApplication') {
    const deployment = deployments.find((d) => answer.idempotencyKey.startsWith(installKeyPrefix(answer.enrollmentId, d.adam_id)));
    // An error (e.g. RejectionReason AppStoreDisabled) ends the attempt; an acknowledgement carries the install's State.
    const status = answer.resultStatus === 'Error' ? 'Failed' : typeof r.State === 'string' ? r.State : undefined;
    if (deployment && status) said.push({ adamId: deployment.adam_id, bundleId: deployment.bundle_id, status, installCommandUuid: answer.commandUuid });
  } else if (answer.resultStatus === 'Acknowledged') {
    const managed = r.ManagedApplicationList && typeof r.ManagedApplicationList === 'object' ? (r.ManagedApplicationList as Record<string, { Status?: unknown }>) : undefined;
    const installed = answer.managedAppsOnly && Array.isArray(r.InstalledApplicationList) ? (r.InstalledApplicationList as { Identifier?: unknown; Installing?: unknown }[]) : undefined;
    for (const d of deployments) {
      const listed = installed?.find((a) => a?.Identifier === d.bundle_id);
      const status = managed ? managed[d.bundle_id]?.Status : listed ? (listed.Installing === true ? 'Installing' : 'Managed') : undefined;
      if (typeof status === 'string' && status) said.push({ adamId: d.adam_id, bundleId: d.bundle_id, status });
    }
  }
  let signalled = 0;
  for (const s of said) {
    // The answer belongs to the app's latest install attempt.
    const installCommandUuid =
      s.installCommandUuid ??
      (
        await trx
          .selectFrom('command_queue')
          .select('command_uuid')
          .where('device_id', '=', answer.deviceId)
          .where('request_type', '=', 'InstallApplication')
          .where('idempotency_key', 'like', `${installKeyPrefix(answer.enrollmentId, s.adamId)}%`)
          .orderBy('id', 'desc')
          .limit(1)
          .executeTakeFirst()
      )?.command_uuid;
    if (!installCommandUuid) continue; // never deployed by Tandem
    const fresh = await recordAppEvent(trx, answer.enrollmentId, s.adamId, { type: 'device_status', status: s.status, installCommandUuid }, `device:${installCommandUuid}:${s.status}`);
    if (!fresh) continue;
    signalled += 1;
    const ref = { enrollmentId: answer.enrollmentId, adamId: s.adamId, bundleId: s.bundleId };
    await writeAppStatus(trx, ref, appStatusOfDevice(s.status), s.status, `device:${installCommandUuid}:${s.status}`, { notOver: ['cancelled'] });
  }
  return signalled;
}

/**
 * Resumes every deployment stopped on one of these statuses, signalling each workflow directly
 * (new licences, a new token). Returns how many.
 */
export async function resumeDeployments(db: Db, statuses: readonly AppDeploymentStatus[], event: 'licences_available' | 'sync', dedupe: string): Promise<number> {
  const waiting = await db.selectFrom('app_deployments').select(['enrollment_id', 'adam_id']).where('status', 'in', [...statuses]).execute();
  for (const w of waiting) await recordAppEvent(db, w.enrollment_id, w.adam_id, { type: event }, `${event}:${dedupe}`);
  return waiting.length;
}
