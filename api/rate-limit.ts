/**
 * Fixed-window rate limits per client and route, in memory. Sign-in pages get tight limits (on top
 * of the per-invite lockout), the admin API a generous one per token. Behind a proxy, the client is
 * the first X-Forwarded-For address only when TRUST_PROXY is set.
 */
import type { Context, MiddlewareHandler } from 'hono';
import { getConnInfo } from '@hono/node-server/conninfo';
import { errorBody } from './errors.js';

export interface RateLimitOptions {
  /** requests per window */
  limit: number;
  windowMs: number;
  /** the bucket a request counts against (default: the client address) */
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

export function rateLimit(opts: RateLimitOptions): MiddlewareHandler {
  const windows = new Map<string, { start: number; count: number }>();
  return async (c, next) => {
    const now = Date.now();
    const id = opts.key?.(c) ?? clientAddress(c, opts.trustProxy);
    let w = windows.get(id);
    if (!w || now - w.start >= opts.windowMs) {
      w = { start: now, count: 0 };
      windows.set(id, w);
      if (windows.size > 50_000) for (const [k, v] of windows) if (now - v.start >= opts.windowMs) windows.delete(k);
    }
    w.count += 1;
    const retryAfter = Math.ceil((w.start + opts.windowMs - now) / 1000);
    c.header('RateLimit-Limit', String(opts.limit));
    c.header('RateLimit-Remaining', String(Math.max(0, opts.limit - w.count)));
    if (w.count > opts.limit) {
      c.header('Retry-After', String(retryAfter));
      return c.json(errorBody('rate_limited', `Too many requests; retry in ${retryAfter} s.`), 429);
    }
    await next();
  };
}
