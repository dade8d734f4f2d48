/**
 * Admin actions on an enrolled device. Each is planned against Apple's rules for the enrollment
 * type (422 with the schema file when refused), staged in the command queue (sealed: commands can
 * carry secrets), and handed to the enrollment workflow as an Update whose validator applies the
 * same rules before the command is released and the device pushed.
 */
import { randomUUID } from 'node:crypto';
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { sql } from 'kysely';
import { enqueueCommand } from '../../db/commands.js';
import { recordEnrollmentEvent } from '../../db/outbox.js';
import { VppSettingsStore } from '../../db/settings.js';
import { appDeploymentWorkflowId } from '../../workflows/messages.js';
import { adminActionSchema, effectivePasscodePolicy, planAction } from '../../mdm/actions.js';
import { isSupervised } from '../../mdm/device-queries.js';
import type { AppDeps } from '../app.js';
import { ApiError } from '../errors.js';
import type { AppEnv } from '../types.js';
import { jsonError } from './openapi-common.js';
import { recordAudit } from '../../db/audit.js';

const security = [{ bearerAuth: [] }];
const idParams = z.object({ id: z.uuid() });

const ActionAccepted = z
  .object({
    commandUuid: z.string(),
    requestType: z.string(),
    status: z.string(),
    notes: z.array(z.object({ kind: z.string(), key: z.string().optional(), message: z.string() })),
    deployment: z.string().optional().openapi({ description: 'for Apps and Books apps: the deployment workflow (app/<enrollment>/<adamId>)' }),
    effectivePasscodePolicy: z
      .record(z.string(), z.unknown())
      .optional()
      .openapi({ description: 'what the device will actually enforce (User Enrollment: passcode required, 6 characters, no simple value, complexity not enforceable)' }),
  })
  .openapi('ActionAccepted');

const Command = z
  .object({
    commandUuid: z.string(),
    requestType: z.string(),
    status: z.string(),
    requestedBy: z.string().nullable(),
    createdAt: z.iso.datetime(),
    pushedAt: z.iso.datetime().nullable().openapi({ description: 'when an APNs push announced the command (null: not pushed yet; the device also finds it at its next check-in)' }),
    sentAt: z.iso.datetime().nullable(),
    answeredAt: z.iso.datetime().nullable(),
    resultStatus: z.string().nullable(),
    errorChain: z.array(z.unknown()).nullable(),
  })
  .openapi('Command');

const postAction = createRoute({
  method: 'post',
  path: '/enrollments/{id}/actions',
  summary: 'Send an action to the enrolled device (refused clearly when its enrollment type does not allow it)',
  security,
  request: {
    params: idParams,
    headers: z.object({ 'idempotency-key': z.string().min(1).max(200).optional() }),
    body: { required: true, content: { 'application/json': { schema: adminActionSchema } } },
  },
  responses: {
    202: { description: 'Recorded and queued for the device; the push follows (GET .../commands shows pushedAt)', content: { 'application/json': { schema: ActionAccepted } } },
    404: jsonError('No such enrollment'),
    409: jsonError('The device is not enrolled'),
    422: jsonError('Not allowed for this enrollment type (forbidden_for_user_enrollment, supervised_only, forbidden_payload, forbidden_key…)'),
    503: jsonError('Temporal is unreachable; retry with the same Idempotency-Key'),
  },
});

const listCommands = createRoute({
  method: 'get',
  path: '/enrollments/{id}/commands',
  summary: "The device's commands, newest first: queued → sent → acknowledged / error / not now",
  security,
  request: { params: idParams, query: z.object({ limit: z.coerce.number().int().min(1).max(500).default(100) }) },
  responses: { 200: { description: 'Commands', content: { 'application/json': { schema: z.object({ items: z.array(Command) }) } } }, 404: jsonError('No such enrollment') },
});

/** The action as recorded in the history: secrets (passwords, PINs, certificates) removed. */
function redacted(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redacted);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, /password|pin|secret|certificate|pkcs12|token/i.test(k) ? '[redacted]' : redacted(v)]),
    );
  }
  return value;
}

