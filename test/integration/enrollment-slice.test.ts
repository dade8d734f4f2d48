/**
 * The vertical slice across real boundaries: HTTP -> Postgres + outbox -> Temporal dev server ->
 * worker activity -> Postgres, read back over HTTP and through Temporal's visibility.
 */
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashApiToken } from '../../security/api-tokens.js';
import { EnrollmentStatusKey, EnrollmentTypeKey } from '../../workflows/search-attributes.js';
import { keepHistory } from '../support/history-fixtures.js';
import { eventually, startTestStack, type TestStack } from '../support/stack.js';

let stack: TestStack;
// Response bodies are checked field by field below.
const body = async (res: Response): Promise<any> => res.json();

beforeAll(async () => {
  // Short invite lifetime so one enrollment in this file runs to its final state.
  stack = await startTestStack({ TANDEM_INVITE_TTL: '4s' });
});
afterAll(() => stack?.stop());

const invite = (overrides: Record<string, unknown> = {}) => {
  const tag = Math.random().toString(36).slice(2);
  return {
    user: { name: 'Ada Lovelace', email: `ada+${tag}@example.com` },
    channel: 'email',
    ownership: 'personal',
    authMode: 'authenticated',
    managedAppleId: `ada.${tag}@acme.example`,
    ...overrides,
  };
};

async function create(request: unknown) {
  const res = await stack.admin('/api/v1/enrollments', { method: 'POST', body: JSON.stringify(request) });
  return { res, json: (await body(res)) as Record<string, any> };
}

async function getEnrollment(id: string) {
  const res = await stack.admin(`/api/v1/enrollments/${id}`);
  expect(res.status).toBe(200);
  return (await body(res)) as Record<string, any>;
}

