/**
 * No secret reaches the logs. The test stack at LOG_LEVEL=trace (its API logging through
 * createLogger into memory, so redaction is Tandem's own) runs an end-to-end story
 * while everything the process prints is captured: the API logger, the Temporal runtime logger the
 * worker logs through (at every level), console.*, process.stdout/stderr and fs writes to fd 1/2.
 *
 * The story: an APNs push certificate upload (PEM, then .p12 with its password, and a .p12 with a
 * wrong password), an admin call with a wrong token, an invite by email through the SMTP sink and
 * one by SMS, a wrong portal password, the portal with the one-time password, the profile,
 * Authenticate, TokenUpdate, the push, the first commands, an install_profile action carrying a
 * Wi-Fi password, and an account-driven enrollment (a failed web sign-in, then a directory
 * password, then check-ins with the bearer token).
 *
 * None of the secrets may appear in any of it: the admin token and its Authorization value, the
 * one-time passwords (and the wrong ones typed), the master key, the push certificate's private key
 * (any 40-character chunk of its base64 body, PKCS#1 or PKCS#8, or of its hex), the .p12 password,
 * the device identity's private key, the Wi-Fi password, the directory password, the account
 * access token and its Authorization value, the SMS provider's auth token, the push token (hex and
 * base64) and the PushMagic.
 */
import { createPrivateKey, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { inspect } from 'node:util';
import { Runtime } from '@temporalio/worker';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../config/logger.js';
import { toPkcs12 } from '../../mdm/certificates.js';
import { AccountEnrollmentError, parseInvite, PortalError, SimulatedDevice } from '../../scripts/simulator/device.js';
import { generateApiToken } from '../../security/api-tokens.js';
import { eventually, startTestStack, type TestStack } from '../support/stack.js';
import { untilSettled } from '../support/workflow-settled.js';

// ---------------------------------------------------------------------------------------------
// Capturing everything the process logs

const captured: { source: string; text: string }[] = [];
const restores: (() => void)[] = [];
let capturing = false;

function record(source: string, chunk: unknown) {
  if (!capturing) return;
  captured.push({ source, text: typeof chunk === 'string' ? chunk : Buffer.isBuffer(chunk) || chunk instanceof Uint8Array ? Buffer.from(chunk).toString('utf8') : safeText(chunk) });
}

function safeText(value: unknown): string {
  try {
    return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v instanceof Error ? { message: v.message, stack: v.stack } : v)) ?? String(value);
  } catch {
    return inspect(value, { depth: 8 });
  }
}

/** Replaces obj[key] by a wrapper that records, then calls through; undone by `restores`. */
function tap<T extends object, K extends keyof T>(obj: T, key: K, wrap: (original: T[K]) => T[K]) {
  const original = obj[key];
  obj[key] = wrap(original);
  restores.push(() => {
    obj[key] = original;
  });
}

function startCapturing() {
  for (const stream of ['stdout', 'stderr'] as const) {
    tap(process[stream], 'write', (original) =>
      function (this: NodeJS.WriteStream, chunk: unknown, ...rest: unknown[]) {
        record(`process.${stream}`, chunk);
        return (original as (...a: unknown[]) => boolean).call(this, chunk, ...rest);
      } as typeof original,
    );
  }
  // pino's default destination (sonic-boom) writes to fd 1 with fs.write/fs.writeSync, past process.stdout.
  tap(fs, 'writeSync', (original) =>
    function (fd: number, buffer: unknown, ...rest: unknown[]) {
      if (fd === 1 || fd === 2) record(`fs.writeSync(${fd})`, buffer);
      return (original as (...a: unknown[]) => number)(fd, buffer, ...rest);
    } as typeof original,
  );
  tap(fs, 'write', (original) =>
    function (fd: number, buffer: unknown, ...rest: unknown[]) {
      if (fd === 1 || fd === 2) record(`fs.write(${fd})`, buffer);
      return (original as (...a: unknown[]) => void)(fd, buffer, ...rest);
    } as typeof original,
  );
  for (const method of ['log', 'info', 'warn', 'error', 'debug', 'trace'] as const) {
    tap(console, method, (original) =>
      function (...args: unknown[]) {
        record(`console.${method}`, args.map((a) => (typeof a === 'string' ? a : safeText(a))).join(' '));
        return (original as (...a: unknown[]) => void).apply(console, args);
      } as typeof original,
    );
  }
  // The worker (activities, workflows through sinks, the SDK itself) logs through the Temporal
  // runtime logger; record every level, whatever level it prints.
  const runtimeLogger = Runtime.instance().logger as unknown as { log: (level: string, message: string, meta?: Record<string, unknown>) => void };
  tap(runtimeLogger, 'log', (original) =>
    function (this: unknown, level: string, message: string, meta?: Record<string, unknown>) {
      record(`temporal.${level}`, `${message} ${safeText(meta ?? {})}`);
      return original.call(runtimeLogger, level, message, meta);
    },
  );
  capturing = true;
}

