/**
 * The admin API against its own OpenAPI document (/api/v1/openapi.json), over a real stack: every
 * answer any route can give is documented, text the database cannot store is refused at one place,
 * the limits a route applies are the document's, and rules the API applies are stated in the schema.
 * (scripts/schemathesis.sh checks the same with generated requests, in CI.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStack, type TestStack } from '../support/stack.js';

type Json = Record<string, any>;

let stack: TestStack;
let document: Json;

beforeAll(async () => {
  stack = await startTestStack({}, { uploadPushCertificate: false });
  const res = await fetch(`${stack.baseUrl}/api/v1/openapi.json`);
  expect(res.status).toBe(200);
  document = (await res.json()) as Json;
}, 120_000);

afterAll(async () => {
  await stack?.stop();
});

const operations = () =>
  Object.entries(document.paths as Record<string, Record<string, Json>>).flatMap(([path, ops]) =>
    Object.entries(ops).map(([method, operation]) => ({ label: `${method.toUpperCase()} ${path}`, method, operation })),
  );

const schemaOf = (name: string): Json => document.components.schemas[name];
const param = (method: string, path: string, name: string): Json =>
  (document.paths[path][method].parameters as Json[]).find((p) => p.name === name)!.schema;

async function errorOf(res: Response) {
  return ((await res.json()) as { error: { code: string; message: string; details?: { issues?: { path: string }[] } } }).error;
}

describe('the document lists every answer', () => {
  it('every route documents 400, 401, 429 and 503; every write 403; every body 413; with their headers', () => {
    const ops = operations();
    expect(ops.length).toBeGreaterThan(20);
    const missing: string[] = [];
    for (const { label, method, operation } of ops) {
      const expected = ['400', '401', '429', '503', ...(method === 'get' ? [] : ['403']), ...(operation.requestBody ? ['413'] : [])];
      for (const status of expected) if (!operation.responses[status]) missing.push(`${label} ${status}`);
      expect(operation.responses['401']?.headers?.['WWW-Authenticate']?.required, label).toBe(true);
      expect(operation.responses['429']?.headers?.['Retry-After']?.required, label).toBe(true);
      expect(operation.responses['503']?.headers?.['Retry-After'], label).toBeDefined();
    }
    expect(missing).toEqual([]);
  });

  it('the shared answers come back as documented: 401 with WWW-Authenticate, 400 validation_failed with field paths', async () => {
    const bare = await fetch(`${stack.baseUrl}/api/v1/tokens`);
    expect(bare.status).toBe(401);
    expect(bare.headers.get('www-authenticate')).toMatch(/^Bearer /);
    const invalid = await stack.admin('/api/v1/tokens', { method: 'POST', body: JSON.stringify({ name: 'x', scope: 'owner' }) });
    expect(invalid.status).toBe(400);
    const error = await errorOf(invalid);
    expect(error.code).toBe('validation_failed');
    expect(error.details?.issues?.map((i) => i.path)).toEqual(['scope']);
  });
});

describe('text the database cannot store', () => {
  it('a NUL in a token name is refused with 400 validation_failed, and no token is minted', async () => {
    const res = await stack.admin('/api/v1/tokens', { method: 'POST', body: JSON.stringify({ name: 'dash\u0000board', scope: 'read' }) });
    expect(res.status).toBe(400);
    const error = await errorOf(res);
    expect(error.code).toBe('validation_failed');
    expect(error.details?.issues).toEqual([{ path: 'name', message: expect.stringContaining('U+0000') }]);
    const tokens = (await (await stack.admin('/api/v1/tokens')).json()) as { items: { name: string }[] };
    expect(tokens.items.map((t) => t.name)).not.toContain('dash\u0000board');
    expect(tokens.items.map((t) => t.name)).not.toContain('dashboard');
  });

  it('every admin text is covered: a nested value, an unpaired surrogate, a query string, a body no schema validates', async () => {
    const nestedKey = await stack.admin('/api/v1/users', {
      method: 'POST',
      body: JSON.stringify({ users: [{ name: 'Ada', managedAppleId: 'ada@acme.example', groups: ['ok', 'bad\u0000'] }] }),
    });
    expect(nestedKey.status).toBe(400);
    expect((await errorOf(nestedKey)).details?.issues?.[0]?.path).toBe('users.0.groups.1');

    const surrogate = await stack.admin('/api/v1/policies', {
      method: 'POST',
      body: `{"name":"lone \\ud800 surrogate","assignTo":{"all":true},"requiredApps":[{"adamId":"1","bundleId":"com.acme.app"}]}`,
    });
    expect(surrogate.status).toBe(400);
    expect((await errorOf(surrogate)).details?.issues?.[0]?.path).toBe('name');

    const query = await stack.admin('/api/v1/audit?targetType=%00');
    expect(query.status).toBe(400);
    expect((await errorOf(query)).code).toBe('validation_failed');

    // disenroll reads its optional `reason` itself: the same rule applies before it does.
    const reason = await stack.admin(`/api/v1/enrollments/${crypto.randomUUID()}/disenroll`, { method: 'POST', body: JSON.stringify({ reason: 'x\u0000' }) });
    expect(reason.status).toBe(400);
    expect((await errorOf(reason)).details?.issues?.[0]?.path).toBe('reason');
  });

  it('an unknown property is ignored, whatever it holds, as the document allows', async () => {
    const res = await stack.admin('/api/v1/tokens', { method: 'POST', body: JSON.stringify({ name: 'extra', scope: 'read', 'x\u0000': 'y\u0000' }) });
    expect(res.status).toBe(201);
  });

  it("an answer echoing the client's own key names it without the NUL", async () => {
    const res = await stack.admin('/api/v1/policies', {
      method: 'POST',
      body: JSON.stringify({ name: 'keys', assignTo: { all: true }, profile: { displayName: 'R', payloads: [{ kind: 'restrictions', keys: { 'allow\u0000Camera': false } }] } }),
    });
    expect([400, 422]).toContain(res.status);
    const text = await res.text();
    expect(text).not.toContain('\\u0000');
    expect(text).toContain('allow\uFFFDCamera');
  });

  it('the document states the rule on every free-text string', () => {
    expect(schemaOf('MintApiToken').properties.name.pattern).toContain('[^\\u0000]');
    expect(param('get', '/audit', 'targetType').pattern).toBe('^[^\\u0000]*$');
    // Free JSON (a custom command's params) and record keys too: no schema there lets a NUL through.
    const open: string[] = [];
    const walk = (node: unknown, at: string) => {
      if (Array.isArray(node)) return node.forEach((n, i) => walk(n, `${at}/${i}`));
      if (!node || typeof node !== 'object') return;
      const schema = node as Json;
      if (schema.additionalProperties && typeof schema.additionalProperties === 'object' && !schema.propertyNames) open.push(at);
      for (const key of ['additionalProperties', 'items']) if (schema[key] && typeof schema[key] === 'object' && Object.keys(schema[key]).length === 0) open.push(`${at}/${key}`);
      for (const [k, v] of Object.entries(schema)) walk(v, `${at}/${k}`);
    };
    walk(document, '#');
    expect(open).toEqual([]);
  });
});

describe('limits are the document’s', () => {
  it('a token name over maxLength is refused even when trimming would shorten it; a blank one is refused as the pattern says', async () => {
    const { maxLength, pattern } = schemaOf('MintApiToken').properties.name as { maxLength: number; pattern: string };
    expect(maxLength).toBe(100);
    const padded = `${'a'.repeat(maxLength)} `;
    const tooLong = await stack.admin('/api/v1/tokens', { method: 'POST', body: JSON.stringify({ name: padded, scope: 'read' }) });
    expect(tooLong.status).toBe(400);
    expect((await errorOf(tooLong)).details?.issues?.[0]?.path).toBe('name');

    expect(new RegExp(pattern).test('   ')).toBe(false);
    const blank = await stack.admin('/api/v1/tokens', { method: 'POST', body: JSON.stringify({ name: '   ', scope: 'read' }) });
    expect(blank.status).toBe(400);

    const longest = await stack.admin('/api/v1/tokens', { method: 'POST', body: JSON.stringify({ name: ` ${'b'.repeat(maxLength - 2)} `, scope: 'read' }) });
    expect(longest.status).toBe(201);
    expect(((await longest.json()) as { name: string }).name).toBe('b'.repeat(maxLength - 2));
  });

  it('every integer states the safe-integer bounds the API applies', async () => {
    const unbounded: string[] = [];
    const walk = (node: unknown, at: string) => {
      if (Array.isArray(node)) return node.forEach((n, i) => walk(n, `${at}/${i}`));
      if (!node || typeof node !== 'object') return;
      const schema = node as Json;
      if (schema.type === 'integer' && !((('maximum' in schema) || ('exclusiveMaximum' in schema)) && (('minimum' in schema) || ('exclusiveMinimum' in schema)))) unbounded.push(at);
      for (const [k, v] of Object.entries(schema)) walk(v, `${at}/${k}`);
    };
    walk(document, '#');
    expect(unbounded).toEqual([]);
    const act = (itunesStoreId: number) =>
      stack.admin(`/api/v1/enrollments/${crypto.randomUUID()}/actions`, { method: 'POST', body: JSON.stringify({ type: 'install_application', itunesStoreId }) });
    expect((await act(Number.MAX_SAFE_INTEGER)).status).toBe(404);
    expect((await act(2 ** 60)).status).toBe(400);
  });

  it('before: the documented maximum is accepted', async () => {
    const before = param('get', '/audit', 'before');
    expect(before.maximum).toBe(Number.MAX_SAFE_INTEGER);
    expect((await stack.admin(`/api/v1/audit?before=${before.maximum}`)).status).toBe(200);
  });

  it('cursor: any string of the documented shape is accepted, and nextCursor has it', async () => {
    const pattern = new RegExp(param('get', '/enrollments', 'cursor').pattern);
    const made = `${Date.now()}_${crypto.randomUUID()}`;
    expect(made).toMatch(pattern);
    expect((await stack.admin(`/api/v1/enrollments?cursor=${made}`)).status).toBe(200);
    const wrong = await stack.admin('/api/v1/enrollments?cursor=garbage');
    expect(wrong.status).toBe(400);
    expect((await errorOf(wrong)).code).toBe('validation_failed');
  });
});

describe('answers for what the schema cannot say', () => {
  it('a method the document does not list on a documented path: 405 with Allow', async () => {
    const res = await stack.admin('/api/v1/tokens', { method: 'PATCH', body: '{}' });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('POST, GET');
    expect((await errorOf(res)).code).toBe('method_not_allowed');
    const item = await stack.admin(`/api/v1/policies/${crypto.randomUUID()}`, { method: 'GET' });
    expect(item.status).toBe(405);
    expect(item.headers.get('allow')).toBe('PUT, DELETE');
    expect((await stack.admin('/api/v1/nothing-here')).status).toBe(404);
  });

  it('a profile that fits the schema but refers to a payload it does not hold: 422 rule_violated, documented', async () => {
    expect(document.paths['/policies'].post.responses['422']).toBeDefined();
    const res = await stack.admin('/api/v1/policies', {
      method: 'POST',
      body: JSON.stringify({
        name: 'wifi',
        assignTo: { all: true },
        profile: {
          displayName: 'Wi-Fi',
          payloads: [{ kind: 'wifi', ssid: 'corp', encryption: 'WPA2', eap: { acceptEapTypes: [13], trustedCertificateUuids: [crypto.randomUUID()] } }],
        },
      }),
    });
    expect(res.status).toBe(422);
    const error = await errorOf(res);
    expect(error.code).toBe('rule_violated');
    expect(error.details?.issues?.[0]?.path).toBe('profile.payloads.0.eap.trustedCertificateUuids.0');
  });
});

describe('rules the API applies are in the schema', () => {
  it('create enrollment: the invite channel’s address is required; user_choice leaves enrollmentType out', async () => {
    const rules = schemaOf('CreateEnrollment').allOf as Json[];
    const channelRule = rules.find((r) => r.anyOf?.some((b: Json) => b.properties?.channel))!.anyOf as Json[];
    expect(channelRule).toContainEqual({ properties: { channel: { const: 'sms' }, user: { required: ['name', 'phone'] } } });
    expect(channelRule).toContainEqual({ properties: { channel: { const: 'email' }, user: { required: ['name', 'email'] } } });
    const ownershipRule = rules.find((r) => r.anyOf?.some((b: Json) => b.properties?.ownership))!.anyOf as Json[];
    expect(ownershipRule).toContainEqual({ properties: { ownership: { const: 'user_choice' } }, not: { required: ['enrollmentType'] } });

    const smsWithoutPhone = await stack.admin('/api/v1/enrollments', {
      method: 'POST',
      body: JSON.stringify({ user: { name: 'Ada', email: 'ada@acme.example' }, channel: 'sms', ownership: 'corporate', authMode: 'open' }),
    });
    expect(smsWithoutPhone.status).toBe(400);
    expect((await errorOf(smsWithoutPhone)).details?.issues?.[0]?.path).toBe('user.phone');
  });

  it('policy: a profile or at least one required app', async () => {
    expect(schemaOf('PolicyInput').anyOf).toEqual([{ required: ['profile'] }, { required: ['requiredApps'], properties: { requiredApps: { minItems: 1 } } }]);
    const empty = await stack.admin('/api/v1/policies', { method: 'POST', body: JSON.stringify({ name: 'nothing', assignTo: { all: true }, requiredApps: [] }) });
    expect(empty.status).toBe(400);
  });
});
