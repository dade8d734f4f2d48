/**
 * Fixed-window rate limits, counted in Postgres so every API instance spends the same budget.
 * Sign-in forms count per client address; the admin API counts per token once authenticated, and
 * failed authentications per address (so random tokens cannot each open a bucket of their own).
 * Behind proxies, the client address is worked out from the hops TRUST_PROXY declares (client-address.ts).
 * Subjects are stored as HMACs under a key derived from the master key: a table row names no
 * token and no address, and cannot be reversed by hashing every address.
 */
import { createHash, createHmac } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import { sql } from 'kysely';
import type { Db } from '../db/connection.js';
import { clientAddress, NO_PROXY, type TrustedProxies } from './client-address.js';
import { errorBody } from './errors.js';

/** Windows older than this are deleted now and then, by whichever instance happens to count. */
const KEEP_WINDOWS_MS = 60 * 60_000;

export interface Limit {
  /** names the limit, so one client's sign-ins and API calls count apart */
  bucket: string;
  /** requests per window */
  limit: number;
  windowMs: number;
}

export class RateLimiter {
  readonly #key: Buffer;

  constructor(
    private readonly db: Db,
    masterKeyBase64: string,
  ) {
    this.#key = createHash('sha256').update('tandem-rate-limit:').update(Buffer.from(masterKeyBase64, 'base64')).digest();
  }

  /**
   * Counts one request of `subject` against `limit`. Sets the RateLimit headers; returns the 429
   * answer when the budget is spent, else undefined.
   */
  async spend(c: Context, { bucket, limit, windowMs }: Limit, subject: string): Promise<Response | undefined> {
    const hashed = createHmac('sha256', this.#key).update(subject).digest('base64url');
    // The database clock decides the window, so instances with drifting clocks agree.
    const { rows } = await sql<{ hits: number; retry_after_ms: number }>`
      with win as (
        select to_timestamp(floor(extract(epoch from clock_timestamp()) * 1000 / ${windowMs}) * ${windowMs} / 1000.0) as start)
      insert into rate_limit_windows (bucket, subject, window_start, hits)
      select ${bucket}, ${hashed}, win.start, 1 from win
      on conflict (bucket, subject, window_start) do update set hits = rate_limit_windows.hits + 1
      returning hits, (extract(epoch from window_start + ${`${windowMs} milliseconds`}::interval - clock_timestamp()) * 1000)::int as retry_after_ms`.execute(this.db);
    const { hits, retry_after_ms } = rows[0]!;
    if (Math.random() < 0.01) {
      void this.db.deleteFrom('rate_limit_windows').where('window_start', '<', new Date(Date.now() - KEEP_WINDOWS_MS)).execute().catch(() => {});
    }
    c.header('RateLimit-Limit', String(limit));
    c.header('RateLimit-Remaining', String(Math.max(0, limit - hits)));
    if (hits <= limit) return undefined;
    const retryAfter = Math.max(1, Math.ceil(retry_after_ms / 1000));
    c.header('Retry-After', String(retryAfter));
    return c.json(errorBody('rate_limited', `Too many requests; retry in ${retryAfter} s.`), 429);
  }

  /** A middleware spending one request per client address. */
  perAddress(limit: Limit, trustProxy: TrustedProxies = NO_PROXY): MiddlewareHandler {
    return async (c, next) => {
      const refused = await this.spend(c, limit, clientAddress(c, trustProxy));
      if (refused) return refused;
      await next();
    };
  }
}