function stopCapturing() {
  capturing = false;
  while (restores.length) restores.pop()!();
}

/** The API logger: Tandem's own (createLogger: level, redaction), its output kept in memory. */
function memoryLogger(level: string) {
  const log = createLogger(level);
  const destination = { write: (line: string) => record('pino', line) };
  (log as unknown as Record<symbol, unknown>)[pino.symbols.streamSym] = destination;
  return log;
}

// ---------------------------------------------------------------------------------------------

let stack: TestStack;
/** name -> the values that must not appear */
const secrets = new Map<string, string[]>();
/** name -> base64/hex bodies of which no 40-character chunk may appear */
const keyBodies = new Map<string, string[]>();

const json = async (res: Response): Promise<any> => res.json();
const tag = () => randomBytes(4).toString('hex');
const secret = (name: string, ...values: string[]) => secrets.set(name, [...(secrets.get(name) ?? []), ...values.filter((v) => v.length > 0)]);

/** The encodings a private key could be written in: PEM body, PKCS#1 and PKCS#8 DER (base64, hex), JWK members. */
function keyEncodings(keyPem: string): string[] {
  const key = createPrivateKey(keyPem);
  const pemBody = keyPem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
  const pkcs1 = key.export({ type: 'pkcs1', format: 'der' });
  const pkcs8 = key.export({ type: 'pkcs8', format: 'der' });
  const jwk = key.export({ format: 'jwk' });
  const members = (['d', 'p', 'q', 'dp', 'dq', 'qi'] as const).map((m) => jwk[m]).filter((v): v is string => typeof v === 'string');
  return [pemBody, pkcs1.toString('base64'), pkcs8.toString('base64'), pkcs1.toString('hex'), ...members, ...members.map((m) => Buffer.from(m, 'base64url').toString('base64'))];
}

beforeAll(async () => {
  startCapturing();
  // The whole stack at trace level, its API logging into memory; the test uploads the push
  // certificate itself, so that request's logs are searched too.
  stack = await startTestStack({ LOG_LEVEL: 'trace' }, { log: memoryLogger('trace'), uploadPushCertificate: false });
  expect(stack.env.LOG_LEVEL).toBe('trace');
  secret('admin token', stack.adminToken);
  secret('admin Authorization header value', `Bearer ${stack.adminToken}`);
  secret('master key', stack.env.TANDEM_MASTER_KEY!, Buffer.from(stack.env.TANDEM_MASTER_KEY!, 'base64').toString('hex'));
  secret('SMS provider auth token', stack.sms.authToken);
  keyBodies.set('push certificate private key', keyEncodings(stack.pushCertificate.keyPem));
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  stopCapturing();
});

