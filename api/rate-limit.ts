/**
 * Fixed-window rate limits per client and route, counted in Postgres so every API instance spends
 * the same budget. Sign-in pages get tight limits (on top of the per-invite lockout), the admin API
 * a generous one per token. Behind a proxy, the client is the first X-Forwarded-For address only
 * when TRUST_PROXY is set. Subjects are stored as hashes: tokens and addresses never reach a table.
 */
import { createHash } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import { getConnInfo } from '@hono/node-server/conninfo';
import { sql } from 'kysely';
import type { Db } from '../db/connection.js';
import { errorBody } from './errors.js';

export interface RateLimitOptions {
  db: Db;
  /** names the limit, so one client's sign-ins and API calls count apart */
  bucket: string;
  /** requests per window */
  limit: number;
  windowMs: number;
  /** the subject a request counts against (default: the client address) */
  key?: (c: Context) => string;
  trustProxy?: boolean;
}

export function clientAddress(c: Context, trustProxy = false): string {
  if (trustProxy) {
    const forwarded = c.req.header('x-forwarded-for')?.split(',')[0]?.trim();
    if (forwarded) return forwarded;
  }
  try {
    return getConnInfo(c).remote.address ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** Windows older than this are deleted now and then, by whichever instance happens to count. */
const KEEP_WINDOWS_MS = 60 * 60_000;

export function rateLimit(opts: RateLimitOptions): MiddlewareHandler {
  const { db, bucket, limit, windowMs } = opts;
  return async (c, next) => {
    const subject = createHash('sha256')
      .update(opts.key?.(c) ?? clientAddress(c, opts.trustProxy))
      .digest('base64url');
    // The database clock decides the window, so instances with drifting clocks agree.
    const { rows } = await sql<{ hits: number; retry_after_ms: number }>`
      with win as (
        select to_timestamp(floor(extract(epoch from clock_timestamp()) * 1000 / ${windowMs}) * ${windowMs} / 1000.0) as start)
      insert into rate_limit_windows (bucket, subject, window_start, hits)
      select ${bucket}, ${subject}, win.start, 1 from win
      on conflict (bucket, subject, window_start) do update set hits = rate_limit_windows.hits + 1
      returning hits, (extract(epoch from window_start + ${`${windowMs} milliseconds`}::interval - clock_timestamp()) * 1000)::int as retry_after_ms`.execute(db);
    const { hits, retry_after_ms } = rows[0]!;
    if (Math.random() < 0.01) {
      void db.deleteFrom('rate_limit_windows').where('window_start', '<', new Date(Date.now() - KEEP_WINDOWS_MS)).execute().catch(() => {});
    }
    c.header('RateLimit-Limit', String(limit));
    c.header('RateLimit-Remaining', String(Math.max(0, limit - hits)));
    if (hits > limit) {
      const retryAfter = Math.max(1, Math.ceil(retry_after_ms / 1000));
      c.header('Retry-After', String(retryAfter));
      return c.json(errorBody('rate_limited', `Too many requests; retry in ${retryAfter} s.`), 429);
    }
    await next();
  };
}
