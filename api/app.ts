/**
 * The Hono application, built by a factory from its dependencies; `api/server.ts` serves it:
 * - `/api/v1`: the admin JSON API (bearer token, rate-limited), its OpenAPI document and docs page;
 * - `/healthz`, `/readyz`: operations;
 * - `/enroll`: the enrollment portal (invite sign-in, profile download);
 * - `/mdm`: device check-ins and command polls;
 * - `/.well-known/com.apple.remotemanagement`, `/account-enrollment`: account-driven enrollment;
 * - `/vpp/notifications`: Apple's Apps and Books notifications;
 * - `/sandbox`: the local outbox, in sandbox mode only.
 */
import { OpenAPIHono, type Hook } from '@hono/zod-openapi';
import { HTTPException } from 'hono/http-exception';
import { requestId } from 'hono/request-id';
import { secureHeaders } from 'hono/secure-headers';
import type { Logger } from 'pino';
import type { Env } from '../config/env.js';
import type { Db } from '../db/connection.js';
import { InviteChangeError } from '../db/enrollments.js';
import { ConflictError, isDatabaseUnavailable } from '../db/errors.js';
import type { SecretBox } from '../security/secret-box.js';
import { accountEnrollmentRoutes } from './account/routes.js';
import { actionRoutes } from './admin/actions.js';
import { tokenRoutes } from './admin/tokens.js';
import { auditRoutes } from './admin/audit.js';
import { policyRoutes } from './admin/policies.js';
import { vppAdminRoutes, vppNotificationRoutes } from './admin/vpp.js';
import { directoryRoutes } from './admin/directory.js';
import { settingsRoutes } from './admin/settings.js';
import { mdmRoutes } from './device/mdm.js';
import { sandboxRoutes } from './ops/sandbox.js';
import { portalRoutes } from './portal/routes.js';
import { enrollmentRoutes } from './admin/enrollments.js';
import { requireAdmin } from './auth.js';
import { RateLimiter } from './rate-limit.js';
import { limitBody } from './body-limit.js';
import { ApiError, errorBody, sendError } from './errors.js';
import { docsRoutes } from './ops/docs.js';
import { ADMIN_API_DESCRIPTION, finishAdminDocument, methodsAllowedAt } from './admin/openapi-document.js';
import { validationHook } from './validation-hook.js';
import { healthRoutes } from './ops/health.js';
import type { OutboxRelay } from './outbox-relay.js';
import type { AppEnv } from './types.js';
import type { WorkflowGateway } from './workflow-gateway.js';

export interface AppDeps {
  env: Env;
  db: Db;
  box: SecretBox;
  /** sandbox mode: invites go to /sandbox/outbox, pushes to a local sink */
  sandbox: boolean;
  gateway: WorkflowGateway;
  relay: OutboxRelay;
  log: Logger;
  /** Base URL devices and admins reach Tandem at (links in invites, profiles). */
  publicUrl: string;
  validationHook: Hook<any, AppEnv, any, any>;
}

const ADMIN_BODY_LIMIT = 1024 * 1024;