export function actionRoutes(deps: AppDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: deps.validationHook });

  app.openapi(postAction, async (c) => {
    const id = c.req.valid('param').id;
    const action = c.req.valid('json');
    const target = await deps.db
      .selectFrom('enrollments as e')
      .leftJoin('devices as d', 'd.enrollment_id', 'e.id')
      .select(['e.status', 'd.id as device_id', 'd.kind', 'd.facts'])
      .where('e.id', '=', id)
      .executeTakeFirst();
    if (!target) throw new ApiError(404, 'enrollment_not_found', 'No enrollment has this id.');
    if (target.status !== 'enrolled' || !target.device_id || !target.kind) {
      throw new ApiError(409, 'not_enrolled', `Actions need an enrolled device; this enrollment is ${target.status}.`);
    }
    const supervised = isSupervised(target.kind, target.facts);
    const plan = planAction(action, { kind: target.kind, supervised });
    if (!plan.ok) throw new ApiError(422, plan.code, plan.message, plan.details);

    // Apps and Books apps with a known bundle id go through the app deployment workflow (licence,
    // install, approval), like the agent app.
    if (action.type === 'install_application' && action.bundleId && (await new VppSettingsStore(deps.db, deps.box).token())) {
      const adamId = String(action.itunesStoreId);
      await recordEnrollmentEvent(deps.db, id, { type: 'app_install_requested', adamId, bundleId: action.bundleId }, `app-install:${adamId}:${c.req.valid('header')['idempotency-key'] ?? randomUUID()}`);
      await recordAudit(deps.db, { actor: c.get('actor').name, action: 'device.action', targetType: 'enrollment', targetId: id, details: { type: action.type, adamId }, requestId: c.get('requestId') });
      void deps.relay.kick();
      return c.json({ commandUuid: '', requestType: 'InstallApplication', status: 'deploying', notes: [], deployment: appDeploymentWorkflowId(id, adamId) }, 202);
    }

    const idempotencyKey = `admin:${id}:${c.req.valid('header')['idempotency-key'] ?? randomUUID()}`;
    const existing = await deps.db.selectFrom('command_queue').select(['command_uuid', 'request_type', 'status']).where('idempotency_key', '=', idempotencyKey).executeTakeFirst();
    if (existing && existing.status !== 'staged') {
      if (existing.status === 'refused') throw new ApiError(422, 'refused', 'This request was refused before; send a new request.');
      return c.json({ commandUuid: existing.command_uuid, requestType: existing.request_type, status: existing.status, notes: plan.notes }, 202);
    }
    const actor = c.get('actor').name;
    const commandUuid =
      existing?.command_uuid ??
      (await enqueueCommand(deps.db, deps.box, {
        deviceId: target.device_id,
        requestType: plan.requestType,
        params: plan.params,
        idempotencyKey,
        staged: true,
        requestedBy: actor,
        action: redacted(action) as Record<string, unknown>,
      }));

    let outcome: Awaited<ReturnType<typeof deps.gateway.adminAction>>;
    try {
      outcome = await deps.gateway.adminAction(id, { commandUuid, requestType: plan.requestType, supervised });
    } catch (err) {
      deps.log.warn({ err: String(err), enrollmentId: id }, 'admin action: Temporal unreachable');
      throw new ApiError(503, 'temporal_unavailable', 'The orchestrator is unreachable; retry with the same Idempotency-Key.', undefined, { 'Retry-After': '5' });
    }
    await recordAudit(deps.db, {
      actor,
      action: outcome.accepted ? 'device.action' : 'device.action_refused',
      targetType: 'enrollment',
      targetId: id,
      details: { type: action.type, requestType: plan.requestType, commandUuid, ...(outcome.accepted ? {} : { code: outcome.code }) },
      requestId: c.get('requestId'),
    });
    if (!outcome.accepted) {
      await deps.db.updateTable('command_queue').set({ status: 'refused', answered_at: sql`now()` }).where('command_uuid', '=', commandUuid).execute();
      throw new ApiError(422, outcome.code, outcome.message, (outcome.details as Record<string, unknown> | undefined) ?? undefined);
    }
    const passcode = action.type === 'install_profile' ? action.profile.payloads.find((p) => p.kind === 'passcode') : undefined;
    return c.json(
      {
        commandUuid,
        requestType: plan.requestType,
        status: 'queued',
        notes: plan.notes,
        ...(passcode ? { effectivePasscodePolicy: effectivePasscodePolicy(target.kind, passcode) as unknown as Record<string, unknown> } : {}),
      },
      202,
    );
  });

  app.openapi(listCommands, async (c) => {
    const id = c.req.valid('param').id;
    const device = await deps.db.selectFrom('devices').select('id').where('enrollment_id', '=', id).executeTakeFirst();
    if (!device) {
      const exists = await deps.db.selectFrom('enrollments').select('id').where('id', '=', id).executeTakeFirst();
      if (!exists) throw new ApiError(404, 'enrollment_not_found', 'No enrollment has this id.');
      return c.json({ items: [] }, 200);
    }
    const rows = await deps.db
      .selectFrom('command_queue')
      .select(['command_uuid', 'request_type', 'status', 'requested_by', 'created_at', 'pushed_at', 'sent_at', 'answered_at', 'result_status', 'result'])
      .where('device_id', '=', device.id)
      .orderBy('id', 'desc')
      .limit(c.req.valid('query').limit)
      .execute();
    const iso = (d: Date | null) => (d ? d.toISOString() : null);
    return c.json(
      {
        items: rows.map((r) => ({
          commandUuid: r.command_uuid,
          requestType: r.request_type,
          status: r.status,
          requestedBy: r.requested_by,
          createdAt: r.created_at.toISOString(),
          pushedAt: iso(r.pushed_at),
          sentAt: iso(r.sent_at),
          answeredAt: iso(r.answered_at),
          resultStatus: r.result_status,
          errorChain: ((r.result as { ErrorChain?: unknown[] } | null)?.ErrorChain as unknown[] | undefined) ?? null,
        })),
      },
      200,
    );
  });

  return app;
}
