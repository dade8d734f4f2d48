/**
 * Text fields of the JSON the admin API takes (profiles, actions, and the admin API's own bodies),
 * as rules an OpenAPI reader sees whole: each is a `maxLength` and a `pattern` checked on what the
 * client sent, written with explicit character classes so that every regex engine (JavaScript's
 * here, Python's in Schemathesis) agrees on them. No rule depends on a `format` validator.
 */
import { z } from 'zod';

/** The characters String.prototype.trim removes (ECMAScript WhiteSpace and LineTerminator). */
export const TRIMMED = '\\t\\n\\v\\f\\r \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff';

/** Some character that is neither trimmed nor NUL, and no NUL anywhere (PostgreSQL cannot store it). */
export const NOT_BLANK = new RegExp(`^[^\\u0000]*[^\\u0000${TRIMMED}][^\\u0000]*$`);

/** A name or label: at most `max` characters as sent, not blank, no NUL; stored trimmed. */
export const requiredText = (max: number) => z.string().max(max).regex(NOT_BLANK, { error: 'must not be blank, nor contain U+0000 (NUL)' }).trim();

/** One token without whitespace, NUL or slash (a host name or address). */
export const HOST = new RegExp(`^[^\\u0000/${TRIMMED}]+$`);

/** An email address. */
export const EMAIL = /^[A-Za-z0-9_'+-]+(?:\.[A-Za-z0-9_'+-]+)*@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$/;
export const emailAddress = () => z.string().max(254).regex(EMAIL, { error: 'an email address such as ada@example.com' });

/** Standard base64 with padding, as a pattern (a `format` or `contentEncoding` is not checked alike everywhere). */
export const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
