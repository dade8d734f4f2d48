/**
 * The whole Tandem stack for one test file, over real boundaries: the shared Temporal dev server,
 * a worker on this file's own task queue, a fresh database, and the API on a loopback port.
 */
import { randomBytes } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { inject } from 'vitest';
import { ensureAdminToken } from '../../api/auth.js';
import { startApi, type RunningApi } from '../../api/server.js';
import { loadEnv, type Env } from '../../config/env.js';
import { createLogger } from '../../config/logger.js';
import { generateApiToken } from '../../security/api-tokens.js';
import { generateMasterKey, SecretBox } from '../../security/secret-box.js';
import { createTandemWorker } from '../../worker/create-worker.js';
import { createTestDatabase, type TestDatabase } from './database.js';

export interface TestStack {
  env: Env;
  baseUrl: string;
  adminToken: string;
  database: TestDatabase;
  client: Client;
  api: RunningApi;
  worker: Worker;
  /** fetch against the API with the admin token */
  admin(path: string, init?: RequestInit): Promise<Response>;
  stop(): Promise<void>;
}

export function testEnv(overrides: Record<string, string> = {}): Env {
  return loadEnv(
    {
      NODE_ENV: 'test',
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
      HOST: '127.0.0.1',
      PORT: '0',
      TEMPORAL_ADDRESS: inject('temporalAddress'),
      TEMPORAL_TASK_QUEUE: `tandem-test-${randomBytes(6).toString('hex')}`,
      TANDEM_MASTER_KEY: generateMasterKey(),
      ...overrides,
    },
    'test',
  );
}

export async function startTestStack(overrides: Record<string, string> = {}, { relayPollIntervalMs = 200 } = {}): Promise<TestStack> {
  const env = testEnv(overrides);
  const log = createLogger(env.LOG_LEVEL);
  const database = await createTestDatabase();
  const adminToken = generateApiToken();
  await ensureAdminToken(database.db, adminToken, 'test-admin');

  const nativeConnection = await NativeConnection.connect({ address: env.TEMPORAL_ADDRESS });
  const worker = await createTandemWorker({
    connection: nativeConnection,
    namespace: env.TEMPORAL_NAMESPACE,
    taskQueue: env.TEMPORAL_TASK_QUEUE,
    deps: { db: database.db, box: new SecretBox(env.TANDEM_MASTER_KEY!) },
    workflowBundlePath: inject('workflowBundlePath'),
  });
  const workerRun = worker.run();

  const connection = await Connection.connect({ address: env.TEMPORAL_ADDRESS });
  const client = new Client({ connection, namespace: env.TEMPORAL_NAMESPACE });
  const api = await startApi({ env, db: database.db, temporal: client, log, relay: { pollIntervalMs: relayPollIntervalMs } });
  const baseUrl = `http://127.0.0.1:${api.port}`;

  return {
    env,
    baseUrl,
    adminToken,
    database,
    client,
    api,
    worker,
    admin: (path, init = {}) =>
      fetch(`${baseUrl}${path}`, {
        ...init,
        headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json', ...(init.headers ?? {}) },
      }),
    async stop() {
      await api.stop();
      worker.shutdown();
      await workerRun;
      await nativeConnection.close();
      await connection.close();
      await database.stop();
    },
  };
}

/** Polls `probe` until it returns a value (not undefined) or the deadline passes. */
export async function eventually<T>(probe: () => Promise<T | undefined>, { timeoutMs = 15_000, intervalMs = 100 } = {}): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms${lastError ? `: ${String(lastError)}` : ''}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