describe('an end-to-end run with LOG_LEVEL=trace', () => {
  it('uploads the push certificate, as PEM and as .p12, and refuses a .p12 with a wrong password', async () => {
    const pem = await stack.admin('/api/v1/settings/apns', {
      method: 'PUT',
      body: JSON.stringify({ certificate: stack.pushCertificate.certPem, privateKey: stack.pushCertificate.keyPem }),
    });
    expect(pem.status).toBe(200);
    const p12Password = `p12-${randomBytes(9).toString('base64url')}`;
    const wrongP12Password = `wrong-p12-${randomBytes(9).toString('base64url')}`;
    secret('.p12 password', p12Password);
    secret('wrong .p12 password', wrongP12Password);
    const p12 = toPkcs12(stack.pushCertificate, [], p12Password, 'push').toString('base64');
    const wrong = await stack.admin('/api/v1/settings/apns', { method: 'PUT', body: JSON.stringify({ pkcs12: p12, password: wrongP12Password }) });
    expect(wrong.status).toBeGreaterThanOrEqual(400);
    expect(wrong.status).toBeLessThan(500);
    const right = await stack.admin('/api/v1/settings/apns', { method: 'PUT', body: JSON.stringify({ pkcs12: p12, password: p12Password }) });
    expect(right.status).toBe(200);
  });

  it('refuses an admin call with a wrong token', async () => {
    const wrongToken = generateApiToken();
    secret('a wrong admin token', wrongToken, `Bearer ${wrongToken}`);
    const res = await fetch(`${stack.baseUrl}/api/v1/enrollments`, { headers: { authorization: `Bearer ${wrongToken}` } });
    expect(res.status).toBe(401);
  });

  let enrolled: { id: string; device: SimulatedDevice };

  it('enrolls a device invited by email: wrong password, portal, profile, Authenticate, TokenUpdate, push, commands', async () => {
    const email = `secret.${tag()}@example.com`;
    const res = await stack.admin('/api/v1/enrollments', {
      method: 'POST',
      body: JSON.stringify({ user: { name: 'Secret Keeper', email }, channel: 'email', ownership: 'personal', authMode: 'authenticated', managedAppleId: `keeper.${tag()}@acme.example` }),
    });
    expect(res.status).toBe(201);
    const created = await json(res);
    const mail = await stack.smtp.waitFor((m) => m.to.includes(email), 15_000);
    const invite = parseInvite(mail.text);
    expect(invite.password).toBeTruthy();
    secret('one-time password (email)', invite.password!);

    // A failed sign-in first.
    const wrongPassword = `WRONG${randomBytes(6).toString('hex').toUpperCase()}`;
    secret('a mistyped one-time password', wrongPassword);
    const failed = await new SimulatedDevice().enrollThroughPortal(invite.enrollmentUrl, { username: invite.username, password: wrongPassword }).catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(PortalError);
    expect((failed as PortalError).message).toMatch(/incorrect/);

    const device = new SimulatedDevice();
    const installed = device.installProfile(await device.enrollThroughPortal(invite.enrollmentUrl, { username: invite.username, password: invite.password! }));
    keyBodies.set('device identity private key', keyEncodings(installed.identity.keyPem));
    const identityPayload = (installed.profile.PayloadContent as Record<string, unknown>[]).find((p) => p.PayloadType === 'com.apple.security.pkcs12');
    secret('device identity .p12 password (in the profile)', String(identityPayload?.Password ?? ''));

    await device.authenticate();
    await device.tokenUpdate();
    secret('push token (hex)', device.pushToken.toString('hex'), device.pushToken.toString('hex').toUpperCase());
    secret('push token (base64)', device.pushToken.toString('base64'));
    secret('PushMagic', device.pushMagic);
    await eventually(async () => ((await json(await stack.admin(`/api/v1/enrollments/${created.id}`))).status === 'enrolled' ? true : undefined));
    await stack.apns.waitFor((p) => p.token === device.pushToken.toString('hex'), 15_000);
    expect((await device.processCommands()).map((c) => c.Command.RequestType).sort()).toEqual(['DeviceInformation', 'SecurityInfo']);
    enrolled = { id: created.id, device };
  });

  it('delivers an install_profile action carrying a Wi-Fi password', async () => {
    const wifiPassword = `wifi-${randomBytes(12).toString('base64url')}`;
    secret('Wi-Fi password', wifiPassword);
    const res = await stack.admin(`/api/v1/enrollments/${enrolled.id}/actions`, {
      method: 'POST',
      body: JSON.stringify({ type: 'install_profile', profile: { displayName: 'Office Wi-Fi', payloads: [{ kind: 'wifi', ssid: 'Acme Office', encryption: 'WPA2', password: wifiPassword }] } }),
    });
    expect(res.status, JSON.stringify(await res.clone().json())).toBe(202);
    const accepted = await json(res);
    const ran = await eventually(async () => {
      const commands = await enrolled.device.processCommands();
      return commands.find((c) => c.CommandUUID === accepted.commandUuid);
    });
    // The password did travel, sealed, to the device.
    expect(Buffer.from(ran.Command.Payload as Uint8Array).toString('utf8')).toContain(wifiPassword);
  });

  it('invites by SMS (the provider is called with its credentials)', async () => {
    const phone = `+1415555${Math.floor(1000 + Math.random() * 8999)}`;
    const res = await stack.admin('/api/v1/enrollments', {
      method: 'POST',
      body: JSON.stringify({ user: { name: 'Text Reader', phone }, channel: 'sms', ownership: 'corporate', authMode: 'authenticated' }),
    });
    expect(res.status).toBe(201);
    const sms = await stack.sms.waitFor((m) => m.to === phone, 15_000);
    secret('one-time password (SMS)', parseInvite(sms.body).password!);
  });

  it('enrolls account-driven: a failed web sign-in, then the directory password, then check-ins with the bearer', async () => {
    expect((await stack.admin('/api/v1/settings/domains', { method: 'PUT', body: JSON.stringify({ domains: ['acme.example'] }) })).status).toBe(200);
    const managedAppleId = `dir.${tag()}@acme.example`;
    const password = `dir-${randomBytes(10).toString('base64url')}`;
    secret('directory password', password);
    const imported = await stack.admin('/api/v1/users', {
      method: 'POST',
      body: JSON.stringify({ users: [{ name: 'Directory User', email: `${tag()}@personal.example`, managedAppleId, password }] }),
    });
    expect(imported.status).toBe(200);
    const wrong = `not-${randomBytes(8).toString('base64url')}`;
    secret('a wrong directory password', wrong);
    const failed = await new SimulatedDevice({ osVersion: '18.2' }).enrollAccountDriven(stack.baseUrl, managedAppleId, wrong).catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(AccountEnrollmentError);

    const device = new SimulatedDevice({ osVersion: '18.2' });
    const installed = device.installProfile(await device.enrollAccountDriven(stack.baseUrl, managedAppleId, password));
    secret('account access token', device.accessToken!);
    secret('account Authorization header value', `Bearer ${device.accessToken!}`);
    keyBodies.set('account-driven device identity private key', keyEncodings(installed.identity.keyPem));
    await device.authenticate();
    await device.tokenUpdate();
    secret('push token (hex), account-driven device', device.pushToken.toString('hex'));
    secret('PushMagic, account-driven device', device.pushMagic);
    await stack.apns.waitFor((p) => p.token === device.pushToken.toString('hex'), 15_000);
    expect((await device.processCommands()).length).toBe(2);
  });

  it('stops, and its graceful shutdown is logged and captured', async () => {
    // What the last requests set off is finished first: every outbox event handed to its workflow,
    // and every enrollment workflow settled.
    const db = stack.database.db;
    await eventually(async () => ((await db.selectFrom('outbox').select('id').where('delivered_at', 'is', null).execute()).length === 0 ? true : undefined));
    for (const { workflow_id } of await db.selectFrom('enrollments').select('workflow_id').execute()) await untilSettled(stack.client, workflow_id);

    const from = captured.length;
    await stack.stop();
    expect(stack.worker.worker.getState()).toBe('STOPPED');
    await expect(fetch(`${stack.baseUrl}/healthz`)).rejects.toThrow();
    const shutdown = joined(captured.slice(from));
    expect(shutdown).toMatch(/Worker state changed.*STOPPED/);
  });
});

