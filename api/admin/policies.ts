import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { Db } from '../../db/connection.js';
import { recordAudit } from '../../db/audit.js';
import { recordEnrollmentEvent } from '../../db/outbox.js';
import { applicationsFor, createPolicy, deletePolicy, enrollmentsReachedBy, listPolicies, updatePolicy } from '../../db/policies.js';
import { profileSpecSchema } from '../../mdm/payloads.js';
import type { AppDeps } from '../app.js';
import { ApiError } from '../errors.js';
import type { AppEnv } from '../types.js';
import { jsonError, requiredText } from './openapi-common.js';
import { statedInSchema } from '../validation-hook.js';

const security = [{ bearerAuth: [] }];

const PolicyBody = z
  .object({
    name: requiredText(200),
    assignTo: z.union([z.object({ all: z.literal(true) }), z.object({ group: requiredText(100) })]),
    profile: profileSpecSchema.optional(),
    requiredApps: z
      .array(z.object({ adamId: z.string().regex(/^[0-9]+$/), bundleId: z.string().min(3).max(255) }))
      .max(50)
      .default([])
      .openapi({ description: 'Apps and Books apps every device in scope gets (user licence, install, approval tracked)' }),
  })
  .refine((p) => p.profile || p.requiredApps.length, { message: 'a policy needs a profile, required apps, or both', path: ['profile'], params: statedInSchema })
  .openapi({
    description: 'A policy needs a profile, required apps, or both.',
    anyOf: [{ required: ['profile'] }, { required: ['requiredApps'], properties: { requiredApps: { minItems: 1 } } }],
  } as object)
  .openapi('PolicyInput');

const Policy = z
  .object({
    id: z.uuid(),
    name: z.string(),
    group: z.string().nullable(),
    version: z.number().int(),
    payloadKinds: z.array(z.string()),
    requiredApps: z.array(z.object({ adamId: z.string(), bundleId: z.string() })),
    updatedAt: z.iso.datetime(),
  })
  .openapi('Policy');

const profileRules = jsonError(
  '`rule_violated`: the profile fits the schema but breaks a rule the schema cannot state: restriction keys and value types from Apple\'s schema, payload UUIDs unique and referring to a certificate payload of the same profile, a readable certificate, the Wi-Fi and VPN credential combinations',
);

const Saved = z.object({ id: z.uuid(), version: z.number().int(), enrollmentsNotified: z.number().int() }).openapi('PolicySaved');
const idParams = z.object({ id: z.uuid() });

const create = createRoute({
  method: 'post',
  path: '/policies',
  summary: 'Create a policy (a configuration profile for everyone or a group); applied to enrolled devices now and to new ones after enrollment',
  security,
  request: { body: { required: true, content: { 'application/json': { schema: PolicyBody } } } },
  responses: { 201: { description: 'Created', content: { 'application/json': { schema: Saved } } }, 422: profileRules },
});
const update = createRoute({
  method: 'put',
  path: '/policies/{id}',
  summary: 'Change a policy: a new version, re-applied to every device it reaches',
  security,
  request: { params: idParams, body: { required: true, content: { 'application/json': { schema: PolicyBody } } } },
  responses: { 200: { description: 'Saved', content: { 'application/json': { schema: Saved } } }, 404: jsonError('No such policy'), 422: profileRules },
});
const list = createRoute({
  method: 'get',
  path: '/policies',
  summary: 'Policies',
  security,
  responses: { 200: { description: 'Policies', content: { 'application/json': { schema: z.object({ items: z.array(Policy) }) } } } },
});
const remove = createRoute({
  method: 'delete',
  path: '/policies/{id}',
  summary: 'Stop assigning a policy (profiles already installed stay until removed with an action)',
  security,
  request: { params: idParams },
  responses: { 204: { description: 'Deleted' }, 404: jsonError('No such policy') },
});
const applied = createRoute({
  method: 'get',
  path: '/enrollments/{id}/policies',
  summary: 'Which policy versions reached this device, and how it answered',
  security,
  request: { params: idParams },
  responses: {
    200: {
      description: 'Applications',
      content: {
        'application/json': {
          schema: z.object({
            items: z.array(
              z.object({
                policyId: z.uuid(),
                name: z.string(),
                version: z.number().int(),
                status: z.string().openapi({ description: 'refused, or the InstallProfile command status (queued, sent, acknowledged, error…)' }),
                commandUuid: z.string().nullable(),
                refused: z.object({ code: z.string(), message: z.string() }).nullable(),
                notes: z.array(z.unknown()),
              }),
            ),
          }),
        },
      },
    },
  },
});

/** Tells every enrolled workflow a policy reaches that it changed (through the outbox). */
async function notify(db: Db, group: string | null, policyId: string, version: number): Promise<number> {
  const ids = await enrollmentsReachedBy(db, group);
  for (const id of ids) await recordEnrollmentEvent(db, id, { type: 'policies_changed' }, `policies-changed:${policyId}:${version}`);
  return ids.length;
}

export function policyRoutes(deps: AppDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: deps.validationHook });
  const audit = (actor: string, action: string, id: string, requestId: string | undefined) =>
    recordAudit(deps.db, { actor, action, targetType: 'policy', targetId: id, requestId });

  app.openapi(create, async (c) => {
    const body = c.req.valid('json');
    const group = 'group' in body.assignTo ? body.assignTo.group : null;
    const saved = await createPolicy(deps.db, deps.box, { name: body.name, group, profile: body.profile ?? null, requiredApps: body.requiredApps });
    await audit(c.get('actor').name, 'policy.create', saved.id, c.get('requestId'));
    const enrollmentsNotified = await notify(deps.db, group, saved.id, saved.version);
    void deps.relay.kick();
    return c.json({ ...saved, enrollmentsNotified }, 201);
  });

  app.openapi(update, async (c) => {
    const body = c.req.valid('json');
    const group = 'group' in body.assignTo ? body.assignTo.group : null;
    const saved = await updatePolicy(deps.db, deps.box, c.req.valid('param').id, { name: body.name, group, profile: body.profile ?? null, requiredApps: body.requiredApps });
    if (!saved) throw new ApiError(404, 'policy_not_found', 'No policy has this id.');
    await audit(c.get('actor').name, 'policy.update', saved.id, c.get('requestId'));
    const enrollmentsNotified = await notify(deps.db, group, saved.id, saved.version);
    void deps.relay.kick();
    return c.json({ ...saved, enrollmentsNotified }, 200);
  });

  app.openapi(list, async (c) => c.json({ items: await listPolicies(deps.db, deps.box) }, 200));

  app.openapi(remove, async (c) => {
    const id = c.req.valid('param').id;
    if (!(await deletePolicy(deps.db, id))) throw new ApiError(404, 'policy_not_found', 'No policy has this id.');
    await audit(c.get('actor').name, 'policy.delete', id, c.get('requestId'));
    return c.body(null, 204);
  });

  app.openapi(applied, async (c) => {
    const rows = await applicationsFor(deps.db, c.req.valid('param').id);
    return c.json(
      {
        items: rows.map((r) => ({
          policyId: r.policy_id,
          name: r.name,
          version: r.version,
          status: r.refused_code ? 'refused' : (r.command_status ?? 'queued'),
          commandUuid: r.command_uuid,
          refused: r.refused_code ? { code: r.refused_code, message: r.refused_message ?? '' } : null,
          notes: r.notes,
        })),
      },
      200,
    );
  });

  return app;
}
