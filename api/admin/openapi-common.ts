import { z } from '@hono/zod-openapi';

export const ErrorResponse = z
  .object({
    error: z.object({
      code: z.string().openapi({ example: 'validation_failed' }),
      message: z.string(),
      details: z.record(z.string(), z.unknown()).optional(),
    }),
  })
  .openapi('Error');

export const jsonError = (description: string) => ({ description, content: { 'application/json': { schema: ErrorResponse } } });

/**
 * The characters String.prototype.trim removes (ECMAScript WhiteSpace and LineTerminator), spelled
 * out so that every regex engine reading the document agrees on them.
 */
const TRIMMED = '\\t\\n\\v\\f\\r \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff';

/** Some character that is neither trimmed nor NUL, and no NUL anywhere. */
export const NOT_BLANK = new RegExp(`^[^\\u0000]*[^\\u0000${TRIMMED}][^\\u0000]*$`);

/**
 * A name or label: at most `max` characters as sent, not blank, stored trimmed. The limits apply to
 * what the client sent, so the document's maxLength and pattern are the whole rule.
 */
export const requiredText = (max: number) => z.string().max(max).regex(NOT_BLANK, 'must not be blank, nor contain U+0000 (NUL)').trim();

/** An email address; the pattern is the rule (no JSON Schema `format`, whose validators disagree on the edges). */
export const EMAIL = /^[A-Za-z0-9_'+-]+(?:\.[A-Za-z0-9_'+-]+)*@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$/;
export const email = () => z.string().max(254).regex(EMAIL, 'an email address such as ada@example.com');
