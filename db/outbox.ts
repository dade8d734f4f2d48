import type { AppEvent, EnrollmentEvent } from '../domain/events.js';
import { appDeploymentWorkflowId, enrollmentWorkflowId } from '../domain/workflow-ids.js';
import type { Db } from './connection.js';
import type { OutboxKind } from './schema.js';

async function record(trx: Db, kind: OutboxKind, workflowId: string, event: unknown, dedupe: string): Promise<boolean> {
  const inserted = await trx
    .insertInto('outbox')
    .values({ kind, workflow_id: workflowId, payload: JSON.stringify({ event }), dedupe_key: `${workflowId}:${dedupe}` })
    .onConflict((oc) => oc.column('dedupe_key').doNothing())
    .returning('id')
    .executeTakeFirst();
  return inserted !== undefined;
}

/**
 * Records an event for an enrollment's workflow, in the caller's transaction. The dedupe key makes
 * a repeated device message or a retried request one event (`on conflict do nothing`).
 * Returns false when the event was already recorded.
 */
export async function recordEnrollmentEvent(trx: Db, enrollmentId: string, event: EnrollmentEvent, dedupe: string): Promise<boolean> {
  return record(trx, 'signal_enrollment', enrollmentWorkflowId(enrollmentId), event, dedupe);
}

/**
 * Records an event for one app deployment workflow (`app/<enrollment>/<adamId>`), signalled by id
 * without going through the enrollment workflow. Same dedupe rule: false when already recorded.
 */
export async function recordAppEvent(trx: Db, enrollmentId: string, adamId: string, event: AppEvent, dedupe: string): Promise<boolean> {
  return record(trx, 'signal_app', appDeploymentWorkflowId(enrollmentId, adamId), event, dedupe);
}

/**
 * A fix that resumes enrollments by itself (a new push certificate): every enrollment waiting in
 * `attention` for one of these reasons gets a `retry` event. Returns how many.
 */
export async function resumeAttention(db: Db, reasons: readonly string[], cause: 'push_certificate', dedupe: string): Promise<number> {
  if (!reasons.length) return 0;
  const waiting = await db.selectFrom('enrollments').select('id').where('attention_reason', 'in', [...reasons]).execute();
  for (const { id } of waiting) await recordEnrollmentEvent(db, id, { type: 'retry', cause }, `retry:${cause}:${dedupe}`);
  return waiting.length;
}
