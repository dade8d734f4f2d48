/**
 * Apps and Books: the content token (sToken) and the agent app, the admin's "licences purchased"
 * and "sync" actions, and Apple's notifications (authenticated with the token we gave Apple,
 * deduplicated by notificationId).
 */
import { randomBytes, timingSafeEqual, createHash } from 'node:crypto';
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { Hono } from 'hono';
import { createVppClient } from '../../integrations/apple/vpp/client.js';
import { VppError } from '../../integrations/apple/vpp/errors.js';
import { parseContentToken } from '../../integrations/apple/vpp/token.js';
import type { Db } from '../../db/connection.js';
import { resumeDeployments } from '../../db/app-deployments.js';
import { recordEnrollmentEvent } from '../../db/outbox.js';
import { SecretStore } from '../../db/secrets.js';
import { VppSettingsStore, type VppSettings } from '../../db/settings.js';
import type { AppDeps } from '../app.js';
import { ApiError } from '../errors.js';
import type { AppEnv } from '../types.js';
import { jsonError } from './openapi-common.js';
import { recordAudit } from '../../db/audit.js';
import { limitBody } from '../body-limit.js';
import { bearerToken } from '../../security/bearer.js';

const security = [{ bearerAuth: [] }];
const DAY = 86_400_000;

/**
 * The bearer token Apple sends on every notification, and the one being configured. During
 * `POST /client/config` Apple sends a TEST_NOTIFICATION to the new URL with the new token and keeps
 * the configuration only if it is answered 2xx (Apple Developer documentation, Device Management,
 * "Subscribing to notifications" and "Client Config":
 * developer.apple.com/documentation/devicemanagement/subscribing-to-notifications). So the new
 * token is accepted as "pending" from before that call until the call confirms it.
 */
const NOTIFICATION_TOKEN = 'vpp.notification-token';
const PENDING_NOTIFICATION_TOKEN = 'vpp.notification-token.pending';

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
    422: jsonError('Not a usable content token (malformed, expired, or refused by Apple), or Apple could not deliver its test notification to /vpp/notifications (vpp_notification_url_refused)'),
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

/** Resumes deployments waiting for licences, signalling each deployment workflow directly. */
const resumeWaiting = (db: Db, dedupe: string) => resumeDeployments(db, ['waiting_for_licences'], 'licences_available', dedupe);

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
      // Apple tests the notification URL with the new token inside the next call: accept it now.
      await secrets.put(PENDING_NOTIFICATION_TOKEN, notificationAuthToken);
      // Claim the location for this Tandem and have Apple notify us (licence counts, async results).
      await client.updateClientConfig({
        mdmInfo: { id: `tandem:${new URL(deps.publicUrl).host}`, name: `Tandem (${deps.env.TANDEM_ORGANIZATION})` },
        notificationUrl: new URL('/vpp/notifications', deps.publicUrl).href,
        notificationAuthToken,
      });
      await deps.db.transaction().execute(async (trx) => {
        const confirmed = new SecretStore(trx, deps.box);
        await confirmed.put(NOTIFICATION_TOKEN, notificationAuthToken);
        await confirmed.delete(PENDING_NOTIFICATION_TOKEN);
      });
      const settings: VppSettings = {
        orgName: parsed.orgName,
        expiresAt: parsed.expDate.toISOString(),
        uploadedAt: new Date().toISOString(),
        agent: body.agent === undefined ? (current?.agent ?? null) : body.agent,
        serviceConfig: serviceConfig as unknown as Record<string, unknown>,
      };
      await store.put(settings, body.sToken);
      // Deployments stopped on an expired, revoked or missing token resume by themselves.
      if (body.sToken) await resumeDeployments(deps.db, ['vpp_token_invalid', 'vpp_not_configured'], 'sync', `token-uploaded:${settings.uploadedAt}`);
      await recordAudit(deps.db, { actor: c.get('actor').name, action: 'settings.vpp.update', targetType: 'settings', targetId: 'vpp', details: { orgName: parsed.orgName, agent: settings.agent }, requestId: c.get('requestId') });
      void deps.relay.kick();
      return c.json(status(settings), 200);
    } catch (err) {
      // Apple kept the old configuration: the token it was offered must not open the door later.
      if ((await secrets.get(PENDING_NOTIFICATION_TOKEN))?.toString('utf8') === notificationAuthToken) await secrets.delete(PENDING_NOTIFICATION_TOKEN);
      if (err instanceof VppError && err.errorNumber === 9728) {
        throw new ApiError(
          422,
          'vpp_notification_url_refused',
          `Apple could not deliver its test notification to ${new URL('/vpp/notifications', deps.publicUrl).href}: make that URL reachable from the Internet over HTTPS (PUBLIC_URL), then upload again. (${err.message})`,
        );
      }
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
    // The confirmed token, and the one an upload is offering Apple right now (its test notification).
    const accepted = (await Promise.all([secrets.get(NOTIFICATION_TOKEN), secrets.get(PENDING_NOTIFICATION_TOKEN)]))
      .filter((t): t is Buffer => t !== undefined)
      .map((t) => t.toString('utf8'));
    const given = bearerToken(c.req.header('authorization')) ?? '';
    // Every candidate is compared, so the answer's timing does not tell which one matched.
    const matches = accepted.map((expected) => timingSafeEqual(sha(given), sha(expected)));
    if (!matches.includes(true)) {
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
