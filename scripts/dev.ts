/**
 * `npm start`: the whole stack in one process tree on embedded defaults.
 *
 *   Temporal dev server (SQLite under the data dir, UI on TEMPORAL_UI_PORT, search attributes
 *   registered)  +  PGlite behind a Postgres socket  +  migrations  +  worker  +  API.
 *
 * Set TEMPORAL_ADDRESS or DATABASE_URL to use an external Temporal or Postgres instead.
 * Ctrl-C (or SIGTERM) stops everything in order.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, NativeConnection, Runtime, makeTelemetryFilterString } from '@temporalio/worker';
import { ensureAdminToken } from '../api/auth.js';
import { startApi } from '../api/server.js';
import { loadEnvOrExit } from '../config/env.js';
import { createLogger } from '../config/logger.js';
import { createDb } from '../db/connection.js';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../db/embedded.js';
import { migrateToLatest } from '../db/migrate.js';
import { generateApiToken } from '../security/api-tokens.js';
import { SettingsStore } from '../db/settings.js';
import { createSandboxPushCertificate, issueCertificate } from '../mdm/certificates.js';
import { generateMasterKey, SecretBox } from '../security/secret-box.js';
import { activityDepsFromEnv } from '../worker/activity-deps.js';
import { freePort } from './free-port.js';
import { startApnsSink } from './sandbox/apns-sink.js';
import { createTandemWorker } from '../worker/create-worker.js';
import { tandemSearchAttributes } from '../workflows/search-attributes.js';
import { resolveTemporalCli } from './temporal-cli.js';

const env = loadEnvOrExit('dev');
const log = createLogger(env.LOG_LEVEL, 'tandem');
const dataDir = resolve(env.TANDEM_DATA_DIR);
mkdirSync(dataDir, { recursive: true, mode: 0o700 });

/** A value generated on first start and kept (mode 0600) under the data directory. */
function keptValue(file: string, make: () => string): string {
  const path = join(dataDir, file);
  if (existsSync(path)) return readFileSync(path, 'utf8').trim();
  const value = make();
  writeFileSync(path, `${value}\n`, { mode: 0o600 });
  return value;
}

const masterKey = env.TANDEM_MASTER_KEY ?? keptValue('master.key', generateMasterKey);
const adminToken = env.TANDEM_ADMIN_TOKEN ?? keptValue('admin-token', generateApiToken);
const externalTemporal = process.env.TEMPORAL_ADDRESS ? env.TEMPORAL_ADDRESS : undefined;

Runtime.install({
  shutdownSignals: [], // this launcher orders the shutdown itself
  logger: new DefaultLogger('WARN'),
  telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: 'WARN' }) } },
});

const stops: (() => Promise<unknown>)[] = [];
let stopping = false;
async function stopAll(code: number) {
  if (stopping) return;
  stopping = true;
  log.info('stopping');
  const force = setTimeout(() => process.exit(1), env.SHUTDOWN_GRACE + 5000).unref();
  for (const stop of stops.reverse()) {
    await stop().catch((err: unknown) => log.warn({ err }, 'error while stopping'));
  }
  clearTimeout(force);
  process.exit(code);
}
process.on('SIGINT', () => void stopAll(0));
process.on('SIGTERM', () => void stopAll(0));

