/**
 * Finishes the admin API's OpenAPI document with what every route shares, so no route can forget
 * it: the answers any request can get (400 `validation_failed`, 401, 403 for writes, 413 for
 * bodies, 429, 503) with their headers; the text rule (no NUL in any string) as a `pattern` on
 * every free-text string; and the safe-integer bounds zod applies to every integer. So a generator
 * reading the document never makes a request the API refuses for a reason the document does not
 * state.
 */
import { UNSTORABLE_MESSAGE } from '../storable-text.js';

type Json = Record<string, unknown>;

const errorContent = { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } };
const seconds = { type: 'string', pattern: '^[0-9]+$' };
const retryAfter = { description: 'seconds to wait before retrying', required: true, schema: seconds };

/** The answers every admin route can give, whatever it does. */
export const commonResponses = {
  400: {
    description:
      'Invalid request: `validation_failed` (`details.issues` lists each field path and what is wrong), `malformed_json`. ' +
      `Every string in the query or the body ${UNSTORABLE_MESSAGE}.`,
    content: errorContent,
  },
  401: {
    description: 'No usable API token: `unauthenticated` (no bearer token), `invalid_token` (unknown or revoked), `token_expired`',
    headers: { 'WWW-Authenticate': { description: 'Bearer realm="tandem-admin"', required: true, schema: { type: 'string' } } },
    content: errorContent,
  },
  429: {
    description:
      '`rate_limited`: the token spent its requests for this minute (RATE_LIMIT_API), or this client address sent too many invalid tokens (RATE_LIMIT_SIGN_IN per minute; a request without any token is answered 401 and does not count)',
    headers: {
      'Retry-After': retryAfter,
      'RateLimit-Limit': { description: 'requests allowed per window', required: false, schema: seconds },
      'RateLimit-Remaining': { description: 'requests left in this window', required: false, schema: seconds },
    },
    content: errorContent,
  },
  503: {
    description: '`database_unavailable` (or, where a route says so, the orchestrator is unreachable): retry after Retry-After',
    headers: { 'Retry-After': retryAfter },
    content: errorContent,
  },
} as const;

export const writeResponses = {
  403: { description: '`insufficient_scope`: a read-only token may only GET', content: errorContent },
} as const;

export const bodyResponses = {
  413: { description: '`body_too_large`: request bodies are limited to 1 MiB', content: errorContent },
  415: { description: '`unsupported_media_type`: send the body as application/json', content: errorContent },
} as const;

/** No U+0000 anywhere: the `pattern` of every string that has no stricter pattern, format or value list. */
export const STORABLE_TEXT_PATTERN = '^[^\\u0000]*$';

/**
 * Integers are JavaScript's safe integers (what zod's `int()` accepts): bounds the schema did not
 * give are stated as those.
 */
function addSafeIntegerBounds(schema: Json): void {
  const isInteger = schema.type === 'integer' || (Array.isArray(schema.type) && schema.type.includes('integer'));
  if (!isInteger) return;
  if (!('maximum' in schema) && !('exclusiveMaximum' in schema)) schema.maximum = Number.MAX_SAFE_INTEGER;
  if (!('minimum' in schema) && !('exclusiveMinimum' in schema)) schema.minimum = Number.MIN_SAFE_INTEGER;
}

/** Any JSON value whose strings (and object keys) the database can store: what `{}` means here. */
const STORABLE_JSON = {
  description: `Any JSON value; every string and object key ${UNSTORABLE_MESSAGE}`,
  anyOf: [
    { type: 'string', pattern: STORABLE_TEXT_PATTERN },
    { type: ['number', 'boolean', 'null'] },
    { type: 'array', items: { $ref: '#/components/schemas/StorableJson' } },
    { type: 'object', propertyNames: { pattern: STORABLE_TEXT_PATTERN }, additionalProperties: { $ref: '#/components/schemas/StorableJson' } },
  ],
};

const isAnything = (value: unknown) => !!value && typeof value === 'object' && !Array.isArray(value) && Object.keys(value).length === 0;

function addImplicitRules(node: unknown): void {
  if (Array.isArray(node)) return node.forEach(addImplicitRules);
  if (!node || typeof node !== 'object') return;
  const schema = node as Json;
  addSafeIntegerBounds(schema);
  // Records: their keys are text too; their free values are StorableJson.
  if (schema.additionalProperties && typeof schema.additionalProperties === 'object') {
    schema.propertyNames ??= { pattern: STORABLE_TEXT_PATTERN };
    if (isAnything(schema.additionalProperties)) schema.additionalProperties = { $ref: '#/components/schemas/StorableJson' };
  }
  if (isAnything(schema.items)) schema.items = { $ref: '#/components/schemas/StorableJson' };
  const isString = schema.type === 'string' || (Array.isArray(schema.type) && schema.type.includes('string'));
  if (isString && !('pattern' in schema) && !('format' in schema) && !('enum' in schema) && !('const' in schema)) schema.pattern = STORABLE_TEXT_PATTERN;
  Object.values(schema).forEach(addImplicitRules);
}

/** Adds the shared answers to every operation (an operation's own description of one wins) and the text pattern. */
export function finishAdminDocument<T extends object>(document: T): T {
  const doc = structuredClone(document) as unknown as { paths?: Record<string, Record<string, Json>> };
  for (const operations of Object.values(doc.paths ?? {})) {
    for (const [method, operation] of Object.entries(operations)) {
      if (!operation || typeof operation !== 'object' || !('responses' in operation)) continue;
      const shared = {
        ...commonResponses,
        ...(method === 'get' || method === 'head' ? {} : writeResponses),
        ...(operation.requestBody ? bodyResponses : {}),
      };
      const own = operation.responses as Record<string, Json>;
      const merged: Record<string, Json> = { ...own };
      for (const [status, response] of Object.entries(structuredClone(shared)) as [string, Json][]) {
        merged[status] = own[status] ? { ...response, ...own[status], headers: { ...(response.headers as Json | undefined), ...(own[status].headers as Json | undefined) } } : response;
      }
      operation.responses = Object.fromEntries(Object.entries(merged).sort(([a], [b]) => a.localeCompare(b)));
    }
  }
  addImplicitRules(doc);
  const components = ((doc as unknown as Json).components ??= {}) as Json;
  ((components.schemas ??= {}) as Json).StorableJson = STORABLE_JSON;
  return doc as unknown as T;
}

export const ADMIN_API_DESCRIPTION = [
  'Invite users, watch enrollments, act on devices.',
  '',
  'Every route needs an API token (`Authorization: Bearer <token>`); `read` tokens may only GET. Errors are `{ "error": { "code", "message", "details"? } }`.',
  `Every string in a query or a JSON body ${UNSTORABLE_MESSAGE} (400 \`validation_failed\`).`,
].join('\n');

/** The methods the document lists for the path `path` (under `basePath`), when it lists the path at all. */
export function methodsAllowedAt(document: { paths?: Record<string, object> }, basePath: string, path: string): string[] | undefined {
  for (const [template, operations] of Object.entries(document.paths ?? {})) {
    const pattern = new RegExp(`^${basePath}${template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}/]+\}/g, '[^/]+')}/?$`);
    if (pattern.test(path)) return Object.keys(operations).map((m) => m.toUpperCase());
  }
  return undefined;
}
