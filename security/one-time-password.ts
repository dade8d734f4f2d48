/**
 * One-time passwords for invites: short enough to type on a phone, drawn from an alphabet without
 * look-alike characters, stored only as a salted scrypt hash (plus a sealed copy for reminders).
 */
import { randomInt, randomBytes, scrypt as scryptCb, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';

const scrypt = promisify(scryptCb) as (password: string, salt: Buffer, keylen: number) => Promise<Buffer>;
const ALPHABET = 'ABCDEFGHJKMNPQRSTUVWXYZ23456789';

export function generateOneTimePassword(length = 10): string {
  let out = '';
  for (let i = 0; i < length; i++) out += ALPHABET[randomInt(ALPHABET.length)];
  return out;
}

export async function hashOneTimePassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const hash = await scrypt(normalise(password), salt, 32);
  return `scrypt$${salt.toString('base64')}$${hash.toString('base64')}`;
}

export async function verifyOneTimePassword(password: string, stored: string): Promise<boolean> {
  const [scheme, salt, hash] = stored.split('$');
  if (scheme !== 'scrypt' || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64');
  const actual = await scrypt(normalise(password), Buffer.from(salt, 'base64'), expected.length);
  return timingSafeEqual(actual, expected);
}

/** Users retype what they read: ignore case and spaces. */
function normalise(password: string): string {
  return password.replace(/\s+/g, '').toUpperCase();
}
