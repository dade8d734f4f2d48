/**
 * `npm run bench -- [--enrollments 20] [--concurrency 4]`
 *
 * The whole stack on this machine (Temporal dev server, PGlite or DATABASE_URL, worker, API, local
 * SMTP and APNs servers) and simulated iPhones enrolling through it, loopback only and bounded.
 * Measures enrollments per second from invite to `enrolled`, check-in latency (p50/p99), Temporal
 * history events per enrollment (the Cloud "Actions" driver), and peak memory. Writes JSON to
 * bench/results/ and prints it.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import proto from '@temporalio/proto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { ensureAdminToken } from '../api/auth.js';
import { startApi } from '../api/server.js';
import { loadEnv } from '../config/env.js';
import { createLogger } from '../config/logger.js';
import { createDb } from '../db/connection.js';
import { startEmbeddedPostgres } from '../db/embedded.js';
import { migrateToLatest } from '../db/migrate.js';
import { SettingsStore } from '../db/settings.js';
import { createCertificateAuthority, createSandboxPushCertificate, issueCertificate } from '../mdm/certificates.js';
import { generateApiToken } from '../security/api-tokens.js';
import { generateMasterKey, SecretBox } from '../security/secret-box.js';
import { activityDepsFromEnv } from '../worker/activity-deps.js';
import { createTandemWorker } from '../worker/create-worker.js';
import { tandemSearchAttributes } from '../workflows/search-attributes.js';
import { freePort } from './free-port.js';
import { startApnsSink } from './sandbox/apns-sink.js';
import { startSmtpSink } from './sandbox/smtp-sink.js';
import { parseInvite, SimulatedDevice } from './simulator/device.js';
import { resolveTemporalCli } from './temporal-cli.js';

const { values: args } = parseArgs({ options: { enrollments: { type: 'string', default: '20' }, concurrency: { type: 'string', default: '4' } } });
const total = Math.min(500, Number(args.enrollments));
const concurrency = Math.min(32, Number(args.concurrency));

Runtime.install({ logger: new DefaultLogger('WARN') });
const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
};
let peakRss = 0;
const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 100);

const { source, ...executable } = await resolveTemporalCli();
const temporal = await TestWorkflowEnvironment.createLocal({ server: { executable, searchAttributes: tandemSearchAttributes, log: { format: 'pretty', level: 'error' } } });
const embedded = process.env.DATABASE_URL ? undefined : await startEmbeddedPostgres();
const port = await freePort();
const smtp = await startSmtpSink();
const env = loadEnv(
  {
    LOG_LEVEL: 'silent',
    HOST: '127.0.0.1',
    PORT: String(port),
    PUBLIC_URL: `http://127.0.0.1:${port}`,
    TEMPORAL_ADDRESS: temporal.address,
    TEMPORAL_TASK_QUEUE: `bench-${randomUUID()}`,
    TANDEM_MASTER_KEY: generateMasterKey(),
    SMTP_URL: smtp.url,
    DATABASE_URL: process.env.DATABASE_URL ?? embedded!.url,
    RATE_LIMIT_SIGN_IN: '1000000',
    RATE_LIMIT_API: '1000000',
  },
  'test',
);
const db = createDb({ url: env.DATABASE_URL!, poolSize: embedded ? 1 : 10 });
await migrateToLatest(db);
const box = new SecretBox(env.TANDEM_MASTER_KEY!);
const token = generateApiToken();
await ensureAdminToken(db, token, 'bench');
const push = createSandboxPushCertificate({ topic: `com.apple.mgmt.External.${randomUUID()}` });
await new SettingsStore(db, box).putApns(push, { sandbox: true });
const sinkCa = createCertificateAuthority({ commonName: 'Bench APNs CA', organization: 'Tandem bench' });
const apns = await startApnsSink({ tls: issueCertificate(sinkCa, { commonName: '127.0.0.1', validDays: 1, usage: 'tls-server' }), clientCaPem: push.certPem });
const connection = await NativeConnection.connect({ address: temporal.address });
const worker = await createTandemWorker({
  connection,
  namespace: env.TEMPORAL_NAMESPACE,
  taskQueue: env.TEMPORAL_TASK_QUEUE,
  deps: activityDepsFromEnv(env, db, box, { sandbox: false, publicUrl: env.PUBLIC_URL!, apns: { origin: apns.origin, ca: sinkCa.certPem } }),
});
const workerRun = worker.run();
const api = await startApi({ env, db, box, temporal: temporal.client, log: createLogger('silent'), relay: { pollIntervalMs: 100 } });

const checkInMs: number[] = [];
const enrollMs: number[] = [];
const timed = async <T>(f: () => Promise<T>) => {
  const t0 = performance.now();
  const r = await f();
  checkInMs.push(performance.now() - t0);
  return r;
};
const admin = (path: string, init: RequestInit = {}) =>
  fetch(`${api.url}${path}`, { ...init, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...(init.headers ?? {}) } });

async function enrollOne(i: number): Promise<string> {
  const t0 = performance.now();
  const email = `bench.${i}.${randomUUID().slice(0, 8)}@example.com`;
  const created = (await (
    await admin('/api/v1/enrollments', {
      method: 'POST',
      body: JSON.stringify({ user: { name: `Bench ${i}`, email }, channel: 'email', ownership: 'personal', authMode: 'open', managedAppleId: `bench.${i}.${randomUUID().slice(0, 8)}@acme.example` }),
    })
  ).json()) as { id: string; workflowId: string };
  const invite = parseInvite((await smtp.waitFor((m) => m.to.includes(email), 120_000)).text);
  const device = new SimulatedDevice();
  device.installProfile(await device.enrollThroughPortal(invite.enrollmentUrl, { username: invite.username }));
  await timed(() => device.authenticate());
  await timed(() => device.tokenUpdate());
  for (;;) {
    const d = (await (await admin(`/api/v1/enrollments/${created.id}`)).json()) as { status: string };
    if (d.status === 'enrolled') break;
    await new Promise((r) => setTimeout(r, 50));
  }
  enrollMs.push(performance.now() - t0);
  await apns.waitFor((p) => p.token === device.pushToken.toString('hex'), 60_000);
  let next = await timed(() => device.report({ Status: 'Idle' }));
  while (next) {
    const cmd = next;
    next = await timed(() => device.report({ CommandUUID: cmd.CommandUUID, ...device.defaultAnswer(cmd) }));
  }
  return created.workflowId;
}

const started = performance.now();
const workflowIds: string[] = [];
let nextIndex = 0;
await Promise.all(
  Array.from({ length: concurrency }, async () => {
    while (nextIndex < total) workflowIds.push(await enrollOne(nextIndex++));
  }),
);
const elapsedS = (performance.now() - started) / 1000;

const eventCounts: number[] = [];
const byType: Record<string, number> = {};
for (const id of workflowIds.slice(0, 10)) {
  const history = await temporal.client.workflow.getHandle(id).fetchHistory();
  eventCounts.push(history.events?.length ?? 0);
  for (const e of history.events ?? []) {
    const name = proto.temporal.api.enums.v1.EventType[e.eventType ?? 0] ?? String(e.eventType);
    byType[name] = (byType[name] ?? 0) + 1;
  }
}
clearInterval(sampler);

const result = {
  at: new Date().toISOString(),
  machine: { node: process.version, cpus: (await import('node:os')).cpus().length },
  database: embedded ? 'pglite' : 'postgresql',
  temporalCli: source,
  enrollments: total,
  concurrency,
  elapsedSeconds: Number(elapsedS.toFixed(2)),
  enrollmentsPerSecond: Number((total / elapsedS).toFixed(3)),
  inviteToEnrolledMs: { p50: Math.round(percentile(enrollMs, 50)), p99: Math.round(percentile(enrollMs, 99)) },
  checkInLatencyMs: { p50: Number(percentile(checkInMs, 50).toFixed(1)), p99: Number(percentile(checkInMs, 99).toFixed(1)), samples: checkInMs.length },
  historyEventsPerEnrollment: Math.round(eventCounts.reduce((a, b) => a + b, 0) / Math.max(1, eventCounts.length)),
  historyEventTypes: byType,
  peakRssMiB: Math.round(peakRss / 1024 / 1024),
};
mkdirSync('bench/results', { recursive: true });
const file = `bench/results/bench-${result.at.replace(/[:.]/g, '-')}.json`;
writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
process.stdout.write(`${JSON.stringify(result, null, 2)}\nwritten to ${file}\n`);

await api.stop();
worker.worker.shutdown();
await workerRun;
await connection.close();
await db.destroy();
await embedded?.stop();
await Promise.all([smtp.stop(), apns.stop()]);
await temporal.teardown();
process.exit(0);