const joined = (logs: typeof captured) => logs.map((c) => c.text).join('\n');
/** JSON escapes and whitespace out, so a PEM split over lines or escaped in JSON still matches. */
const squeeze = (s: string) => s.replace(/\\[nrt]/g, '').replace(/\\\//g, '/').replace(/\s+/g, '');

/** The names of the secrets found in the logs, with where. */
function secretsIn(logs: typeof captured): string[] {
  const all = joined(logs);
  const squeezed = squeeze(all);
  const leaks: string[] = [];
  for (const [name, values] of secrets) {
    for (const value of values) {
      if (!all.includes(value) && !squeezed.includes(value.replace(/\s+/g, ''))) continue;
      leaks.push(`${name} (in ${logs.find((c) => c.text.includes(value))?.source ?? 'the joined output'})`);
    }
  }
  return leaks;
}

/** The names of the private keys of which a 40-character chunk is in the logs. */
function keyChunksIn(logs: typeof captured): string[] {
  const windows = new Map<string, string>();
  for (const [name, bodies] of keyBodies) {
    for (const body of bodies) for (let i = 0; i + 40 <= body.length; i++) windows.set(body.slice(i, i + 40), name);
  }
  const squeezed = squeeze(joined(logs));
  const found = new Set<string>();
  for (let i = 0; i + 40 <= squeezed.length; i++) {
    const name = windows.get(squeezed.slice(i, i + 40));
    if (name) found.add(name);
  }
  return [...found];
}

describe('the captured logs', () => {
  const text = () => joined(captured);

  it('were captured: the API logger at trace, with the run in it', () => {
    const bySource = new Map<string, number>();
    for (const c of captured) bySource.set(c.source, (bySource.get(c.source) ?? 0) + 1);
    console.log(`captured: ${[...bySource].map(([s, n]) => `${s}×${n}`).join(', ')}; ${text().length} characters`);
    expect(bySource.get('pino') ?? 0).toBeGreaterThan(30);
    const all = text();
    expect(all).toContain('"msg":"api listening"');
    expect(all).toContain('"path":"/mdm/checkin"');
    expect(all).toContain('"path":"/mdm/connect"');
    expect(all).toContain('"path":"/api/v1/settings/apns"');
    expect(secrets.size).toBeGreaterThanOrEqual(20);
    expect(keyBodies.size).toBe(3);
  });

  it('hold none of the secrets', () => {
    const leaks = secretsIn(captured);
    expect(leaks, `secrets in the logs: ${leaks.join('; ')}`).toEqual([]);
  });

  it('hold no 40-character chunk of a private key (base64 or hex, PKCS#1 or PKCS#8, JWK members)', () => {
    const found = keyChunksIn(captured);
    expect(found, `private key material in the logs: ${found.join(', ')}`).toEqual([]);
  });

  it('would be caught: a planted secret, and a planted key chunk split over a JSON-escaped PEM line, are found', () => {
    const [name, [value]] = [...secrets].find(([n]) => n === 'Wi-Fi password')! as [string, string[]];
    const planted = [{ source: 'planted', text: JSON.stringify({ msg: 'x', body: { ssid: 'Acme', pw: value } }) }];
    expect(secretsIn(planted)).toEqual([`${name} (in planted)`]);
    const body = keyBodies.get('push certificate private key')![0]!;
    const chunk = body.slice(500, 540);
    const escaped = JSON.stringify({ msg: 'x', pem: `${chunk.slice(0, 17)}\n${chunk.slice(17)}` });
    expect(keyChunksIn([{ source: 'planted', text: escaped }])).toEqual(['push certificate private key']);
    expect(keyChunksIn([{ source: 'planted', text: body.slice(500, 539) }])).toEqual([]);
  });

  it('keeps one-time profile download tokens out of the request log', () => {
    // The request log writes each path; a download path carries the link's one-time token.
    const paths = [...new Set(text().match(/"path":"\/enroll\/[^"]+\/profile\/[^"]+"/g) ?? [])];
    expect(paths.length).toBeGreaterThan(0);
    for (const path of paths) expect(path).toMatch(/\/profile\/\[token\]"$/);
  });
});
