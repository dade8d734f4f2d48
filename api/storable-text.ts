/**
 * Text PostgreSQL can store. A `text` or `jsonb` value cannot hold U+0000 (NUL), and an unpaired
 * UTF-16 surrogate has no UTF-8 form (`jsonb` refuses its escape; `text` would silently get
 * U+FFFD). The admin API's validation hook (api/validation-hook.ts) refuses both in every string
 * a route receives, object keys included.
 */

const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const UNSTORABLE_EVERYWHERE = new RegExp(UNSTORABLE.source, 'g');

export const UNSTORABLE_MESSAGE = 'must not contain U+0000 (NUL) or an unpaired surrogate: the database cannot store them';

export function isStorableText(text: string): boolean {
  return !UNSTORABLE.test(text);
}

/** `text` with each character the database cannot store replaced by U+FFFD (for echoing input back). */
export function storableText(text: string): string {
  return text.replace(UNSTORABLE_EVERYWHERE, '\uFFFD');
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
      if (!isStorableText(key)) return [...path, storableText(key)].join('.');
      const found = firstUnstorablePath(item, [...path, key]);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}
