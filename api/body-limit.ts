import type { MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { ApiError } from './errors.js';

/**
 * Refuses a JSON or binary request body over `maxSize` bytes with 413 `body_too_large`, counting
 * as it streams (a chunked body without Content-Length is cut off too). The rest of the body is
 * never read, so the connection is closed: no client may reuse it.
 */
export function limitBody(maxSize: number): MiddlewareHandler {
  return bodyLimit({
    maxSize,
    onError: () => {
      throw new ApiError(413, 'body_too_large', `Request bodies are limited to ${maxSize} bytes.`, undefined, { Connection: 'close' });
    },
  });
}
