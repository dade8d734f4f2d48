import type { Db } from './connection.js';

export interface AuditEntry {
  /** the admin token's name, `tandem` for the system, `user:<id>` for a user's own action */
  actor: string;
  action: string;
  targetType: string;
  targetId: string | null;
  details?: Record<string, unknown>;
  requestId?: string | null | undefined;
}

/** One line of the audit log (queryable at GET /api/v1/audit); in the caller's transaction when given one. */
export async function recordAudit(db: Db, e: AuditEntry): Promise<void> {
  await db
    .insertInto('audit_log')
    .values({ actor: e.actor, action: e.action, target_type: e.targetType, target_id: e.targetId, details: JSON.stringify(e.details ?? {}), request_id: e.requestId ?? null })
    .execute();
}
