/**
 * The one place Tandem reads its environment. Every variable is validated with zod at start; a
 * missing or malformed value stops the process with a message naming the variable and what it
 * expects (see `formatConfigError`). The README's configuration table mirrors `variables` below.
 */
import { z } from 'zod';
import { parseTrustProxy } from './trust-proxy.js';

const durationPattern = /^(\d+)(ms|s|m|h|d)$/;
const durationUnits: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses "90s", "15m", "7d" into milliseconds. */
export function parseDuration(text: string): number {
  const match = durationPattern.exec(text.trim());
  if (!match) throw new Error(`not a duration: ${text}`);
  return Number(match[1]) * durationUnits[match[2]!]!;
}

const duration = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .refine((v) => durationPattern.test(v.trim()), 'a duration such as 30s, 15m, 12h or 7d')
    .transform(parseDuration);

const durationList = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .refine((v) => v.split(',').every((d) => durationPattern.test(d.trim())), 'comma-separated durations such as 1d,3d')
    .transform((v) => v.split(',').map(parseDuration));

const port = (fallback: number) => z.coerce.number().int().min(0).max(65535).default(fallback);

const masterKey = z
  .string()
  .refine((v) => Buffer.from(v, 'base64').length === 32, '32 random bytes, base64-encoded (openssl rand -base64 32)');

/** Each entry: the schema and the one-line description used in errors and the README. */
export const variables = {
  NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  HOST: z.string().min(1).default('0.0.0.0'),
  PORT: port(8080),
  PUBLIC_URL: z.url({ protocol: /^https?$/ }).optional(),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'a postgres:// connection URL')
    .optional(),
  DATABASE_POOL_SIZE: z.coerce.number().int().min(1).max(200).default(10),
  TEMPORAL_ADDRESS: z
    .string()
    .regex(/^[^\s:]+:\d{1,5}$/, 'host:port of the Temporal frontend, e.g. 127.0.0.1:7233')
    .default('127.0.0.1:7233'),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TEMPORAL_TASK_QUEUE: z.string().min(1).default('tandem-enrollment-v1'),
  TEMPORAL_CLI: z.string().min(1).optional(),
  TEMPORAL_PORT: port(7233),
  TEMPORAL_UI_PORT: port(8233),
  TANDEM_DATA_DIR: z.string().min(1).default('.data'),
  TANDEM_ADMIN_TOKEN: z.string().min(24, 'at least 24 characters').optional(),
  TANDEM_MASTER_KEY: masterKey.optional(),
  TANDEM_ORGANIZATION: z.string().min(1).max(100).default('Tandem'),
  TANDEM_SANDBOX: z.enum(['true', 'false']).optional().transform((v) => (v === undefined ? undefined : v === 'true')),
  TANDEM_INVITE_TTL: duration('7d'),
  TANDEM_INVITE_REMINDERS: durationList('1d,3d'),
  TANDEM_INSTALL_WINDOW: duration('3d'),
  TANDEM_REMOVAL_WINDOW: duration('1d'),
  TANDEM_UNREACHABLE_GRACE: duration('7d'),
  TANDEM_INACTIVE_AFTER: duration('30d'),
  TANDEM_IDENTITY_VALIDITY: duration('730d'),
  TANDEM_IDENTITY_RENEW_AT: z.coerce.number().int().min(1).max(99).default(80),
  PORTAL_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(100).default(5),
  PORTAL_LOCKOUT: duration('15m'),
  RATE_LIMIT_SIGN_IN: z.coerce.number().int().min(1).default(20),
  RATE_LIMIT_API: z.coerce.number().int().min(1).default(600),
  TRUST_PROXY: z
    .string()
    .default('false')
    .transform((v, ctx) => {
      const trust = parseTrustProxy(v);
      if (!trust) ctx.addIssue({ code: 'custom', message: 'false, a number of proxy hops such as 1, or proxy addresses and CIDR ranges such as 10.0.0.0/8,192.168.0.1' });
      return trust ?? { hops: 0 };
    }),
  SMTP_URL: z.string().regex(/^smtps?:\/\//, 'an smtp:// or smtps:// URL, e.g. smtp://127.0.0.1:2525').optional(),
  MAIL_FROM: z.string().min(3).default('Tandem <enroll@localhost>'),
  SMS_API_URL: z.url({ protocol: /^https?$/ }).default('https://api.twilio.com'),
  SMS_ACCOUNT_SID: z.string().min(1).optional(),
  SMS_AUTH_TOKEN: z.string().min(1).optional(),
  SMS_FROM: z.string().regex(/^\+[1-9]\d{6,14}$/, 'an E.164 sender number').optional(),
  APNS_ORIGIN: z.url({ protocol: /^https$/ }).default('https://api.push.apple.com'),
  VPP_API_URL: z.url({ protocol: /^https?$/ }).default('https://vpp.itunes.apple.com/mdm/v2'),
  AGENT_RECHECK_INITIAL: duration('10m'),
  AGENT_RECHECK_MAX: duration('1d'),
  AGENT_LICENCE_RECHECK: duration('1h'),
  AGENT_APPROVAL_WINDOW: duration('7d'),
  AGENT_REMINDER_EVERY: duration('1d'),
  SHUTDOWN_GRACE: duration('10s'),
} as const;

