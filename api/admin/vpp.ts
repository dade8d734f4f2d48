/**
 * Apps and Books: the content token (sToken) and the agent app, the admin's "licences purchased"
 * and "sync" actions, and Apple's notifications (authenticated with the token we gave Apple,
 * deduplicated by notificationId).
 */
import { randomBytes, timingSafeEqual, createHash } from 'node:crypto';
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { Hono } from 'hono';
import { createVppClient } from '../../activities/vpp/client.js';
import { VppError } from '../../activities/vpp/errors.js';
import { parseContentToken } from '../../activities/vpp/token.js';
import type { Db } from '../../db/connection.js';
import { recordEnrollmentEvent } from '../../db/outbox.js';
import { SecretStore } from '../../db/secrets.js';
import { VppSettingsStore, type VppSettings } from '../../db/settings.js';
import type { AppDeps } from '../app.js';
import { ApiError } from '../errors.js';
import type { AppEnv } from '../types.js';
import { jsonError } from './openapi-common.js';
import { recordAudit } from '../../db/audit.js';
import { limitBody } from '../body-limit.js';

const security = [{ bearerAuth: [] }];
const DAY = 86_400_000;

const VppUpload = z
  .object({
    sToken: z.string().min(20).max(10_000).optional().openapi({ description: 'the content token from Apple Business Manager (Apps and Books), as downloaded; omit to keep the current one' }),
    agent: z
      .object({ adamId: z.string().regex(/^[0-9]+$/), bundleId: z.string().min(3).max(255), pricingParam: z.enum(['STDQ', 'PLUS']).default('STDQ') })
      .nullable()
      .optional()
      .openapi({ description: 'the agent app deployed to every enrolled device (null: none)' }),
  })
  .openapi('VppSettingsInput');

const VppStatus = z
  .object({
    orgName: z.string(),
    expiresAt: z.iso.datetime(),
    expiresInDays: z.number().int(),
    agent: z.object({ adamId: z.string(), bundleId: z.string(), pricingParam: z.string() }).nullable(),
    warnings: z.array(z.string()),
  })
  .openapi('VppSettings');

function status(s: VppSettings) {
  const expiresInDays = Math.floor((Date.parse(s.expiresAt) - Date.now()) / DAY);
  const warnings =
    expiresInDays < 0
      ? ['The Apps and Books token has expired: download a new one from Apple Business Manager and upload it.']
      : expiresInDays < 30
        ? [`The Apps and Books token expires in ${expiresInDays} days: renew it in Apple Business Manager.`]
        : [];
  return { orgName: s.orgName, expiresAt: s.expiresAt, expiresInDays, agent: s.agent, warnings };
}

const putVpp = createRoute({
  method: 'put',
  path: '/settings/vpp',
  summary: 'Upload the Apps and Books content token and choose the agent app; claims the location for Tandem',
  security,
  request: { body: { required: true, content: { 'application/json': { schema: VppUpload } } } },
  responses: {
    200: { description: 'Stored', content: { 'application/json': { schema: VppStatus } } },
    422: jsonError('Not a usable content token (malformed, expired, or refused by Apple)'),
    502: jsonError('Apple could not be reached'),
  },
});
const getVpp = createRoute({
  method: 'get',
  path: '/settings/vpp',
  summary: 'The Apps and Books token in use',
  security,
  responses: { 200: { description: 'Settings', content: { 'application/json': { schema: VppStatus } } }, 404: jsonError('None uploaded') },
});
const purchased = createRoute({
  method: 'post',
  path: '/settings/vpp/licences-purchased',
  summary: 'Licences were bought: resume every deployment waiting for one',
  security,
  responses: { 202: { description: 'Resuming', content: { 'application/json': { schema: z.object({ resumed: z.number().int() }) } } } },
});
const sync = createRoute({
  method: 'post',
  path: '/enrollments/{id}/agent/sync',
  summary: "Restart the agent app's deployment on this device (after a denial, a failure, or a stall)",
  security,
  request: { params: z.object({ id: z.uuid() }) },
  responses: { 202: { description: 'Restarting', content: { 'application/json': { schema: z.object({ id: z.uuid() }) } } }, 404: jsonError('No such enrollment'), 409: jsonError('Not enrolled') },
});

/** Resumes deployments waiting for licences (through each enrollment's outbox). */
async function resumeWaiting(db: Db, dedupe: string): Promise<number> {
  const waiting = await db.selectFrom('app_deployments').select('enrollment_id').where('status', '=', 'waiting_for_licences').execute();
  for (const w of waiting) await recordEnrollmentEvent(db, w.enrollment_id, { type: 'licences_available' }, `licences-available:${dedupe}`);
  return waiting.length;
}

