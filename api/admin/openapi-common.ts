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

export { BASE64, emailAddress as email, requiredText } from '../../mdm/text.js';
