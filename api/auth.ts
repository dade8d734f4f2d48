import { sql } from 'kysely';
import type { MiddlewareHandler } from 'hono';
import { recordAudit } from '../db/audit.js';
import type { Db } from '../db/connection.js';
import type { TokenScope } from '../db/schema.js';
import { hashApiToken } from '../security/api-tokens.js';
import { bearerToken } from '../security/bearer.js';
import { ApiError, sendError } from './errors.js';
import { clientAddress, type TrustedProxies } from './client-address.js';
import type { Limit, RateLimiter } from './rate-limit.js';
import type { AppEnv } from './types.js';

const challenge = { 'WWW-Authenticate': 'Bearer realm="tandem-admin"' };

export interface AdminAuthLimits {
  limiter: RateLimiter;
  /** requests per token per window, once authenticated */
  perToken: Limit;
  /** failed authentications per client address per window */
  failuresPerAddress: Limit;
  trustProxy: TrustedProxies;
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
    const token = bearerToken(c.req.header('authorization'));
    // No token guesses nothing: always 401, and the address's failure budget is kept for wrong tokens.
    if (!token) return sendError(c, new ApiError(401, 'unauthenticated', 'Send an admin API token as "Authorization: Bearer <token>".', undefined, challenge));
    const row = await db
      .selectFrom('api_tokens')
      .select(['id', 'name', 'scope', 'expires_at'])
      .where('token_hash', '=', hashApiToken(token))
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

export type BootstrapTokenChange = 'unchanged' | 'created' | 'replaced' | 'revoked';

/**
 * Makes the configured bootstrap token (TANDEM_ADMIN_TOKEN) sign in. A new value replaces the
 * token the previous value registered under the same name: the old one is revoked at once (an
 * operator changes the variable to shut out whoever learnt it) and the audit log records it. A
 * value an admin revoked stays revoked.
 */
export async function ensureAdminToken(db: Db, token: string, name = 'bootstrap'): Promise<BootstrapTokenChange> {
  const tokenHash = hashApiToken(token);
  return db.transaction().execute(async (trx) => {
    // Instances starting together take turns, as revocations do (db/api-tokens.ts).
    await sql`select pg_advisory_xact_lock(hashtextextended('api-tokens', 0))`.execute(trx);
    const existing = await trx.selectFrom('api_tokens').select(['revoked_at']).where('token_hash', '=', tokenHash).executeTakeFirst();
    if (existing) return existing.revoked_at ? 'revoked' : 'unchanged';
    // Bootstrap tokens are the ones no admin minted (created_by is null).
    const previous = await trx
      .updateTable('api_tokens')
      .set({ revoked_at: sql`now()` })
      .where('name', '=', name)
      .where('created_by', 'is', null)
      .where('revoked_at', 'is', null)
      .returning('id')
      .execute();
    const row = await trx.insertInto('api_tokens').values({ name, token_hash: tokenHash, scope: 'admin' }).returning('id').executeTakeFirstOrThrow();
    const replaced = previous.map((p) => p.id);
    await recordAudit(trx, {
      actor: 'tandem',
      action: replaced.length ? 'token.replace' : 'token.create',
      targetType: 'token',
      targetId: row.id,
      details: { name, scope: 'admin', source: 'TANDEM_ADMIN_TOKEN', ...(replaced.length ? { replaced } : {}) },
    });
    return replaced.length ? 'replaced' : 'created';
  });
}
