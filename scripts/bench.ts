/**
 * `npm run bench -- [--enrollments 12] [--concurrency 4] [--week-seconds 60]`
 *
 * The whole stack on this machine (Temporal dev server, PGlite or DATABASE_URL, worker, API, local
 * SMTP, APNs and Apps and Books servers) and simulated iPhones enrolling through it, loopback only
 * and bounded. Measures:
 * - throughput: enrollments per second from invite to `enrolled`, check-in latency (p50/p99),
 *   history events per enrollment, peak memory;
 * - Temporal Cloud Actions, counted from the real histories (scripts/temporal-actions.ts):
 *   `actionsPerLifecycle` (invite → enrolled → agent app approved and installed → disenrolled,
 *   every run and every child workflow) and `actionsPerUnansweredWeek` (what an install prompt
 *   nobody answers costs over 7 days, on a clock scaled so the week lasts --week-seconds);
 * - `maxEventsPerRun`: the longest single run's history among everything measured.
 * Writes JSON to bench/results/ and prints it.
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
import { startVppServer } from './sandbox/vpp-server.js';
import { parseInvite, SimulatedDevice, type MdmCommand } from './simulator/device.js';
import { resolveTemporalCli } from './temporal-cli.js';
import { clockFidelity, countRuns, fetchLifecycle, type FetchHistory } from './temporal-actions.js';

const { values: args } = parseArgs({
  options: { enrollments: { type: 'string', default: '12' }, concurrency: { type: 'string', default: '4' }, 'week-seconds': { type: 'string', default: '60' } },
});
const total = Math.min(500, Number(args.enrollments));
const concurrency = Math.min(32, Number(args.concurrency));
const WEEK_MS = 7 * 86_400_000;
const weekSeconds = Math.max(10, Math.min(600, Number(args['week-seconds'])));
/** The budgets of issue 17 ("An enrollment lives for years"). */
const budgets = { actionsPerLifecycle: 60, actionsPerUnansweredWeek: 30 };
const AGENT = { adamId: '1434567890', bundleId: 'com.acme.agent' };

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
const vpp = await startVppServer({ orgName: 'Bench', assets: [{ adamId: AGENT.adamId, pricingParam: 'STDQ', totalCount: 1000 }] });
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
    VPP_API_URL: vpp.baseUrl,
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
  deps: activityDepsFromEnv(env, db, box, { sandbox: false, publicUrl: env.PUBLIC_URL!, apns: { origin: apns.origin, ca: sinkCa.certPem }, vppEventPollMs: 100 }),
});
const workerRun = worker.run();
// The API reads its business durations (invite TTL, reminders, windows, agent re-checks) per
// request from its own copy: the unanswered week scales them without touching the worker's.
const apiEnv = { ...env };
const api = await startApi({ env: apiEnv, db, box, temporal: temporal.client, log: createLogger('silent'), relay: { pollIntervalMs: 100 } });

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
// The first enrollment runs alone: the first profile downloads create the CA and the profile
// signer, and SettingsStore.profileSigner races when several do at once (a signer whose
// certificate and key come from two different writers: the profile does not verify).
workflowIds.push(await enrollOne(nextIndex++));
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
// ---- Actions: a whole lifecycle, and an install prompt nobody answers for a week ----------------