describe('POST /api/v1/enrollments -> workflow -> invite', () => {
  it('creates the row, starts enrollment/<id>, issues the invite and marks it invited', async () => {
    const { res, json } = await create(invite());
    expect(res.status).toBe(201);
    expect(json).toMatchObject({ status: 'created', workflowId: `enrollment/${json.id}` });
    expect(json.username).toMatch(/^ada\+.*@example\.com$/);
    expect(json.enrollmentUrl).toBe(`${stack.api.url}/enroll/${json.id}`);
    expect(Date.parse(json.expiresAt)).toBeGreaterThan(Date.now());

    const detail = await eventually(async () => {
      const d = await getEnrollment(json.id);
      return d.status === 'invited' ? d : undefined;
    });
    expect(detail.enrollmentType).toBe('user'); // personal ownership defaults to User Enrollment
    expect(detail.timeline).toEqual([expect.objectContaining({ from: 'created', to: 'invited' })]);

    // The invite's credentials exist, hashed and sealed, expiring with the enrollment.
    const invites = await stack.database.db.selectFrom('invites').selectAll().where('enrollment_id', '=', json.id).execute();
    expect(invites).toHaveLength(1);
    expect(invites[0]!.otp_hash).toMatch(/^scrypt\$/);
    expect(invites[0]!.expires_at.toISOString()).toBe(json.expiresAt);

    // Operators can find it by state in Temporal.
    const handle = stack.client.workflow.getHandle(json.workflowId);
    const description = await eventually(async () => {
      const d = await handle.describe();
      return d.typedSearchAttributes.get(EnrollmentStatusKey) === 'invited' ? d : undefined;
    });
    expect(description.typedSearchAttributes.get(EnrollmentTypeKey)).toBe('user');
    expect(description.taskQueue).toBe(stack.env.TEMPORAL_TASK_QUEUE);
    const listed = await eventually(async () => {
      const ids: string[] = [];
      for await (const wf of stack.client.workflow.list({ query: `EnrollmentStatus = 'invited' AND WorkflowId = '${json.workflowId}'` })) {
        ids.push(wf.workflowId);
      }
      return ids.length ? ids : undefined;
    });
    expect(listed).toEqual([json.workflowId]);
  });

  it('keeps personal data out of the workflow history', async () => {
    const email = `grace.hopper.${Date.now()}@example.com`;
    const { json } = await create(invite({ user: { name: 'Grace Hopper', email, phone: '+14155550100' } }));
    await eventually(async () => ((await getEnrollment(json.id)).status === 'invited' ? true : undefined));
    const history = historyToJSON(await stack.client.workflow.getHandle(json.workflowId).fetchHistory());
    for (const personal of [email, 'Grace Hopper', '+14155550100']) expect(history).not.toContain(personal);
    expect(history).toContain(json.id);
  });

  it('starts each workflow once even when the outbox delivers twice', async () => {
    const { json } = await create(invite());
    await eventually(async () => ((await getEnrollment(json.id)).status === 'invited' ? true : undefined));
    // Simulate a relay that crashed after starting the workflow but before marking the row delivered.
    await stack.database.db.updateTable('outbox').set({ delivered_at: null, available_at: new Date(0) }).where('workflow_id', '=', json.workflowId).execute();
    await eventually(async () => {
      const row = await stack.database.db.selectFrom('outbox').select(['delivered_at', 'attempts']).where('workflow_id', '=', json.workflowId).executeTakeFirstOrThrow();
      return row.delivered_at && row.attempts >= 2 ? row : undefined;
    });
    const runs: string[] = [];
    for await (const wf of stack.client.workflow.list({ query: `WorkflowId = '${json.workflowId}'` })) runs.push(wf.runId);
    expect(runs).toHaveLength(1);
    const invites = await stack.database.db.selectFrom('invites').select('id').where('enrollment_id', '=', json.id).execute();
    expect(invites).toHaveLength(1);
  });

  it('treats a retried create with the same Idempotency-Key as the same enrollment', async () => {
    const request = JSON.stringify(invite());
    const first = await stack.admin('/api/v1/enrollments', { method: 'POST', body: request, headers: { 'idempotency-key': 'create-42' } });
    const again = await stack.admin('/api/v1/enrollments', { method: 'POST', body: request, headers: { 'idempotency-key': 'create-42' } });
    expect(first.status).toBe(201);
    expect(again.status).toBe(200);
    const [a, b] = [await body(first), await body(again)];
    expect(b.id).toBe(a.id);
    const rows = await stack.database.db.selectFrom('enrollments').select('id').where('idempotency_key', 'like', '%create-42').execute();
    expect(rows).toHaveLength(1);
  });

  it('lets an invite expire when nobody enrolls, and the workflow completes', async () => {
    const { json } = await create(invite({ ownership: 'corporate' }));
    const handle = stack.client.workflow.getHandle(json.workflowId);
    await eventually(() => handle.describe()); // the outbox starts it a moment after the 201
    const result = await handle.result();
    expect(result).toEqual({ enrollmentId: json.id, status: 'expired', enrollmentType: 'device', invitesSent: 1 });
    const detail = await getEnrollment(json.id);
    expect(detail.status).toBe('expired');
    expect(detail.enrollmentType).toBe('device'); // corporate defaults to Device Enrollment
    expect(detail.timeline.map((t: any) => t.to)).toEqual(['invited', 'expired']);
    expect((await handle.describe()).typedSearchAttributes.get(EnrollmentStatusKey)).toBe('expired');

    await keepHistory(stack.client, handle.workflowId, 'lifecycle-invite-expired');
  });
});

