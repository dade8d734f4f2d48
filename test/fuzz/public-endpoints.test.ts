/**
 * Property-based fuzzing of everything a stranger can reach without credentials: the enrollment
 * portal, account-driven discovery, enrollment and web sign-in, the Apps and Books notification
 * endpoint, profile downloads, and the admin API with forged tokens. Random paths (traversals,
 * malformed percent-encoding, very long and non-ASCII segments), methods, headers, cookies and
 * bodies (bytes, forms, JSON). For every request:
 *
 * - an answer within RESPONSE_BOUND_MS, never 5xx, and the process stays up;
 * - a refusal says why: JSON `{ error: { code } }` outside the portal, a non-empty page on it, and
 *   every 401 carries a body and a WWW-Authenticate challenge;
 * - nothing changes: none of these requests holds a credential, so every table a request could
 *   touch hashes the same after it (rate-limit windows aside, which count requests by design).
 *
 * The seed is fixed. A failing property writes its shrunk counterexample to
 * test/fixtures/fuzz/public/ and fails; the first block replays every saved one.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import fc from 'fast-check';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startTestStack, type TestStack } from '../support/stack.js';

const SEED = Number(process.env.FUZZ_SEED ?? 20_251_125);
const SCALE = Number(process.env.FUZZ_SCALE ?? 1);
const RUNS = { portal: Math.round(120 * SCALE), account: Math.round(100 * SCALE), admin: Math.round(80 * SCALE) };
const RESPONSE_BOUND_MS = 5_000;
const FIXTURES = new URL('../fixtures/fuzz/public/', import.meta.url);
/** Tables a credential-less request could touch; rate_limit_windows changes by design. */
const TABLES = [
  'users', 'enrollments', 'invites', 'enrollment_transitions', 'devices', 'command_queue', 'outbox', 'settings', 'secrets', 'audit_log',
  'api_tokens', 'account_tokens', 'policies', 'policy_applications', 'app_deployments', 'vpp_notifications', 'profile_downloads', 'enrollment_identities',
] as const;

/** A request with `{{ENROLLMENT}}` standing for this run's real enrollment id. */
interface PublicRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string | undefined;
  /** base64 bytes, when the body is binary */
  bodyBase64?: string | undefined;
}

let stack: TestStack;
let enrollmentId: string;
const json = async (res: Response): Promise<any> => res.json();

beforeAll(async () => {
  stack = await startTestStack();
  await stack.admin('/api/v1/settings/domains', { method: 'PUT', body: JSON.stringify({ domains: ['acme.example'] }) });
  await stack.admin('/api/v1/users', { method: 'POST', body: JSON.stringify({ users: [{ name: 'Fuzz Person', email: 'fuzz.person@acme.example', managedAppleId: 'fuzz.person@acme.example', password: 'correct horse battery' }] }) });
  const created = await json(
    await stack.admin('/api/v1/enrollments', {
      method: 'POST',
      body: JSON.stringify({ user: { name: 'Portal Target', email: 'portal.target@example.com' }, channel: 'email', ownership: 'user_choice', authMode: 'authenticated', managedAppleId: 'portal.target@acme.example' }),
    }),
  );
  enrollmentId = created.id;
  await stack.smtp.waitFor((m) => m.to.includes('portal.target@example.com'), 15_000);
  // Let the workflow settle, so only the fuzzed requests could change anything.
  await eventually(async () => {
    const pending = await stack.database.db.selectFrom('outbox').select('id').where('delivered_at', 'is', null).execute();
    return pending.length === 0 ? true : undefined;
  });
  let previous = '';
  await eventually(async () => {
    const now = await stateDigest();
    const same = now === previous;
    previous = now;
    return same ? true : undefined;
  }, { intervalMs: 500 });
}, 90_000);
afterAll(() => stack?.stop());

async function stateDigest(): Promise<string> {
  const parts: string[] = [];
  for (const table of TABLES) {
    const { rows } = await sql<{ digest: string | null }>`select md5(coalesce(string_agg(t::text, ',' order by t::text), '')) as digest from ${sql.table(table)} t`.execute(stack.database.db);
    parts.push(`${table}:${rows[0]?.digest}`);
  }
  return parts.join(' ');
}

// ---- generators ------------------------------------------------------------------------------

const segment = fc.oneof(
  fc.string({ maxLength: 40 }).map(encodeURIComponent),
  fc.constantFrom('..', '%2e%2e', '%2F', '%00', '%ZZ', '%', '%E0%A4%A', '~', '😀', 'x'.repeat(3000), '{{ENROLLMENT}}', '00000000-0000-4000-8000-000000000000'),
);
const query = fc.array(fc.tuple(fc.constantFrom('user-identifier', 'model-family', 'token', 'x', 'user-identifier'), fc.oneof(segment, fc.constantFrom('fuzz.person%40acme.example', 'nobody%40acme.example', 'a%40b', '%40'))), { maxLength: 3 })
  .map((pairs) => (pairs.length ? `?${pairs.map(([k, v]) => `${k}=${v}`).join('&')}` : ''));
