/**
 * Text PostgreSQL can store. A `text` or `jsonb` value cannot hold U+0000 (NUL), and an unpaired
 * UTF-16 surrogate has no UTF-8 form (`jsonb` refuses its escape; `text` would silently get
 * U+FFFD). The admin API refuses both, in every string of a JSON body (object keys included) and
 * of the query string, before any route sees the request: one place for every text that can reach
 * the database, whichever route reads it and however.
 */
import type { MiddlewareHandler } from 'hono';
import { invalidRequest } from './errors.js';

const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

const UNSTORABLE_EVERYWHERE = new RegExp(UNSTORABLE.source, 'g');

export const UNSTORABLE_MESSAGE = 'must not contain U+0000 (NUL) or an unpaired surrogate: the database cannot store them';

export function isStorableText(text: string): boolean {
  return !UNSTORABLE.test(text);
}

/** The path (`user.name`, `users.0.groups.1`) of the first string in `value` that cannot be stored. */
export function firstUnstorablePath(value: unknown, path: string[] = []): string | undefined {
  if (typeof value === 'string') return isStorableText(value) ? undefined : path.join('.') || '(root)';
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) {
      const found = firstUnstorablePath(item, [...path, String(i)]);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  if (value && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      if (!isStorableText(key)) return [...path, key.replace(UNSTORABLE_EVERYWHERE, '\uFFFD')].join('.');
      const found = firstUnstorablePath(item, [...path, key]);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}

/** 400 `validation_failed` for a query string or JSON body holding text the database cannot store. */
export function refuseUnstorableText(): MiddlewareHandler {
  return async (c, next) => {
    const inQuery = firstUnstorablePath(c.req.queries());
    if (inQuery !== undefined) throw invalidRequest('query', [{ path: inQuery, message: UNSTORABLE_MESSAGE }]);
    if (c.req.method !== 'GET' && c.req.method !== 'HEAD') {
      const text = await c.req.text();
      let body: unknown;
      try {
        body = text ? JSON.parse(text) : undefined;
      } catch {
        body = undefined; // not JSON: the route's own validation answers
      }
      const inBody = firstUnstorablePath(body);
      if (inBody !== undefined) throw invalidRequest('body', [{ path: inBody, message: UNSTORABLE_MESSAGE }]);
    }
    await next();
  };
}