const fetchHistory: FetchHistory = (workflowId, runId) => temporal.client.workflow.getHandle(workflowId, runId).fetchHistory();
const json = async (res: Response): Promise<any> => {
  if (!res.ok) throw new Error(`${res.url} answered ${res.status}: ${await res.text()}`);
  return res.json();
};
const until = async <T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`bench: ${what} did not happen within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
};

/** The agent app is sold by the local Apps and Books server; enrollments from now on deploy it. */
await json(await admin('/api/v1/settings/vpp', { method: 'PUT', body: JSON.stringify({ sToken: vpp.sToken, agent: AGENT }) }));

/**
 * An iPhone as Apple's devices behave: it reaches the server only when pushed, and answers every
 * queued command (`statuses`: what its install prompt reports, the last one staying).
 */
async function enrollDevice(statuses: string[]) {
  const email = `bench.lifecycle.${randomUUID().slice(0, 8)}@example.com`;
  const created = (await json(
    await admin('/api/v1/enrollments', {
      method: 'POST',
      body: JSON.stringify({ user: { name: 'Bench Lifecycle', email }, channel: 'email', ownership: 'personal', authMode: 'open', managedAppleId: `bench.${randomUUID().slice(0, 8)}@acme.example` }),
    }),
  )) as { id: string; workflowId: string };
  const invite = parseInvite((await smtp.waitFor((m) => m.to.includes(email), 120_000)).text);
  const device = new SimulatedDevice();
  device.apps.set(Number(AGENT.adamId), { bundleId: AGENT.bundleId, statuses: [...statuses] });
  device.installProfile(await device.enrollThroughPortal(invite.enrollmentUrl, { username: invite.username }));
  let promptShownAt: number | undefined;
  let removed = false;
  let failure: unknown;
  const answer = (cmd: MdmCommand) => {
    const type = cmd.Command.RequestType;
    if (type === 'InstallApplication') promptShownAt ??= Date.now();
    if (type === 'RemoveProfile') removed = true;
    return device.defaultAnswer(cmd);
  };
  const token = device.pushToken.toString('hex');
  let lastPush: unknown;
  let busy = false;
  const onPush = setInterval(() => {
    const push = apns.pushes.findLast((p) => p.token === token);
    if (!push || push === lastPush || busy || removed) return;
    lastPush = push;
    busy = true;
    device
      .processCommands(answer)
      .catch((err: unknown) => (failure ??= err))
      .finally(() => (busy = false));
  }, 20);
  await device.authenticate();
  await device.tokenUpdate();
  const detail = async () => (await json(await admin(`/api/v1/enrollments/${created.id}`))) as { status: string; agent?: { status: string } | null };
  return {
    ...created,
    detail,
    get promptShownAt() {
      return promptShownAt;
    },
    check() {
      if (failure) throw failure;
    },
    stop: () => clearInterval(onPush),
  };
}

/** Invite → enrolled → agent approved (at once) and installed → disenrolled by the admin, production durations. */
async function lifecycle() {
  const e = await enrollDevice(['Managed']);
  try {
    await until('the agent install', async () => (e.check(), (await e.detail()).agent?.status === 'installed' ? true : undefined), 600_000);
    await json(await admin(`/api/v1/enrollments/${e.id}/disenroll`, { method: 'POST', body: JSON.stringify({ reason: 'bench' }) }));
    await temporal.client.workflow.getHandle(e.workflowId).result();
  } finally {
    e.stop();
  }
  const runs = await fetchLifecycle(fetchHistory, e.workflowId);
  return { runs, count: countRuns(runs) };
}

/**
 * An install prompt left unanswered for 7 days, on a clock scaled so the week lasts `weekSeconds`:
 * every business duration the API puts in the workflow's input (TANDEM_* and AGENT_*) is
 * multiplied by the same factor, so the workflows make the re-checks, reminders and timeouts
 * production would, only sooner. The Actions are those of events in [prompt shown, + 7 days).
 */
/** Numbers among TANDEM_* that are not durations (a percentage of a lifetime stays as it is). */
const notDurations = new Set(['TANDEM_IDENTITY_RENEW_AT']);

async function unansweredWeek() {
  const factor = (weekSeconds * 1000) / WEEK_MS;
  const scaled: Record<string, number | number[]> = {};
  for (const [key, value] of Object.entries(env)) {
    if (!/^(TANDEM|AGENT)_/.test(key) || notDurations.has(key)) continue;
    if (typeof value === 'number') scaled[key] = Math.max(1, Math.round(value * factor));
    else if (Array.isArray(value) && value.every((v) => typeof v === 'number')) scaled[key] = value.map((v: number) => Math.max(1, Math.round(v * factor)));
  }
  Object.assign(apiEnv, scaled);
  let e: Awaited<ReturnType<typeof enrollDevice>>;
  try {
    e = await enrollDevice(['Prompting']);
  } finally {
    Object.assign(apiEnv, Object.fromEntries(Object.keys(scaled).map((k) => [k, env[k as keyof typeof env]])));
  }
  const from = await until('the install prompt', async () => (e.check(), e.promptShownAt), 120_000);
  const to = from + weekSeconds * 1000;
  await new Promise((r) => setTimeout(r, Math.max(0, to - Date.now()) + 1000));
  e.check();
  e.stop();
  const runs = await fetchLifecycle(fetchHistory, e.workflowId);
  const count = countRuns(runs, { from, to });
  const fidelity = clockFidelity(runs, { from, to });
  return { runs, count, factor, fidelity, scaledDurationsMs: scaled, agentStatusAfter: (await e.detail()).agent?.status ?? null };
}

const [life, week] = await Promise.all([lifecycle(), unansweredWeek()]);
clearInterval(sampler);
const maxEventsPerRun = Math.max(
  life.count.maxEventsPerRun,
  week.count.maxEventsPerRun,
  ...(await Promise.all(workflowIds.slice(0, 10).map(async (id) => (await fetchHistory(id)).events?.length ?? 0))),
);

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
  maxEventsPerRun,
  actionsPerLifecycle: life.count.actions,
  actionsPerUnansweredWeek: week.count.actions,
  budgets,
  withinBudget: { actionsPerLifecycle: life.count.actions <= budgets.actionsPerLifecycle, actionsPerUnansweredWeek: week.count.actions <= budgets.actionsPerUnansweredWeek },
  lifecycle: {
    how:
      'One simulated iPhone, production durations: admin invite by email → portal → profile → Authenticate/TokenUpdate → enrolled → the agent app through the local Apps and Books server (the user approves the prompt at once) → installed → admin disenrolls → the device acknowledges RemoveProfile → disenrolled. Actions are counted from the real histories of every run of the enrollment workflow and of every child it started (scripts/temporal-actions.ts, Temporal Cloud billing rules).',
    historyEvents: life.count.events,
    actions: life.count.actions,
    actionsByKind: life.count.byKind,
    workflows: life.count.workflows.length,
    runs: life.count.runs,
    maxEventsPerRun: life.count.maxEventsPerRun,
  },
  unansweredWeek: {
    how: `One simulated iPhone that answers every push but never the install prompt (ManagedApplicationList says Prompting). Every business duration the API puts in the workflow input (TANDEM_*, AGENT_*) is scaled by ${week.factor.toExponential(3)} so 7 days last ${weekSeconds} s; Actions are those of the events, in every run and child of the enrollment, timed within [the device shows the prompt, + 7 scaled days). overheadFraction is the share of that window the workflows spent working (workflow tasks, activities) or waiting for a timer that was already due (meanTimerLatenessMs: how late they fired): production's is near 0 because its waits are minutes to days. Above 0.05 (faithful: false) the scaled clock was too fast for the work, fewer waits fitted in the week than in production, and actions is a lower bound. timerCoverage is the requested timer time started in the window over the window; for a workflow that waits on timers all week (polling), actions / timerCoverage estimates production's figure (estimateIfTimerDriven).`,
    weekSeconds,
    clockFactor: week.factor,
    scaledDurationsMs: week.scaledDurationsMs,
    historyEvents: week.count.events,
    actions: week.count.actions,
    actionsByKind: week.count.byKind,
    overheadFraction: Number(week.fidelity.overheadFraction.toFixed(3)),
    timerCoverage: Number(week.fidelity.timerCoverage.toFixed(3)),
    meanTimerLatenessMs: Math.round(week.fidelity.meanTimerLatenessMs),
    faithful: week.fidelity.overheadFraction <= 0.05,
    ...(week.fidelity.overheadFraction > 0.05 && week.fidelity.timerCoverage > 0
      ? { estimateIfTimerDriven: Math.round(week.count.actions / Math.min(1, week.fidelity.timerCoverage)) }
      : {}),
    agentStatusAfter: week.agentStatusAfter,
    maxEventsPerRun: week.count.maxEventsPerRun,
  },
  notCountedFromHistory: 'Queries, activity heartbeats and rejected updates are billed but leave no history event; the bench makes none of them (the API answers devices and admins from Postgres).',
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
await Promise.all([smtp.stop(), apns.stop(), vpp.stop()]);
await temporal.teardown();
process.exit(0);
