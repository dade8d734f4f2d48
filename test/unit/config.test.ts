import { describe, expect, it } from 'vitest';
import { ConfigError, loadEnv, parseDuration } from '../../config/env.js';

const key = Buffer.alloc(32, 7).toString('base64');

describe('configuration', () => {
  it('fills production defaults', () => {
    const env = loadEnv({}, 'dev');
    expect(env).toMatchObject({ PORT: 8080, TEMPORAL_ADDRESS: '127.0.0.1:7233', TEMPORAL_NAMESPACE: 'default', TEMPORAL_UI_PORT: 8233, TANDEM_DATA_DIR: '.data' });
    expect(env.TANDEM_INVITE_TTL).toBe(7 * 86_400_000);
    // Device identities: two years, renewed from 80% of their life.
    expect(env.TANDEM_IDENTITY_VALIDITY).toBe(730 * 86_400_000);
    expect(env.TANDEM_IDENTITY_RENEW_AT).toBe(80);
    expect(loadEnv({ TANDEM_IDENTITY_VALIDITY: '1h', TANDEM_IDENTITY_RENEW_AT: '50' }, 'dev')).toMatchObject({ TANDEM_IDENTITY_VALIDITY: 3_600_000, TANDEM_IDENTITY_RENEW_AT: 50 });
    expect(() => loadEnv({ TANDEM_IDENTITY_RENEW_AT: '100' }, 'dev')).toThrow(/TANDEM_IDENTITY_RENEW_AT/);
  });

  it('names each bad variable and what it expects', () => {
    let error: unknown;
    try {
      loadEnv({ PORT: 'eighty', TEMPORAL_ADDRESS: 'localhost', DATABASE_URL: 'mysql://x', TANDEM_INVITE_TTL: 'a week' }, 'dev');
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.map((p) => p.variable).sort();
    expect(problems).toEqual(['DATABASE_URL', 'PORT', 'TANDEM_INVITE_TTL', 'TEMPORAL_ADDRESS']);
    const message = (error as Error).message;
    expect(message).toContain('TEMPORAL_ADDRESS: host:port of the Temporal frontend');
    expect(message).toContain('DATABASE_URL: a postgres:// connection URL (got "mysql://x")');
    expect(message).toContain('TANDEM_INVITE_TTL: a duration such as 30s');
  });

  it('requires what each process needs, and never echoes secrets', () => {
    expect(() => loadEnv({}, 'api')).toThrow(/DATABASE_URL: required for the api process[\s\S]*TANDEM_MASTER_KEY: required/);
    expect(() => loadEnv({ DATABASE_URL: 'postgres://x/y', TANDEM_MASTER_KEY: key }, 'worker')).not.toThrow();
    try {
      loadEnv({ TANDEM_MASTER_KEY: 'c2hvcnQ=', TANDEM_ADMIN_TOKEN: 'short' }, 'dev');
      expect.unreachable();
    } catch (err) {
      expect((err as Error).message).toContain('TANDEM_MASTER_KEY: 32 random bytes');
      expect((err as Error).message).not.toContain('c2hvcnQ=');
      expect((err as Error).message).not.toContain('short"');
    }
  });

  it('refuses sandbox settings in production, and half-configured SMS', () => {
    expect(() => loadEnv({ NODE_ENV: 'production', TANDEM_SANDBOX: 'true' }, 'dev')).toThrow(/TANDEM_SANDBOX: must not be true in production/);
    expect(() => loadEnv({ SMS_ACCOUNT_SID: 'AC1' }, 'dev')).toThrow(/SMS_AUTH_TOKEN: set together[\s\S]*SMS_FROM: set together/);
    expect(loadEnv({ TANDEM_INVITE_REMINDERS: '1h, 2d' }, 'dev').TANDEM_INVITE_REMINDERS).toEqual([3_600_000, 172_800_000]);
  });

  it('treats empty strings as unset', () => {
    expect(loadEnv({ PORT: '', DATABASE_URL: '' }, 'dev')).toMatchObject({ PORT: 8080, DATABASE_URL: undefined });
  });

  it('parses durations', () => {
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('90s')).toBe(90_000);
    expect(parseDuration('3d')).toBe(259_200_000);
    expect(() => parseDuration('3 days')).toThrow();
  });
});
