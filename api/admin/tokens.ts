/**
 * Admin API tokens: mint (the secret is shown once), list, revoke. Scopes: `admin`, or `read` for
 * dashboards and auditors (GET only). Every change is in the audit log.
 */
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { listApiTokens, mintApiToken, revokeApiToken } from '../../db/api-tokens.js';
import type { AppDeps } from '../app.js';
import { ApiError } from '../errors.js';
import type { AppEnv } from '../types.js';
import { jsonError, requiredText } from './openapi-common.js';

const security = [{ bearerAuth: [] }];

const Token = z
  .object({
    id: z.uuid(),
    name: z.string(),
    scope: z.enum(['admin', 'read']),
    createdAt: z.iso.datetime(),
    createdBy: z.string().nullable(),
    lastUsedAt: z.iso.datetime().nullable(),
    expiresAt: z.iso.datetime().nullable(),
    revokedAt: z.iso.datetime().nullable(),
  })
  .openapi('ApiToken');

const MintToken = z
  .object({
    name: requiredText(100).openapi({ example: 'monitoring dashboard' }),
    scope: z.enum(['admin', 'read']).openapi({ description: '`read` may only GET' }),
    expiresInDays: z.number().int().min(1).max(3650).optional().openapi({ description: 'omit for a token that does not expire' }),
  })
  .openapi('MintApiToken');

const mint = createRoute({
  method: 'post',
  path: '/tokens',
  summary: 'Mint an API token (the secret is in this answer only)',
  security,
  request: { body: { required: true, content: { 'application/json': { schema: MintToken } } } },
  responses: {
    201: { description: 'Minted', content: { 'application/json': { schema: Token.extend({ token: z.string() }) } } },
  },
});

const list = createRoute({
  method: 'get',
  path: '/tokens',
  summary: 'API tokens (never their secrets)',
  security,
  responses: { 200: { description: 'Tokens', content: { 'application/json': { schema: z.object({ items: z.array(Token) }) } } } },
});

const revoke = createRoute({
  method: 'delete',
  path: '/tokens/{id}',
  summary: 'Revoke a token at once',
  security,
  request: { params: z.object({ id: z.uuid() }) },
  responses: {
    200: { description: 'Revoked (or already revoked)', content: { 'application/json': { schema: Token } } },
    404: jsonError('No such token'),
    409: jsonError('The last usable admin token (last_admin_token)'),
  },
});

export function tokenRoutes(deps: AppDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: deps.validationHook });
  const actorOf = (c: Context<AppEnv>) => ({ name: c.get('actor').name, requestId: c.get('requestId') });

  app.openapi(mint, async (c) => c.json(await mintApiToken(deps.db, c.req.valid('json'), actorOf(c)), 201));
  app.openapi(list, async (c) => c.json({ items: await listApiTokens(deps.db) }, 200));
  app.openapi(revoke, async (c) => {
    const revoked = await revokeApiToken(deps.db, c.req.valid('param').id, actorOf(c));
    if (!revoked) throw new ApiError(404, 'token_not_found', 'No API token has this id.');
    return c.json(revoked, 200);
  });
  return app;
}
