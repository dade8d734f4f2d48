/**
 * The whole Tandem stack for one test file, over real boundaries: the shared Temporal dev server,
 * a worker on this file's own task queue, a fresh database, and the API on a loopback port.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import type { Logger } from 'pino';
import { inject } from 'vitest';
import { ensureAdminToken } from '../../api/auth.js';
import { startApi, type RunningApi } from '../../api/server.js';
import { loadEnv, type Env } from '../../config/env.js';
import { createLogger } from '../../config/logger.js';
import { generateApiToken } from '../../security/api-tokens.js';
import { generateMasterKey, SecretBox } from '../../security/secret-box.js';
import { createCertificateAuthority, createSandboxPushCertificate, issueCertificate, type CertificateAndKey } from '../../mdm/certificates.js';
import { startApnsSink, type ApnsSink } from '../../scripts/sandbox/apns-sink.js';
import { startSmsSink, type SmsSink } from '../../scripts/sandbox/sms-sink.js';
import { startSmtpSink, type SmtpSink } from '../../scripts/sandbox/smtp-sink.js';
import { startVppServer, type VppServer } from '../../scripts/sandbox/vpp-server.js';
import { freePort } from '../../scripts/free-port.js';
import { activityDepsFromEnv } from '../../worker/activity-deps.js';
import { createTandemWorker, type TandemWorker } from '../../worker/create-worker.js';
import { createTestDatabase, type TestDatabase } from './database.js';
import { assertNoFailedWorkflows } from './no-failed-workflows.js';

export interface TestStack {
  env: Env;
  baseUrl: string;
  adminToken: string;
  database: TestDatabase;
  client: Client;
  api: RunningApi;
  worker: TandemWorker;
  /** the fakes of Apple's and the providers' services, on loopback */
  smtp: SmtpSink;
  sms: SmsSink;
  apns: ApnsSink;
  vpp: VppServer;
  /** the push certificate uploaded through the API */
  pushCertificate: CertificateAndKey;
  /** the CA of the local APNs server's TLS certificate */
  apnsCaPem: string;
  /** simulated crashes and restarts (fault tests) */
  stopWorker(): Promise<void>;
  startWorker(): Promise<void>;
  stopApi(): Promise<void>;
  startApi(): Promise<void>;
  /** the master key the next startApi/startWorker uses (after a rotation) */
  useMasterKey(key: string): void;
  /** fetch against the API with the admin token */
  admin(path: string, init?: RequestInit): Promise<Response>;
  /** workflow ids a test ends on purpose (terminates, lets time out): the only ones stop's check excuses */
  endedOnPurpose: Set<string>;
  /**
   * Stops everything. With `noFailedWorkflows` (every e2e suite's afterAll) it first fails if any
   * workflow on this stack's task queue ended Failed, Terminated or TimedOut.
   */
  stop(opts?: { noFailedWorkflows?: boolean }): Promise<void>;
}

/** The agent app the fake Apps and Books server sells (tests configure it with PUT /settings/vpp). */
export const AGENT_ADAM_ID = '1434567890';
export const AGENT_BUNDLE_ID = 'com.acme.agent';

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
      // Whole suites sign in and poll from one address; the limits have their own test.
      RATE_LIMIT_SIGN_IN: '100000',
      RATE_LIMIT_API: '100000',
      ...overrides,
    },
    'test',
  );
}

export interface TestStackOptions {
  relayPollIntervalMs?: number;
  /** the API's logger (default: Tandem's own at LOG_LEVEL) */
  log?: Logger;
  /** upload the push certificate through the API before returning (default true) */
  uploadPushCertificate?: boolean;
  /** a database of the test's own (a private server it restarts); default: a fresh one from createTestDatabase */
  database?: TestDatabase;
}