const contentType = fc.constantFrom(
  'application/x-www-form-urlencoded', 'multipart/form-data; boundary=xyz', 'application/json', 'text/plain', 'application/x-apple-aspen-mdm', 'application/xml', '', 'application/json; charset=utf-16',
);
const formFields = ['accept', 'password', 'username', 'ownership', 'scope', 'managedAppleId', 'csrf', 'user-identifier', 'token', '__proto__', 'constructor'];
const formBody = fc.dictionary(fc.oneof(fc.constantFrom(...formFields), fc.string({ maxLength: 10 })), fc.oneof(fc.string({ maxLength: 60 }), fc.constantFrom('yes', 'personal', 'corporate', 'work', '\u0000', 'x'.repeat(20_000))), { maxKeys: 6 })
  .map((fields) => new URLSearchParams(fields).toString());
const body = fc.oneof(
  fc.constant(undefined),
  formBody,
  fc.json({ maxDepth: 3 }),
  fc.string({ maxLength: 200 }),
  fc.uint8Array({ maxLength: 300 }).map((b) => ({ base64: Buffer.from(b).toString('base64') })),
);
const bearer = fc.oneof(
  fc.constant(undefined),
  fc.constantFrom('Bearer ', 'Bearer tdm_nope', 'Basic YWRtaW46YWRtaW4=', 'Bearer ' + 'a'.repeat(5000), 'bearer\u0000x'),
  fc.string({ maxLength: 40 }).map((s) => `Bearer ${s}`),
);
const cookie = fc.oneof(fc.constant(undefined), fc.constantFrom('tandem_portal=x.y.z.w', 'tandem_portal_csrf=' + 'A'.repeat(43), 'tandem_portal=' + 'a'.repeat(4000)), fc.string({ maxLength: 60 }));
const origin = fc.oneof(fc.constant(undefined), fc.constantFrom('{{ORIGIN}}', 'https://evil.example', 'null'));

function request(methods: string[], paths: fc.Arbitrary<string>): fc.Arbitrary<PublicRequest> {
  return fc.record({ method: fc.constantFrom(...methods), path: paths, type: contentType, body, authorization: bearer, cookie, origin }).map((r) => {
    const headers: Record<string, string> = {};
    if (r.type) headers['content-type'] = r.type;
    if (r.authorization !== undefined) headers.authorization = r.authorization;
    if (r.cookie !== undefined) headers.cookie = r.cookie;
    if (r.origin !== undefined) headers.origin = r.origin;
    const withBody = r.method !== 'GET' && r.method !== 'HEAD' && r.body !== undefined;
    if (!withBody) return { method: r.method, path: r.path, headers };
    return typeof r.body === 'object' ? { method: r.method, path: r.path, headers, bodyBase64: r.body.base64 } : { method: r.method, path: r.path, headers, body: r.body };
  });
}

const portalPaths = fc.oneof(
  fc.tuple(fc.constantFrom('', '/sign-in', '/scope', '/managed-apple-id', '/download', '/profile/'), fc.oneof(fc.constant(''), segment)).map(([step, tail]) => `/enroll/{{ENROLLMENT}}${step}${step.endsWith('/') ? tail : ''}`),
  fc.tuple(segment, fc.constantFrom('', '/sign-in', '/download', '/profile/x')).map(([id, step]) => `/enroll/${id}${step}`),
);
const accountPaths = fc.oneof(
  query.map((q) => `/.well-known/com.apple.remotemanagement${q}`),
  query.map((q) => `/account-enrollment${q}`),
  query.map((q) => `/account-enrollment/sign-in${q}`),
  fc.constant('/vpp/notifications'),
  fc.tuple(segment, query).map(([s, q]) => `/vpp/${s}${q}`),
  fc.constant('/sandbox/outbox'),
);
const adminPaths = fc.oneof(
  fc.constantFrom('/api/v1/enrollments', '/api/v1/tokens', '/api/v1/policies', '/api/v1/audit', '/api/v1/users', '/api/v1/settings/apns', '/api/v1/settings/vpp', '/api/v1/settings/domains'),
  segment.map((s) => `/api/v1/enrollments/${s}/actions`),
  segment.map((s) => `/api/v1/tokens/${s}`),
  segment.map((s) => `/api/v1/${s}`),
);

// ---- the check -------------------------------------------------------------------------------

function materialise(req: PublicRequest): { url: string; init: RequestInit } {
  const fill = (s: string) => s.replaceAll('{{ENROLLMENT}}', enrollmentId).replaceAll('{{ORIGIN}}', stack.baseUrl);
  const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, fill(v)]));
  const payload = req.bodyBase64 !== undefined ? Buffer.from(req.bodyBase64, 'base64') : req.body;
  return { url: `${stack.baseUrl}${fill(req.path)}`, init: { method: req.method, headers, body: payload, redirect: 'manual' } };
}

