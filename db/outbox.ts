import type { EnrollmentEvent } from '../domain/events.js';
import { enrollmentWorkflowId } from '../domain/workflow-ids.js';
import type { Db } from './connection.js';

/**
 * Records an event for an enrollment's workflow, in the caller's transaction. The dedupe key makes
 * a repeated device message or a retried request one event (`on conflict do nothing`).
 * Returns false when the event was already recorded.
 */
export async function recordEnrollmentEvent(trx: Db, enrollmentId: string, event: EnrollmentEvent, dedupe: string): Promise<boolean> {
  const workflowId = enrollmentWorkflowId(enrollmentId);
  const inserted = await trx
    .insertInto('outbox')
    .values({ kind: 'signal_enrollment', workflow_id: workflowId, payload: JSON.stringify({ event }), dedupe_key: `${workflowId}:${dedupe}` })
    .onConflict((oc) => oc.column('dedupe_key').doNothing())
    .returning('id')
    .executeTakeFirst();
  return inserted !== undefined;
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
