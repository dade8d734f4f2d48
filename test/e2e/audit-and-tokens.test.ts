/**
 * The audit log holds every admin action and every state change, and admins manage their API
 * tokens (mint, scope, expire, revoke) through the API, each change audited and no secret kept.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureAdminToken } from '../../api/auth.js';
import { generateApiToken, hashApiToken } from '../../security/api-tokens.js';
import { enrollSimulatedDevice } from '../support/enroll.js';
import { eventually, startTestStack, type TestStack } from '../support/stack.js';

let stack: TestStack;
const json = async (res: Response): Promise<any> => res.json();
const withToken = (token: string, path: string, init: RequestInit = {}) =>
  fetch(`${stack.baseUrl}${path}`, { ...init, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...(init.headers ?? {}) } });
const auditOf = async (query: string) => (await json(await stack.admin(`/api/v1/audit?${query}&limit=500`))).items as any[];

beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(() => stack?.stop({ noFailedWorkflows: true }));

describe('the audit log', () => {
  it('records an enrollment from invite to disenrolled: admin actions and every state change', { timeout: 60_000 }, async () => {
    const e = await enrollSimulatedDevice(stack);
    await e.device.processCommands();
    expect((await stack.admin(`/api/v1/enrollments/${e.id}/actions`, { method: 'POST', body: JSON.stringify({ type: 'device_information' }) })).status).toBe(202);
    expect((await stack.admin(`/api/v1/enrollments/${e.id}/disenroll`, { method: 'POST', body: JSON.stringify({ reason: 'left' }) })).status).toBe(202);
    const detail = await eventually(async () => {
      await e.device.processCommands().catch(() => undefined); // RemoveProfile; refused once removed
      const d = await json(await stack.admin(`/api/v1/enrollments/${e.id}`));
      return d.status === 'disenrolled' ? d : undefined;
    }, { timeoutMs: 30_000, intervalMs: 200 });

    const entries = (await eventually(async () => {
      const items = await auditOf(`targetType=enrollment&targetId=${e.id}`);
      return items.some((i) => i.action === 'enrollment.disenrolled') ? items : undefined;
    })).reverse(); // oldest first
    const actions = entries.map((i) => i.action);
    expect(actions[0]).toBe('enrollment.create');
    expect(actions).toEqual(expect.arrayContaining(['device.action', 'enrollment.disenroll', 'enrollment.disenrolled']));
    // Every state change of the timeline, in order, with the system as the actor.
    const transitions = entries.filter((i) => i.action === 'enrollment.transition');
    expect(transitions.map((t) => t.details.to)).toEqual(detail.timeline.map((t: any) => t.to));
    expect(transitions.every((t) => t.actor === 'tandem')).toBe(true);
    expect(entries.find((i) => i.action === 'device.action')).toMatchObject({ actor: 'test-admin' });
  });

  it('records settings and policy changes with the admin who made them', async () => {
    expect((await stack.admin('/api/v1/settings/domains', { method: 'PUT', body: JSON.stringify({ domains: ['acme.example'] }) })).status).toBe(200);
    const [domains] = await auditOf('action=settings.domains.update');
    expect(domains).toMatchObject({ actor: 'test-admin', targetType: 'settings', targetId: 'domains', details: { domains: ['acme.example'] } });
    expect(domains.requestId).toEqual(expect.any(String));
    const created = await stack.admin('/api/v1/policies', { method: 'POST', body: JSON.stringify({ name: 'Audit', assignTo: { group: 'auditors' }, profile: { displayName: 'Audit', payloads: [{ kind: 'restrictions', siri: false }] } }) });
    expect(created.status, await created.clone().text()).toBe(201);
    const policy = await json(created);
    expect((await auditOf(`targetType=policy&targetId=${policy.id}`)).map((i) => i.action)).toEqual(['policy.create']);
  });
});

describe('API tokens', () => {
  it('mints a read-only token that may GET but not change anything, then revokes it', async () => {
    const res = await stack.admin('/api/v1/tokens', { method: 'POST', body: JSON.stringify({ name: 'dashboard', scope: 'read', expiresInDays: 30 }) });
    expect(res.status).toBe(201);
    const minted = await json(res);
    expect(minted).toMatchObject({ name: 'dashboard', scope: 'read', createdBy: 'test-admin', revokedAt: null });
    expect(Date.parse(minted.expiresAt) - Date.now()).toBeGreaterThan(29 * 86_400_000);
    expect(minted.token).toMatch(/^tdm_/);

    expect((await withToken(minted.token, '/api/v1/enrollments')).status).toBe(200);
    const refused = await withToken(minted.token, '/api/v1/tokens', { method: 'POST', body: JSON.stringify({ name: 'escalate', scope: 'admin' }) });
    expect(refused.status).toBe(403);
    expect((await json(refused)).error.code).toBe('insufficient_scope');

    // Listed without its secret; only the hash is stored.
    const listed = await json(await stack.admin('/api/v1/tokens'));
    const entry = listed.items.find((t: any) => t.id === minted.id);
    expect(entry).toMatchObject({ name: 'dashboard', scope: 'read' });
    expect(entry.lastUsedAt).toEqual(expect.any(String));
    expect(JSON.stringify(listed)).not.toContain(minted.token);
    const stored = await stack.database.db.selectFrom('api_tokens').select('token_hash').where('id', '=', minted.id).executeTakeFirstOrThrow();
    expect(stored.token_hash).toBe(hashApiToken(minted.token));

    const revoked = await stack.admin(`/api/v1/tokens/${minted.id}`, { method: 'DELETE' });
    expect(revoked.status).toBe(200);
    expect((await json(revoked)).revokedAt).toEqual(expect.any(String));
    const after = await withToken(minted.token, '/api/v1/enrollments');
    expect(after.status).toBe(401);
    expect((await json(after)).error.code).toBe('invalid_token');

    const audit = await auditOf(`targetType=token&targetId=${minted.id}`);
    expect(audit.map((i) => i.action)).toEqual(['token.revoke', 'token.create']);
    expect(JSON.stringify(audit)).not.toContain(minted.token);
  });

  it('refuses an expired token with its own code', async () => {
    const minted = await json(await stack.admin('/api/v1/tokens', { method: 'POST', body: JSON.stringify({ name: 'short-lived', scope: 'read', expiresInDays: 1 }) }));
    await stack.database.db.updateTable('api_tokens').set({ expires_at: new Date(Date.now() - 1000) }).where('id', '=', minted.id).execute();
    const res = await withToken(minted.token, '/api/v1/enrollments');
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect((await json(res)).error.code).toBe('token_expired');
  });

  it('answers unknown ids and invalid bodies clearly', async () => {
    const missing = await stack.admin('/api/v1/tokens/00000000-0000-4000-8000-000000000000', { method: 'DELETE' });
    expect(missing.status).toBe(404);
    expect((await json(missing)).error.code).toBe('token_not_found');
    const bad = await stack.admin('/api/v1/tokens', { method: 'POST', body: JSON.stringify({ name: '', scope: 'root', expiresInDays: 0 }) });
    expect(bad.status).toBe(400);
    expect((await json(bad)).error.details.issues.map((i: any) => i.path).sort()).toEqual(['expiresInDays', 'name', 'scope']);
  });

  it('replaces the bootstrap token when TANDEM_ADMIN_TOKEN changes, and audits it', async () => {
    // What every API start does with the configured value (api/main.ts).
    const [first, second] = [generateApiToken(), generateApiToken()];
    expect(await ensureAdminToken(stack.database.db, first)).toBe('created');
    expect((await withToken(first, '/api/v1/tokens')).status).toBe(200);
    expect(await ensureAdminToken(stack.database.db, first)).toBe('unchanged'); // a restart with the same value

    expect(await ensureAdminToken(stack.database.db, second)).toBe('replaced');
    const old = await withToken(first, '/api/v1/tokens');
    expect(old.status).toBe(401);
    expect((await json(old)).error.code).toBe('invalid_token');
    expect((await withToken(second, '/api/v1/tokens')).status).toBe(200);

    const bootstrap = (await json(await stack.admin('/api/v1/tokens'))).items.filter((t: any) => t.name === 'bootstrap');
    const live = bootstrap.filter((t: any) => !t.revokedAt);
    expect(bootstrap).toHaveLength(2);
    expect(live).toHaveLength(1);
    const replaced = bootstrap.find((t: any) => t.revokedAt)!;
    const entries = await auditOf(`targetType=token&targetId=${live[0].id}`);
    expect(entries).toEqual([expect.objectContaining({ actor: 'tandem', action: 'token.replace', details: expect.objectContaining({ name: 'bootstrap', replaced: [replaced.id] }) })]);
    // The other admin tokens are untouched (the stack's own still works), and a value an admin revoked stays revoked.
    expect((await stack.admin(`/api/v1/tokens/${live[0].id}`, { method: 'DELETE' })).status).toBe(200);
    expect(await ensureAdminToken(stack.database.db, second)).toBe('revoked');
    expect((await withToken(second, '/api/v1/tokens')).status).toBe(401);
  });

  // Last: it revokes the stack's own admin token.
  it('never revokes the last usable admin token, even when two revocations race', async () => {
    const own = (await json(await stack.admin('/api/v1/tokens'))).items.find((t: any) => t.name === 'test-admin');
    const last = await stack.admin(`/api/v1/tokens/${own.id}`, { method: 'DELETE' });
    expect(last.status).toBe(409);
    expect((await json(last)).error.code).toBe('last_admin_token');

    const mint = async (name: string) => json(await stack.admin('/api/v1/tokens', { method: 'POST', body: JSON.stringify({ name, scope: 'admin' }) }));
    const [a, b] = [await mint('admin a'), await mint('admin b')];
    expect((await withToken(a.token, `/api/v1/tokens/${own.id}`, { method: 'DELETE' })).status).toBe(200);
    // a and b are the only admins left; each revokes the other at the same moment. One wins; the
    // other is refused as the last admin (409), or no longer authenticates (401) if it came later.
    const race = await Promise.all([withToken(a.token, `/api/v1/tokens/${b.id}`, { method: 'DELETE' }), withToken(b.token, `/api/v1/tokens/${a.id}`, { method: 'DELETE' })]);
    const statuses = race.map((r) => r.status).sort();
    expect(statuses[0]).toBe(200);
    expect([401, 409]).toContain(statuses[1]);
    const usable = await stack.database.db.selectFrom('api_tokens').select('id').where('scope', '=', 'admin').where('revoked_at', 'is', null).execute();
    expect(usable).toHaveLength(1);
    const survivor = usable[0]!.id === a.id ? a.token : b.token;
    expect((await withToken(survivor, '/api/v1/tokens')).status).toBe(200);
  });
});