const envSchema = z.object(variables);
export type Env = z.output<typeof envSchema>;

/** Which process is starting: each needs a few variables the others may leave out. */
export type Role = 'api' | 'worker' | 'dev' | 'test';

export const requiredByRole: Record<Role, (keyof Env)[]> = {
  api: ['DATABASE_URL', 'TANDEM_MASTER_KEY'],
  worker: ['DATABASE_URL', 'TANDEM_MASTER_KEY'],
  dev: [],
  test: [],
};

export class ConfigError extends Error {
  constructor(readonly problems: { variable: string; expected: string }[]) {
    super(formatConfigError(problems));
    this.name = 'ConfigError';
  }
}

export function formatConfigError(problems: { variable: string; expected: string }[]): string {
  const lines = problems.map((p) => `  ${p.variable}: ${p.expected}`);
  return `Invalid configuration:\n${lines.join('\n')}`;
}

/** Validates `source` (normally process.env). Empty strings count as unset. */
export function loadEnv(source: NodeJS.ProcessEnv, role: Role): Env {
  const cleaned = Object.fromEntries(
    Object.keys(variables).map((k) => [k, source[k] === '' ? undefined : source[k]]),
  );
  const parsed = envSchema.safeParse(cleaned);
  const problems: { variable: string; expected: string }[] = [];
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const variable = String(issue.path[0] ?? '?');
      const got = cleaned[variable];
      problems.push({ variable, expected: `${issue.message}${got === undefined ? '' : ` (got "${redact(variable, got)}")`}` });
    }
    throw new ConfigError(problems);
  }
  for (const name of requiredByRole[role]) {
    if (parsed.data[name] === undefined) problems.push({ variable: name, expected: `required for the ${role} process` });
  }
  if (parsed.data.NODE_ENV === 'production' && parsed.data.TANDEM_SANDBOX) {
    problems.push({ variable: 'TANDEM_SANDBOX', expected: 'must not be true in production (sandbox push, mail and SMS never reach devices)' });
  }
  const sms = ['SMS_ACCOUNT_SID', 'SMS_AUTH_TOKEN', 'SMS_FROM'] as const;
  const smsSet = sms.filter((n) => parsed.data[n] !== undefined);
  if (smsSet.length && smsSet.length < sms.length) {
    for (const n of sms.filter((n) => parsed.data[n] === undefined)) problems.push({ variable: n, expected: 'set together with the other SMS_* credentials' });
  }
  if (problems.length) throw new ConfigError(problems);
  return parsed.data;
}

function redact(variable: string, value: string): string {
  return /TOKEN|KEY|PASSWORD|SECRET/.test(variable) ? '<redacted>' : value;
}

/** For process entry points: validated config, or a clear message on stderr and exit code 78. */
export function loadEnvOrExit(role: Role, source: NodeJS.ProcessEnv = process.env): Env {
  try {
    return loadEnv(source, role);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(78); // EX_CONFIG
    }
    throw err;
  }
}
