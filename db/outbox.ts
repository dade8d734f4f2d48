import type { EnrollmentEvent } from '../workflows/messages.js';
import { enrollmentWorkflowId } from '../workflows/messages.js';
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
