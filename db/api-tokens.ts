import { sql } from 'kysely';
import type { Db } from './connection.js';
import { ConflictError } from './errors.js';
import type { TokenScope } from './schema.js';
import { generateApiToken, hashApiToken } from '../security/api-tokens.js';
import { recordAudit } from './audit.js';

export interface TokenView {
  id: string;
  name: string;
  scope: TokenScope;
  createdAt: string;
  createdBy: string | null;
  lastUsedAt: string | null;
  expiresAt: string | null;
  revokedAt: string | null;
}

interface Actor {
  name: string;
  requestId?: string | undefined;
}

/** Mints a token; the secret is returned once and only its hash is kept. */
export async function mintApiToken(db: Db, req: { name: string; scope: TokenScope; expiresInDays?: number | undefined }, actor: Actor): Promise<TokenView & { token: string }> {
  const token = generateApiToken();
  return db.transaction().execute(async (trx) => {
    const row = await trx
      .insertInto('api_tokens')
      .values({
        name: req.name,
        token_hash: hashApiToken(token),
        scope: req.scope,
        created_by: actor.name,
        expires_at: req.expiresInDays ? sql`now() + ${`${req.expiresInDays} days`}::interval` : null,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    await recordAudit(trx, { actor: actor.name, action: 'token.create', targetType: 'token', targetId: row.id, details: { name: row.name, scope: row.scope, expiresAt: row.expires_at?.toISOString() ?? null }, requestId: actor.requestId });
    return { ...view(row), token };
  });
}

export async function listApiTokens(db: Db): Promise<TokenView[]> {
  const rows = await db.selectFrom('api_tokens').selectAll().orderBy('created_at', 'desc').execute();
  return rows.map(view);
}

/**
 * Revokes a token at once. The last usable admin token cannot be revoked (nobody could mint
 * another); revocations take turns on a lock so two at once cannot both pass that check.
 */
export async function revokeApiToken(db: Db, id: string, actor: Actor): Promise<TokenView | undefined> {
  return db.transaction().execute(async (trx) => {
    await sql`select pg_advisory_xact_lock(hashtextextended('api-tokens', 0))`.execute(trx);
    const row = await trx.selectFrom('api_tokens').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) return undefined;
    if (row.revoked_at) return view(row);
    if (row.scope === 'admin') {
      const others = await trx
        .selectFrom('api_tokens')
        .select(({ fn }) => fn.countAll<string>().as('n'))
        .where('scope', '=', 'admin')
        .where('revoked_at', 'is', null)
        .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', sql<Date>`now()`)]))
        .where('id', '<>', id)
        .executeTakeFirstOrThrow();
      if (Number(others.n) === 0) throw new ConflictError('last_admin_token', 'This is the last usable admin token; mint another admin token before revoking it.');
    }
    const revoked = await trx.updateTable('api_tokens').set({ revoked_at: sql`now()` }).where('id', '=', id).returningAll().executeTakeFirstOrThrow();
    await recordAudit(trx, { actor: actor.name, action: 'token.revoke', targetType: 'token', targetId: id, details: { name: row.name, scope: row.scope }, requestId: actor.requestId });
    return view(revoked);
  });
}

function view(r: { id: string; name: string; scope: TokenScope; created_at: Date; created_by: string | null; last_used_at: Date | null; expires_at: Date | null; revoked_at: Date | null }): TokenView {
  return {
    id: r.id,
    name: r.name,
    scope: r.scope,
    createdAt: r.created_at.toISOString(),
    createdBy: r.created_by,
    lastUsedAt: r.last_used_at?.toISOString() ?? null,
    expiresAt: r.expires_at?.toISOString() ?? null,
    revokedAt: r.revoked_at?.toISOString() ?? null,
  };
}
