import { sql } from 'kysely';
import type { MiddlewareHandler } from 'hono';
import type { Db } from '../db/connection.js';
import type { TokenScope } from '../db/schema.js';
import { hashApiToken } from '../security/api-tokens.js';
import { ApiError, sendError } from './errors.js';
import { clientAddress, type Limit, type RateLimiter } from './rate-limit.js';
import type { AppEnv } from './types.js';

const challenge = { 'WWW-Authenticate': 'Bearer realm="tandem-admin"' };

export interface AdminAuthLimits {
  limiter: RateLimiter;
  /** requests per token per window, once authenticated */
  perToken: Limit;
  /** failed authentications per client address per window */
  failuresPerAddress: Limit;
  trustProxy: boolean;
}

/**
 * Admin bearer tokens, stored hashed in `api_tokens`. `read` tokens may only GET. (Admin routes
 * only: device endpoints never answer 401.) Each request spends the token's budget; a failed
 * authentication spends the client address's, so guessing cannot go on unchecked.
 */
export function requireAdmin(db: Db, limits: AdminAuthLimits): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (c.get('actor')) return next(); // already authenticated by an overlapping route pattern
    const refuse = async (err: ApiError) => (await limits.limiter.spend(c, limits.failuresPerAddress, clientAddress(c, limits.trustProxy))) ?? sendError(c, err);
    const header = c.req.header('authorization') ?? '';
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    // No token guesses nothing: always 401, and the address's failure budget is kept for wrong tokens.
    if (!match) return sendError(c, new ApiError(401, 'unauthenticated', 'Send an admin API token as "Authorization: Bearer <token>".', undefined, challenge));
    const row = await db
      .selectFrom('api_tokens')
      .select(['id', 'name', 'scope', 'expires_at'])
      .where('token_hash', '=', hashApiToken(match[1]!))
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    if (!row) return refuse(new ApiError(401, 'invalid_token', 'The API token is unknown or revoked.', undefined, challenge));
    if (row.expires_at && row.expires_at.getTime() <= Date.now()) {
      return refuse(new ApiError(401, 'token_expired', `The API token expired at ${row.expires_at.toISOString()}; ask an admin for a new one.`, undefined, challenge));
    }
    const spent = await limits.limiter.spend(c, limits.perToken, `token:${row.id}`);
    if (spent) return spent;
    const scope: TokenScope = row.scope;
    if (scope === 'read' && c.req.method !== 'GET' && c.req.method !== 'HEAD') {
      throw new ApiError(403, 'insufficient_scope', 'This token is read-only.');
    }
    c.set('actor', { tokenId: row.id, name: row.name, scope });
    // Best effort and off the request path: last use is informational.
    void db.updateTable('api_tokens').set({ last_used_at: sql`now()` }).where('id', '=', row.id).execute().catch(() => {});
    await next();
  };
}

/** Makes sure a configured bootstrap token (TANDEM_ADMIN_TOKEN) can sign in. */
export async function ensureAdminToken(db: Db, token: string, name = 'bootstrap'): Promise<void> {
  await db
    .insertInto('api_tokens')
    .values({ name, token_hash: hashApiToken(token), scope: 'admin' })
    .onConflict((oc) => oc.column('token_hash').doNothing())
    .execute();
}
