import { describe, expect, it } from 'vitest';
import { bearerToken } from '../../security/bearer.js';
import { generateApiToken, hashApiToken } from '../../security/api-tokens.js';
import { generateOneTimePassword, hashOneTimePassword, verifyOneTimePassword } from '../../security/one-time-password.js';
import { generateMasterKey, SecretBox } from '../../security/secret-box.js';

describe('SecretBox (AES-256-GCM at rest)', () => {
  const box = new SecretBox(generateMasterKey());

  it('round-trips and never stores the plaintext', () => {
    const sealed = box.seal('push-certificate-private-key', 'secret:apns');
    expect(sealed.includes(Buffer.from('push-certificate-private-key'))).toBe(false);
    expect(box.openText(sealed, 'secret:apns')).toBe('push-certificate-private-key');
    expect(box.seal('same', 'ctx').equals(box.seal('same', 'ctx'))).toBe(false); // fresh IV each time
  });

  it('refuses a value moved to another context, tampered with, or opened with another key', () => {
    const sealed = box.seal('vpp-token', 'secret:vpp');
    expect(() => box.open(sealed, 'secret:apns')).toThrow();
    const tampered = Buffer.from(sealed);
    tampered[tampered.length - 1]! ^= 1;
    expect(() => box.open(tampered, 'secret:vpp')).toThrow();
    expect(() => new SecretBox(generateMasterKey()).open(sealed, 'secret:vpp')).toThrow();
    expect(() => box.open(Buffer.from('short'), 'secret:vpp')).toThrow(/not a sealed secret/);
  });

  it('insists on a 32-byte key', () => {
    expect(() => new SecretBox(Buffer.alloc(16).toString('base64'))).toThrow(/32 bytes/);
  });
});

describe('one-time passwords', () => {
  it('are typeable and verify only themselves', async () => {
    const otp = generateOneTimePassword();
    expect(otp).toMatch(/^[A-HJ-NP-Z2-9]{10}$/);
    const stored = await hashOneTimePassword(otp);
    expect(stored).not.toContain(otp);
    expect(await verifyOneTimePassword(otp, stored)).toBe(true);
    expect(await verifyOneTimePassword(` ${otp.toLowerCase().slice(0, 5)} ${otp.toLowerCase().slice(5)} `, stored)).toBe(true);
    expect(await verifyOneTimePassword(generateOneTimePassword(), stored)).toBe(false);
    expect(await verifyOneTimePassword(otp, 'plain$text')).toBe(false);
  });
});

describe('API tokens', () => {
  it('are random and stored as sha256', () => {
    const token = generateApiToken();
    expect(token).toMatch(/^tdm_[A-Za-z0-9_-]{32}$/);
    expect(generateApiToken()).not.toBe(token);
    expect(hashApiToken(token)).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe('bearerToken', () => {
  it('reads the token of a Bearer header, whatever the scheme case', () => {
    expect(bearerToken('Bearer abc.def')).toBe('abc.def');
    expect(bearerToken('bearer   abc')).toBe('abc');
  });
  it('has no token for other schemes, extra words, an empty token or no header', () => {
    for (const header of ['Basic abc', 'Bearer a b', 'Bearer ', 'Bearerabc', '', undefined]) expect(bearerToken(header)).toBeUndefined();
  });
});