describe('admin API contract', () => {
  it('answers a missing or unknown token with 401 and a JSON error', async () => {
    const bare = await fetch(`${stack.baseUrl}/api/v1/enrollments`);
    expect(bare.status).toBe(401);
    expect(bare.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(await body(bare)).toMatchObject({ error: { code: 'unauthenticated' } });
    const wrong = await fetch(`${stack.baseUrl}/api/v1/enrollments`, { headers: { authorization: 'Bearer tdm_nope' } });
    expect(wrong.status).toBe(401);
    expect(await body(wrong)).toMatchObject({ error: { code: 'invalid_token' } });
  });

  it('lets a read-only token list but not create', async () => {
    await stack.database.db.insertInto('api_tokens').values({ name: 'auditor', token_hash: hashApiToken('read-only-token-for-tests'), scope: 'read' }).execute();
    const headers = { authorization: 'Bearer read-only-token-for-tests', 'content-type': 'application/json' };
    expect((await fetch(`${stack.baseUrl}/api/v1/enrollments`, { headers })).status).toBe(200);
    const post = await fetch(`${stack.baseUrl}/api/v1/enrollments`, { method: 'POST', headers, body: JSON.stringify(invite()) });
    expect(post.status).toBe(403);
    expect(await body(post)).toMatchObject({ error: { code: 'insufficient_scope' } });
  });

  it('rejects invalid bodies with 400 and field paths, creating nothing', async () => {
    const before = await stack.database.db.selectFrom('enrollments').select(({ fn }) => fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
    const { res, json } = await create({ user: { name: 'Ada' }, channel: 'sms', ownership: 'user_choice', enrollmentType: 'user', authMode: 'authenticated' });
    expect(res.status).toBe(400);
    expect(json.error.code).toBe('validation_failed');
    expect(json.error.details.issues.map((i: any) => i.path).sort()).toEqual(['enrollmentType', 'user.phone']);

    const bad = await create({ user: { name: '', email: 'not-an-email' }, channel: 'fax', ownership: 'personal', authMode: 'open' });
    expect(bad.res.status).toBe(400);
    expect(bad.json.error.details.issues.map((i: any) => i.path).sort()).toEqual(['channel', 'user.email', 'user.name']);

    const malformed = await stack.admin('/api/v1/enrollments', { method: 'POST', body: '{"user":' });
    expect(malformed.status).toBe(400);
    expect((await body(malformed)).error.code).toMatch(/malformed_json|validation_failed/);

    const huge = await stack.admin('/api/v1/enrollments', { method: 'POST', body: JSON.stringify({ pad: 'x'.repeat(1_100_000) }) });
    expect(huge.status).toBe(413);
    expect((await body(huge)).error.code).toBe('body_too_large');

    const after = await stack.database.db.selectFrom('enrollments').select(({ fn }) => fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
    expect(after.n).toBe(before.n);
  });

  it('answers unknown enrollments and bad ids clearly', async () => {
    const missing = await stack.admin('/api/v1/enrollments/00000000-0000-4000-8000-000000000000');
    expect(missing.status).toBe(404);
    expect((await body(missing)).error.code).toBe('enrollment_not_found');
    const badId = await stack.admin('/api/v1/enrollments/not-a-uuid');
    expect(badId.status).toBe(400);
    expect((await body(badId)).error.details.issues[0].path).toBe('id');
  });

  it('lists newest first with status filter and cursor paging', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await create(invite())).json.id);
    const page1 = await body(await stack.admin('/api/v1/enrollments?limit=2'));
    expect(page1.items.map((e: any) => e.id)).toEqual([ids[2], ids[1]]);
    expect(page1.nextCursor).toEqual(expect.any(String));
    const page2 = await body(await stack.admin(`/api/v1/enrollments?limit=2&cursor=${page1.nextCursor}`));
    expect(page2.items[0].id).toBe(ids[0]);

    const expired = await body(await stack.admin('/api/v1/enrollments?status=expired'));
    for (const item of expired.items) expect(item.status).toBe('expired');
    expect((await stack.admin('/api/v1/enrollments?cursor=garbage')).status).toBe(400);
    expect((await stack.admin('/api/v1/enrollments?status=sleeping')).status).toBe(400);
  });

  it('serves health, readiness, the OpenAPI document and its docs page', async () => {
    expect(await body(await fetch(`${stack.baseUrl}/healthz`))).toEqual({ status: 'ok' });
    const ready = await fetch(`${stack.baseUrl}/readyz`);
    expect(ready.status).toBe(200);
    expect(await body(ready)).toMatchObject({ status: 'ready', checks: { database: { ok: true }, temporal: { ok: true } } });

    const spec = await body(await fetch(`${stack.baseUrl}/api/v1/openapi.json`));
    expect(spec.openapi).toBe('3.1.0');
    expect(Object.keys(spec.paths)).toEqual(expect.arrayContaining(['/enrollments', '/enrollments/{id}']));
    const docs = await fetch(`${stack.baseUrl}/api/v1/docs`);
    expect(docs.status).toBe(200);
    expect(await docs.text()).toContain('swagger-ui-bundle.js');
    const bundle = await fetch(`${stack.baseUrl}/api/v1/docs/assets/swagger-ui-bundle.js`);
    expect(bundle.status).toBe(200);
    expect(bundle.headers.get('content-type')).toContain('javascript');

    const notFound = await fetch(`${stack.baseUrl}/nowhere`);
    expect(notFound.status).toBe(404);
    expect((await body(notFound)).error.code).toBe('not_found');
    expect(notFound.headers.get('x-request-id')).toBeTruthy();
  });
});
