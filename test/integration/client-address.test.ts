/**
 * Behind proxies, the rate limits count per client, and the client is what the declared proxies
 * say it is: a client cannot buy fresh budgets by writing X-Forwarded-For entries of its own, and
 * clients sharing a proxy do not share a budget. The API runs on a real socket; the limit it
 * exercises is the admin API's failed authentications per address (RATE_LIMIT_SIGN_IN per minute).
 */
import { randomBytes } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startApi, type RunningApi } from '../../api/server.js';
import { createLogger } from '../../config/logger.js';
import { SecretBox } from '../../security/secret-box.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { testEnv } from '../support/stack.js';

const LIMIT = 3;
let database: TestDatabase;
let connection: Connection;
const apis: RunningApi[] = [];

beforeAll(async () => {
  database = await createTestDatabase();
  connection = Connection.lazy({ address: inject('temporalAddress') });
});
afterAll(async () => {
  for (const api of apis) await api.stop();
  await connection?.close();
  await database?.stop();
});

/** An API behind TRUST_PROXY=`trustProxy`, with a budget of LIMIT failed authentications per client. */
async function apiTrusting(trustProxy: string) {
  const env = testEnv({ TRUST_PROXY: trustProxy, RATE_LIMIT_SIGN_IN: String(LIMIT) });
  const api = await startApi({ env, db: database.db, box: new SecretBox(env.TANDEM_MASTER_KEY!), temporal: new Client({ connection }), log: createLogger('silent') });
  apis.push(api);
  /** One failed authentication from a client whose request carries this X-Forwarded-For. */
  return async (forwardedFor?: string) => {
    const res = await fetch(`http://127.0.0.1:${api.port}/api/v1/enrollments`, {
      // A wrong token: failed authentications are what the per-address budget counts (no token at all gets 401 without spending it).
      headers: { authorization: 'Bearer tdm_wrong', ...(forwardedFor ? { 'x-forwarded-for': forwardedFor } : {}) },
    });
    await res.arrayBuffer();
    return res.status;
  };
}

const spoofed = () => `198.18.${randomBytes(1)[0]}.${randomBytes(1)[0]}`;
const failures = [401, 401, 401];
const refused = [429, 429];

describe('client addresses behind proxies', () => {
  // `true` is one hop too: it used to believe the left-most entry, which the client writes.
  it.each(['1', 'true'])('with TRUST_PROXY=%s, ignores what the client writes to the left of the proxy\'s entry', async (trustProxy) => {
    const attempt = await apiTrusting(trustProxy);
    const statuses = [];
    for (let i = 0; i < LIMIT + 2; i++) statuses.push(await attempt(`${spoofed()}, 203.0.113.7`));
    expect(statuses).toEqual([...failures, ...refused]);
  });

  it('with a hop count, gives each client behind a shared proxy its own budget', async () => {
    const attempt = await apiTrusting('1');
    for (let i = 0; i < LIMIT; i++) expect(await attempt('203.0.113.8')).toBe(401);
    expect(await attempt('203.0.113.8')).toBe(429);
    // Another client through the same proxy (the same peer) is not held back by the first.
    expect(await attempt('203.0.113.9')).toBe(401);
  });

  it('with addresses, walks past every trusted proxy to the right-most untrusted address', async () => {
    const attempt = await apiTrusting('127.0.0.1,10.0.0.0/8');
    // A client -> an edge proxy 10.0.0.5 -> this loopback peer; the client wrote its own left-most entry.
    const statuses = [];
    for (let i = 0; i < LIMIT + 1; i++) statuses.push(await attempt(`${spoofed()}, 203.0.113.10, 10.0.0.5`));
    expect(statuses).toEqual([...failures, 429]);
    expect(await attempt(`${spoofed()}, 203.0.113.11, 10.0.0.5`)).toBe(401);
  });

  it('believes no X-Forwarded-For from a peer that is not a declared proxy', async () => {
    const attempt = await apiTrusting('10.0.0.0/8'); // the loopback peer is not in it
    const statuses = [];
    for (let i = 0; i < LIMIT + 1; i++) statuses.push(await attempt(spoofed()));
    expect(statuses).toEqual([...failures, 429]);
  });
});
