/**
 * One error shape for every JSON answer: `{ "error": { "code", "message", "details"? } }`.
 * `code` is machine-readable and stable; `message` is for people.
 */
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { ZodError } from 'zod';
import { storableText } from './storable-text.js';

export class ApiError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    message: string,
    readonly details?: Record<string, unknown>,
    readonly headers?: Record<string, string>,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export function errorBody(code: string, message: string, details?: Record<string, unknown>) {
  return { error: { code, message, ...(details ? { details } : {}) } };
}

export function sendError(c: Context, err: ApiError): Response {
  for (const [k, v] of Object.entries(err.headers ?? {})) c.header(k, v);
  return c.json(errorBody(err.code, err.message, err.details), err.status);
}

export type RequestPart = 'body' | 'query' | 'params' | 'headers';

/** 400 `validation_failed`: what is wrong, as field paths a client can point at (`user.email`, `channel`). */
export function invalidRequest(where: RequestPart, given: { path: string; message: string }[]): ApiError {
  // Paths can name the client's own keys: echo them as text that can be stored and logged.
  const issues = given.map((i) => ({ path: storableText(i.path), message: storableText(i.message) }));
  const summary = issues.map((i) => `${i.path}: ${i.message}`).join('; ');
  return new ApiError(400, 'validation_failed', `The request ${where} is invalid: ${summary}`, { issues });
}

/** Zod issues as a 400 `validation_failed`. */
export function validationError(error: ZodError, where: RequestPart = 'body'): ApiError {
  return invalidRequest(
    where,
    error.issues.map((i) => ({ path: i.path.map(String).join('.') || '(root)', message: i.message })),
  );
}