try {
  // 1. Temporal
  let client: Client;
  let nativeConnection: NativeConnection;
  if (externalTemporal) {
    const connection = await Connection.connect({ address: externalTemporal });
    client = new Client({ connection, namespace: env.TEMPORAL_NAMESPACE });
    nativeConnection = await NativeConnection.connect({ address: externalTemporal });
    stops.push(() => connection.close(), () => nativeConnection.close());
  } else {
    const { source, ...executable } = await resolveTemporalCli({ log: (line) => log.info(line) });
    log.info({ route: source }, 'starting Temporal dev server');
    const testEnv = await TestWorkflowEnvironment.createLocal({
      server: {
        executable,
        dbFilename: join(dataDir, 'temporal.db'),
        port: env.TEMPORAL_PORT,
        ui: true,
        uiPort: env.TEMPORAL_UI_PORT,
        namespace: env.TEMPORAL_NAMESPACE,
        searchAttributes: tandemSearchAttributes,
        log: { format: 'pretty', level: 'error' },
        extraArgs: ['--sqlite-pragma', 'journal_mode=WAL', '--sqlite-pragma', 'synchronous=NORMAL'],
      },
    });
    client = testEnv.client;
    nativeConnection = testEnv.nativeConnection;
    stops.push(() => testEnv.teardown());
  }

  // 2. Postgres
  let databaseUrl = env.DATABASE_URL;
  let embedded: EmbeddedPostgres | undefined;
  if (!databaseUrl) {
    embedded = await startEmbeddedPostgres({ dataDir: join(dataDir, 'pglite') });
    stops.push(() => embedded!.stop());
    databaseUrl = embedded.url;
  }
  const db = createDb({ url: databaseUrl, poolSize: embedded ? 1 : env.DATABASE_POOL_SIZE });
  stops.push(() => db.destroy());
  const applied = await migrateToLatest(db);
  if (applied.length) log.info({ applied }, 'migrations applied');
  await ensureAdminToken(db, adminToken);

  // 3. Sandbox: with no real mail credentials, invites go to a local outbox page and pushes to a
  // local APNs sink that checks them like Apple would.
  const box = new SecretBox(masterKey);
  const sandbox = env.TANDEM_SANDBOX ?? !env.SMTP_URL;
  const port = env.PORT || (await freePort());
  const publicUrl = env.PUBLIC_URL ?? `http://localhost:${port}`;
  let apns: { origin: string; ca: string } | undefined;
  if (sandbox) {
    const settings = new SettingsStore(db, box);
    let push = await settings.getApnsCredentials();
    if (!push) {
      await settings.putApns(createSandboxPushCertificate({ topic: `com.apple.mgmt.External.${randomUUID()}` }), { sandbox: true });
      push = (await settings.getApnsCredentials())!;
    }
    const ca = await settings.certificateAuthority(env.TANDEM_ORGANIZATION);
    const sink = await startApnsSink({
      tls: issueCertificate(ca, { commonName: 'localhost', validDays: 30, usage: 'tls-server', dnsNames: ['localhost'] }),
      ...(push.sandbox ? { clientCaPem: push.certPem } : {}),
    });
    stops.push(() => sink.stop());
    apns = { origin: sink.origin, ca: ca.certPem };
  }

  // 4. Worker
  const worker = await createTandemWorker({
    connection: nativeConnection,
    namespace: env.TEMPORAL_NAMESPACE,
    taskQueue: env.TEMPORAL_TASK_QUEUE,
    deps: activityDepsFromEnv(env, db, box, { sandbox, publicUrl, ...(apns ? { apns } : {}) }),
  });
  const workerRun = worker.run();
  workerRun.catch((err: unknown) => {
    log.error({ err }, 'worker failed');
    void stopAll(1);
  });
  stops.push(async () => {
    if (worker.worker.getState() === 'RUNNING') worker.worker.shutdown();
    await workerRun;
  });

  // 5. API
  const api = await startApi({ env: { ...env, PORT: port, TANDEM_MASTER_KEY: masterKey }, db, box, sandbox, temporal: client, log });
  stops.push(() => api.stop());

  const uiUrl = externalTemporal ? '(external Temporal: see its UI)' : `http://localhost:${env.TEMPORAL_UI_PORT}`;
  process.stdout.write(
    [
      '',
      'Tandem is running.',
      `  API            ${api.url}/api/v1`,
      `  OpenAPI docs   ${api.url}/api/v1/docs   (spec: ${api.url}/api/v1/openapi.json)`,
      `  Readiness      ${api.url}/readyz`,
      `  Temporal UI    ${uiUrl}`,
      `  Admin token    ${adminToken}`,
      `  Data           ${dataDir}${embedded ? ' (PGlite + Temporal SQLite)' : ''}`,
      ...(sandbox
        ? [
            '',
            '  SANDBOX MODE: no mail or SMS leaves this machine and pushes go to a local APNs sink.',
            `  Sandbox outbox ${api.url}/sandbox/outbox`,
            `  Simulate a device: npm run simulate -- --server ${api.url} --email ada@example.com`,
          ]
        : []),
      '',
      'Try:',
      `  curl -s -X POST ${api.url}/api/v1/enrollments -H "Authorization: Bearer ${adminToken}" \\`,
      `    -H 'Content-Type: application/json' \\`,
      `    -d '{"user":{"name":"Ada Lovelace","email":"ada@example.com"},"channel":"email","ownership":"personal","authMode":"authenticated","managedAppleId":"ada@acme.example"}'`,
      '',
      'Press Ctrl-C to stop.',
      '',
    ].join('\n'),
  );
} catch (err) {
  log.error({ err }, 'start failed');
  await stopAll(1);
}
