import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { AppDeps } from '../app.js';
import type { AppEnv } from '../types.js';

const Entry = z
  .object({
    id: z.string(),
    at: z.iso.datetime(),
    actor: z.string(),
    action: z.string(),
    targetType: z.string(),
    targetId: z.string().nullable(),
    details: z.record(z.string(), z.unknown()),
    requestId: z.string().nullable(),
  })
  .openapi('AuditEntry');

const list = createRoute({
  method: 'get',
  path: '/audit',
  summary: 'The audit log: every admin action and lifecycle event, newest first',
  security: [{ bearerAuth: [] }],
  request: {
    query: z.object({
      targetType: z.string().max(50).optional(),
      targetId: z.string().max(100).optional(),
      action: z.string().max(100).optional(),
      limit: z.coerce.number().int().min(1).max(500).default(100),
      before: z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER).optional().openapi({ description: 'the `nextBefore` of the previous page' }),
    }),
  },
  responses: { 200: { description: 'Entries', content: { 'application/json': { schema: z.object({ items: z.array(Entry), nextBefore: z.number().int().nullable() }) } } } },
});

export function auditRoutes(deps: AppDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: deps.validationHook });
  app.openapi(list, async (c) => {
    const q = c.req.valid('query');
    let query = deps.db.selectFrom('audit_log').selectAll().orderBy('id', 'desc').limit(q.limit + 1);
    if (q.targetType) query = query.where('target_type', '=', q.targetType);
    if (q.targetId) query = query.where('target_id', '=', q.targetId);
    if (q.action) query = query.where('action', '=', q.action);
    if (q.before) query = query.where('id', '<', String(q.before));
    const rows = await query.execute();
    const page = rows.slice(0, q.limit);
    return c.json(
      {
        items: page.map((r) => ({
          id: r.id,
          at: r.at.toISOString(),
          actor: r.actor,
          action: r.action,
          targetType: r.target_type,
          targetId: r.target_id,
          details: r.details,
          requestId: r.request_id,
        })),
        nextBefore: rows.length > q.limit ? Number(page.at(-1)!.id) : null,
      },
      200,
    );
  });
  return app;
}
