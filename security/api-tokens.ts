import { createHash, randomBytes } from 'node:crypto';

/** Admin API tokens are stored as sha256 only; a lookup by hash is constant-time for the secret. */
export function hashApiToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

export function generateApiToken(): string {
  return `tdm_${randomBytes(24).toString('base64url')}`;
}