export function vppAdminRoutes(deps: AppDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: deps.validationHook });
  const store = new VppSettingsStore(deps.db, deps.box);
  const secrets = new SecretStore(deps.db, deps.box);

  app.openapi(putVpp, async (c) => {
    const body = c.req.valid('json');
    const current = await store.get();
    const sToken = body.sToken ?? (await store.token());
    if (!sToken) throw new ApiError(422, 'vpp_token_missing', 'Upload the content token (sToken) first.');
    let parsed;
    try {
      parsed = parseContentToken(sToken);
    } catch (err) {
      throw new ApiError(422, 'vpp_token_malformed', (err as Error).message);
    }
    if (parsed.expDate.getTime() <= Date.now()) throw new ApiError(422, 'vpp_token_expired', `The content token expired on ${parsed.expDate.toISOString()}.`);
    const notificationAuthToken = randomBytes(24).toString('base64url');
    try {
      const client = createVppClient({ baseUrl: deps.env.VPP_API_URL, sToken });
      const serviceConfig = await client.getServiceConfig();
      // Claim the location for this Tandem and have Apple notify us (licence counts, async results).
      await client.updateClientConfig({
        mdmInfo: { id: `tandem:${new URL(deps.publicUrl).host}`, name: `Tandem (${deps.env.TANDEM_ORGANIZATION})` },
        notificationUrl: new URL('/vpp/notifications', deps.publicUrl).href,
        notificationAuthToken,
      });
      await secrets.put('vpp.notification-token', notificationAuthToken);
      const settings: VppSettings = {
        orgName: parsed.orgName,
        expiresAt: parsed.expDate.toISOString(),
        uploadedAt: new Date().toISOString(),
        agent: body.agent === undefined ? (current?.agent ?? null) : body.agent,
        serviceConfig: serviceConfig as unknown as Record<string, unknown>,
      };
      await store.put(settings, body.sToken);
      await recordAudit(deps.db, { actor: c.get('actor').name, action: 'settings.vpp.update', targetType: 'settings', targetId: 'vpp', details: { orgName: parsed.orgName, agent: settings.agent }, requestId: c.get('requestId') });
      return c.json(status(settings), 200);
    } catch (err) {
      if (err instanceof VppError && err.kind === 'token_invalid') throw new ApiError(422, 'vpp_token_refused', `Apple refused the content token: ${err.message}`);
      if (err instanceof VppError) throw new ApiError(502, 'vpp_unavailable', `Apps and Books answered: ${err.message}`);
      throw err;
    }
  });

  app.openapi(getVpp, async (c) => {
    const settings = await store.get();
    if (!settings) throw new ApiError(404, 'vpp_not_configured', 'No Apps and Books token has been uploaded.');
    return c.json(status(settings), 200);
  });

  app.openapi(purchased, async (c) => {
    const resumed = await resumeWaiting(deps.db, `admin:${Date.now()}`);
    await recordAudit(deps.db, { actor: c.get('actor').name, action: 'vpp.licences_purchased', targetType: 'settings', targetId: 'vpp', details: { resumed }, requestId: c.get('requestId') });
    void deps.relay.kick();
    return c.json({ resumed }, 202);
  });

  app.openapi(sync, async (c) => {
    const id = c.req.valid('param').id;
    const e = await deps.db.selectFrom('enrollments').select('status').where('id', '=', id).executeTakeFirst();
    if (!e) throw new ApiError(404, 'enrollment_not_found', 'No enrollment has this id.');
    if (e.status !== 'enrolled' && e.status !== 'inactive') throw new ApiError(409, 'not_enrolled', `The enrollment is ${e.status}.`);
    await recordEnrollmentEvent(deps.db, id, { type: 'agent_sync' }, `agent-sync:${Date.now()}`);
    await recordAudit(deps.db, { actor: c.get('actor').name, action: 'agent.sync', targetType: 'enrollment', targetId: id, requestId: c.get('requestId') });
    void deps.relay.kick();
    return c.json({ id }, 202);
  });

  return app;
}

const sha = (s: string) => createHash('sha256').update(s).digest();

/** `POST /vpp/notifications`: Apple's Apps and Books notifications. */
export function vppNotificationRoutes(deps: AppDeps) {
  const app = new Hono();
  const secrets = new SecretStore(deps.db, deps.box);
  app.post('/notifications', limitBody(64 * 1024), async (c) => {
    const expected = (await secrets.get('vpp.notification-token'))?.toString('utf8');
    const given = /^Bearer\s+(\S+)$/i.exec(c.req.header('authorization') ?? '')?.[1] ?? '';
    if (!expected || !timingSafeEqual(sha(given), sha(expected))) {
      return c.json({ error: { code: 'invalid_notification_token', message: 'The notification token does not match.' } }, 403);
    }
    const body = (await c.req.json().catch(() => undefined)) as { notificationId?: unknown; notificationType?: unknown } | undefined;
    if (!body || typeof body.notificationId !== 'string' || typeof body.notificationType !== 'string') {
      return c.json({ error: { code: 'malformed_notification', message: 'Expected notificationId and notificationType.' } }, 400);
    }
    const fresh = await deps.db
      .insertInto('vpp_notifications')
      .values({ notification_id: body.notificationId, notification_type: body.notificationType })
      .onConflict((oc) => oc.column('notification_id').doNothing())
      .returning('notification_id')
      .executeTakeFirst();
    if (fresh && body.notificationType === 'ASSET_COUNT') {
      await resumeWaiting(deps.db, `notification:${body.notificationId}`);
      void deps.relay.kick();
    }
    return c.json({ received: true, duplicate: !fresh });
  });
  return app;
}