export function createApp(deps: Omit<AppDeps, 'validationHook'>) {
  const full: AppDeps = {
    ...deps,
    validationHook,
  };
  const app = new OpenAPIHono<AppEnv>({ defaultHook: full.validationHook });

  app.use(requestId({ headerName: 'X-Request-Id' }));
  app.use(secureHeaders());
  app.use(async (c, next) => {
    const started = performance.now();
    await next();
    deps.log.info(
      // One-time download tokens are credentials: never in the logs.
      { reqId: c.get('requestId'), method: c.req.method, path: c.req.path.replace(/\/profile\/[^/]+$/, '/profile/[token]'), status: c.res.status, ms: Math.round(performance.now() - started) },
      'request',
    );
  });

  app.route('/', healthRoutes(deps.db, deps.gateway));

  const limiter = new RateLimiter(deps.db, deps.env.TANDEM_MASTER_KEY!);
  // Sign-in forms: per client address, per minute (the per-invite lockout counts wrong passwords).
  const signIn = { bucket: 'sign-in', limit: deps.env.RATE_LIMIT_SIGN_IN, windowMs: 60_000 };
  app.on('POST', ['/enroll/:id/sign-in', '/account-enrollment/sign-in'], limiter.perAddress(signIn, deps.env.TRUST_PROXY));
  // The admin API: per token once authenticated; failed authentications per address.
  const adminAuth = requireAdmin(deps.db, {
    limiter,
    perToken: { bucket: 'api', limit: deps.env.RATE_LIMIT_API, windowMs: 60_000 },
    failuresPerAddress: { ...signIn, bucket: 'api-auth-failure' },
    trustProxy: deps.env.TRUST_PROXY,
  });

  const admin = new OpenAPIHono<AppEnv>({ defaultHook: full.validationHook });
  admin.use(limitBody(ADMIN_BODY_LIMIT));
  for (const path of ['/enrollments', '/enrollments/*', '/settings/*', '/users', '/users/*', '/policies', '/policies/*', '/audit', '/tokens', '/tokens/*']) admin.use(path, adminAuth);
  admin.route('/', enrollmentRoutes(full));
  admin.route('/', settingsRoutes(full));
  admin.route('/', directoryRoutes(full));
  admin.route('/', actionRoutes(full));
  admin.route('/', policyRoutes(full));
  admin.route('/', vppAdminRoutes(full));
  admin.route('/', auditRoutes(full));
  admin.route('/', tokenRoutes(full));
  admin.openAPIRegistry.registerComponent('securitySchemes', 'bearerAuth', { type: 'http', scheme: 'bearer' });
  let document: ReturnType<typeof admin.getOpenAPI31Document> | undefined;
  const adminDocument = () =>
    (document ??= finishAdminDocument(
      admin.getOpenAPI31Document({
        openapi: '3.1.0',
        info: { title: 'Tandem admin API', version: '1', description: ADMIN_API_DESCRIPTION },
        servers: [{ url: new URL('/api/v1', deps.publicUrl).href }],
      }),
    ));
  admin.get('/openapi.json', (c) => c.json(adminDocument()));
  admin.route('/docs', docsRoutes(new URL('/api/v1/openapi.json', deps.publicUrl).pathname));
  app.route('/api/v1', admin);

  app.route(
    '/enroll',
    portalRoutes({
      db: deps.db,
      box: deps.box,
      relay: deps.relay,
      masterKey: deps.env.TANDEM_MASTER_KEY!,
      organization: deps.env.TANDEM_ORGANIZATION,
      publicUrl: deps.publicUrl,
      maxAttempts: deps.env.PORTAL_MAX_ATTEMPTS,
      lockoutMs: deps.env.PORTAL_LOCKOUT,
      identityValidityMs: deps.env.TANDEM_IDENTITY_VALIDITY,
    }),
  );
  app.route('/mdm', mdmRoutes({ db: deps.db, box: deps.box, relay: deps.relay, log: deps.log, organization: deps.env.TANDEM_ORGANIZATION, publicUrl: deps.publicUrl }));
  app.route('/', accountEnrollmentRoutes({ db: deps.db, box: deps.box, relay: deps.relay, log: deps.log, env: deps.env, publicUrl: deps.publicUrl }));
  app.route('/vpp', vppNotificationRoutes(full));
  if (deps.sandbox) app.route('/sandbox', sandboxRoutes(deps.db, deps.env.TANDEM_ORGANIZATION));

  app.notFound((c) => {
    // A documented admin path asked with a method the document does not list: 405 and what is allowed.
    const allowed = methodsAllowedAt(adminDocument(), '/api/v1', c.req.path);
    if (allowed) {
      c.header('Allow', allowed.join(', '));
      return c.json(errorBody('method_not_allowed', `${c.req.path} answers ${allowed.join(', ')}, not ${c.req.method}.`), 405);
    }
    return c.json(errorBody('not_found', `Nothing is served at ${c.req.method} ${c.req.path}.`), 404);
  });
  app.onError((err, c) => {
    if (err instanceof ApiError) return sendError(c, err);
    if (err instanceof ConflictError) return c.json(errorBody(err.code, err.message, err.details), 409);
    if (err instanceof InviteChangeError) return c.json(errorBody(err.code, err.message), err.code === 'enrollment_not_found' ? 404 : 409);
    if (err instanceof HTTPException) {
      const code = /malformed json/i.test(err.message) ? 'malformed_json' : err.status === 415 ? 'unsupported_media_type' : 'bad_request';
      return c.json(errorBody(code, err.message), err.status);
    }
    if (isDatabaseUnavailable(err)) {
      deps.log.warn({ reqId: c.get('requestId'), err: String(err) }, 'database unavailable');
      c.header('Retry-After', '5');
      return c.json(errorBody('database_unavailable', 'The database is unreachable; retry shortly.'), 503);
    }
    deps.log.error({ reqId: c.get('requestId'), err }, 'unhandled error');
    return c.json(errorBody('internal_error', 'Something went wrong on our side; the request id identifies it in the logs.', { requestId: c.get('requestId') }), 500);
  });
  return app;
}
