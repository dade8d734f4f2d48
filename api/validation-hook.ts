/**
 * The one place every admin route's input passes once its schema accepted it (body, query, path,
 * headers): what no schema states but the database needs is refused here too, so no text reaches
 * PostgreSQL that it cannot store, whichever route takes it.
 *
 * 400 `validation_failed`: the input breaks the OpenAPI document's schema (or holds text the
 * database cannot store, as the document says). 422 `rule_violated`: the input fits the schema but
 * breaks a rule only the operation's description states (a profile referring to a payload it
 * does not contain, a restriction key Apple's schema does not know…). Refinements whose rule the
 * document's schema does state are marked with `statedInSchema` and stay 400.
 */
import type { Hook } from '@hono/zod-openapi';
import type { ZodError } from 'zod';
import { ApiError, invalidRequest, type RequestPart, validationError } from './errors.js';
import { firstUnstorablePath, UNSTORABLE_MESSAGE } from './storable-text.js';
import type { AppEnv } from './types.js';

/** `params` of a refinement whose rule the document's schema states (anyOf, not…). */
export const statedInSchema = { statedInSchema: true } as const;

const parts: Record<string, RequestPart> = { json: 'body', form: 'body', query: 'query', param: 'params', header: 'headers', cookie: 'headers' };

function refusal(error: ZodError, where: RequestPart): ApiError {
  const beyondSchema = error.issues.every((i) => i.code === 'custom' && !(i.params as { statedInSchema?: boolean } | undefined)?.statedInSchema);
  const refused = validationError(error, where);
  if (!beyondSchema) return refused;
  return new ApiError(422, 'rule_violated', refused.message.replace('is invalid', 'breaks a rule'), refused.details);
}

/** 400 `validation_failed` when `data` holds text the database cannot store. */
export function assertStorable(where: RequestPart, data: unknown): void {
  const unstorable = firstUnstorablePath(data);
  if (unstorable !== undefined) throw invalidRequest(where, [{ path: unstorable, message: UNSTORABLE_MESSAGE }]);
}

export const validationHook: Hook<any, AppEnv, any, any> = (result) => {
  const where = parts[result.target] ?? 'body';
  if (!result.success) throw refusal(result.error as unknown as ZodError, where);
  assertStorable(where, result.data);
};