/** Sends one request and returns what is wrong with the answer (empty: nothing). */
async function check(req: PublicRequest): Promise<string[]> {
  const { url, init } = materialise(req);
  const before = await stateDigest();
  const started = performance.now();
  let res: Response;
  try {
    res = await fetch(url, { ...init, signal: AbortSignal.timeout(RESPONSE_BOUND_MS * 2) });
  } catch (err) {
    // A request fetch itself refuses to send (an illegal header value) tests nothing.
    if (err instanceof TypeError && !/fetch failed/.test(err.message)) return [];
    return [`no answer: ${String((err as Error).cause ?? err)}`];
  }
  const text = await res.text();
  const ms = Math.round(performance.now() - started);
  const problems: string[] = [];
  if (res.status >= 500) problems.push(`answered ${res.status}: ${text.slice(0, 300)}`);
  if (ms > RESPONSE_BOUND_MS) problems.push(`answered after ${ms} ms`);
  if (res.status >= 400 && req.method !== 'HEAD') {
    const portal = new URL(url).pathname.startsWith('/enroll/');
    const type = res.headers.get('content-type') ?? '';
    if (!text) problems.push(`a bare ${res.status}`);
    else if (!portal && type.includes('json')) {
      // Ours is { error: { code } }; Apple's discovery refusal is { code, description, message }.
      const code = (() => {
        try {
          const parsed = JSON.parse(text) as { error?: { code?: unknown }; code?: unknown };
          return parsed.error?.code ?? parsed.code;
        } catch {
          return undefined;
        }
      })();
      if (typeof code !== 'string') problems.push(`a ${res.status} without an error code: ${text.slice(0, 200)}`);
    }
    if (res.status === 401 && !res.headers.get('www-authenticate')) problems.push('a 401 without a WWW-Authenticate challenge');
  }
  const after = await stateDigest();
  if (after !== before) {
    const changed = after.split(' ').filter((part, i) => part !== before.split(' ')[i]).map((p) => p.split(':')[0]);
    problems.push(`state changed (${changed.join(', ')}) with status ${res.status}`);
  }
  const health = await fetch(`${stack.baseUrl}/healthz`).catch(() => undefined);
  if (health?.status !== 200) problems.push('the process stopped answering /healthz');
  return problems;
}

async function run(name: string, arbitrary: fc.Arbitrary<PublicRequest>, numRuns: number) {
  const property = fc.asyncProperty(arbitrary, async (req) => {
    const problems = await check(req);
    if (problems.length) throw new Error(problems.join('; '));
  });
  const result = await fc.check(property, { seed: SEED, numRuns, endOnFailure: false, interruptAfterTimeLimit: 120_000 });
  if (result.failed && result.counterexample) {
    const [req] = result.counterexample;
    const digest = createHash('sha256').update(JSON.stringify(req)).digest('hex').slice(0, 12);
    mkdirSync(FIXTURES, { recursive: true });
    const file = new URL(`${name}-${digest}.json`, FIXTURES);
    writeFileSync(file, `${JSON.stringify({ property: name, seed: SEED, counterexamplePath: result.counterexamplePath, failure: String(result.errorInstance), request: req }, null, 2)}\n`);
    throw new Error(`${name}: ${String(result.errorInstance)}\n  counterexample kept in ${file.pathname}`);
  }
  expect(result.numRuns).toBe(numRuns);
  process.stderr.write(`fuzz public ${name}: ${result.numRuns} runs, seed ${SEED}\n`);
}

// ---- the properties --------------------------------------------------------------------------

describe('saved counterexamples', () => {
  const saved = (() => {
    try {
      return readdirSync(FIXTURES).filter((f) => f.endsWith('.json'));
    } catch {
      return [];
    }
  })();
  it.each(saved.length ? saved : ['(none)'])('replays %s', async (file) => {
    if (file === '(none)') return;
    const { request: req } = JSON.parse(readFileSync(new URL(file, FIXTURES), 'utf8')) as { request: PublicRequest };
    expect(await check(req)).toEqual([]);
  });
});

describe('public endpoints under fuzzing', { timeout: 180_000 }, () => {
  it('the enrollment portal: no 5xx, a page for every refusal, no state change without credentials', async () => {
    await run('portal', request(['GET', 'POST', 'PUT', 'DELETE', 'HEAD'], portalPaths), RUNS.portal);
  });

  it('account-driven enrollment, Apps and Books notifications, the sandbox: no 5xx, coded refusals, no state change', async () => {
    await run('account', request(['GET', 'POST', 'PUT'], accountPaths), RUNS.account);
  });

  it('the admin API with forged tokens: 401 with a code and a challenge, never a 5xx, no state change', async () => {
    await run('admin', request(['GET', 'POST', 'PUT', 'DELETE', 'PATCH'], adminPaths), RUNS.admin);
  });
});