export async function startTestStack(overrides: Record<string, string> = {}, { relayPollIntervalMs = 200, database: givenDatabase, log: givenLog, uploadPushCertificate = true }: TestStackOptions = {}): Promise<TestStack> {
  const [smtp, sms, vpp] = await Promise.all([
    startSmtpSink(),
    startSmsSink(),
    startVppServer({ orgName: 'Acme', assets: [{ adamId: AGENT_ADAM_ID, pricingParam: 'STDQ', totalCount: 50 }] }),
  ]);
  const pushCertificate = createSandboxPushCertificate({ topic: `com.apple.mgmt.External.${randomUUID()}` });
  const sinkCa = createCertificateAuthority({ commonName: 'Test APNs CA', organization: 'Tandem tests' });
  const apns = await startApnsSink({
    tls: issueCertificate(sinkCa, { commonName: '127.0.0.1', validDays: 2, usage: 'tls-server', dnsNames: ['localhost'] }),
    clientCaPem: pushCertificate.certPem,
  });
  const env = testEnv({
    SMTP_URL: smtp.url,
    MAIL_FROM: 'Acme IT <it@acme.example>',
    SMS_API_URL: sms.baseUrl,
    SMS_ACCOUNT_SID: sms.accountSid,
    SMS_AUTH_TOKEN: sms.authToken,
    SMS_FROM: '+15005550006',
    VPP_API_URL: vpp.baseUrl,
    AGENT_RECHECK_INITIAL: '200ms',
    AGENT_RECHECK_MAX: '1s',
    AGENT_LICENCE_RECHECK: '1s',
    AGENT_REMINDER_EVERY: '1s',
    TANDEM_ORGANIZATION: 'Acme',
    ...overrides,
  });
  const log = givenLog ?? createLogger(env.LOG_LEVEL);
  const database = givenDatabase ?? (await createTestDatabase());
  const adminToken = generateApiToken();
  await ensureAdminToken(database.db, adminToken, 'test-admin');

  let box = new SecretBox(env.TANDEM_MASTER_KEY!);
  // The API's port is only known once it listens; the worker needs it for invite links, so pick it first.
  const port = await freePort();
  env.PORT = port;
  const publicUrl = `http://127.0.0.1:${port}`;
  env.PUBLIC_URL = publicUrl;
  const nativeConnection = await NativeConnection.connect({ address: env.TEMPORAL_ADDRESS });
  const launchWorker = async () => {
    const w = await createTandemWorker({
      connection: nativeConnection,
      namespace: env.TEMPORAL_NAMESPACE,
      taskQueue: env.TEMPORAL_TASK_QUEUE,
      deps: activityDepsFromEnv(env, database.db, box, { sandbox: false, publicUrl, apns: { origin: apns.origin, ca: sinkCa.certPem }, vppEventPollMs: 100 }),
      workflowBundlePath: inject('workflowBundlePath'),
    });
    return { worker: w, run: w.run() };
  };
  let running = await launchWorker();

  const connection = await Connection.connect({ address: env.TEMPORAL_ADDRESS });
  const client = new Client({ connection, namespace: env.TEMPORAL_NAMESPACE });
  const launchApi = () => startApi({ env, db: database.db, box, temporal: client, log, relay: { pollIntervalMs: relayPollIntervalMs } });
  let api: RunningApi | undefined = await launchApi();
  const baseUrl = `http://127.0.0.1:${api.port}`;
  if (api!.url !== publicUrl) throw new Error(`the API serves ${api.url}, expected ${publicUrl}`);

  if (uploadPushCertificate) {
    const uploaded = await fetch(`${baseUrl}/api/v1/settings/apns`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ certificate: pushCertificate.certPem, privateKey: pushCertificate.keyPem }),
    });
    if (uploaded.status !== 200) throw new Error(`uploading the push certificate failed: ${uploaded.status} ${await uploaded.text()}`);
  }

  let stopped = false;
  const stack: TestStack = {
    env,
    baseUrl,
    adminToken,
    database,
    client,
    api: api!,
    worker: running.worker,
    smtp,
    sms,
    apns,
    vpp,
    pushCertificate,
    apnsCaPem: sinkCa.certPem,
    admin: (path, init = {}) =>
      fetch(`${baseUrl}${path}`, {
        ...init,
        headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json', ...(init.headers ?? {}) },
      }),
    async stopWorker() {
      running.worker.worker.shutdown();
      await running.run;
    },
    async startWorker() {
      running = await launchWorker();
      stack.worker = running.worker;
    },
    async stopApi() {
      await api?.stop();
      api = undefined;
    },
    async startApi() {
      api = await launchApi();
      stack.api = api;
    },
    useMasterKey(key) {
      env.TANDEM_MASTER_KEY = key;
      box = new SecretBox(key);
    },
    endedOnPurpose: new Set(),
    async stop({ noFailedWorkflows = false } = {}) {
      if (stopped) return;
      stopped = true;
      // Checked while the connection is open; reported after everything is stopped.
      const check = noFailedWorkflows
        ? await assertNoFailedWorkflows(client, { taskQueue: env.TEMPORAL_TASK_QUEUE, except: stack.endedOnPurpose }).then(() => undefined, (err: unknown) => err)
        : undefined;
      await api?.stop();
      if (running.worker.worker.getState() === 'RUNNING') running.worker.worker.shutdown();
      await running.run;
      await nativeConnection.close();
      await connection.close();
      await database.stop();
      await Promise.all([smtp.stop(), sms.stop(), apns.stop(), vpp.stop()]);
      if (check) throw check;
    },
  };
  return stack;
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

