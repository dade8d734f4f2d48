/**
 * Property-based fuzzing of the MDM device endpoints (`PUT /mdm/checkin`, `PUT /mdm/connect`) of a
 * really enrolled, user-enrolled simulated iPhone: arbitrary bytes, arbitrary strings, random plists
 * and mutations of valid messages, signed correctly by the device identity (over the exact bytes
 * sent) or with broken signatures. For every request:
 *
 * - the server answers, within RESPONSE_BOUND_MS, never 5xx and never 401;
 * - the answer agrees with the protocol (verdict() in mdm-fuzz.ts): 200 for a valid message, 4xx
 *   for anything else;
 * - a refused request changes no state (enrollment status, the device row but last_seen_at and
 *   updated_at, the command queue, the outbox, transitions, hardware ids, account tokens);
 * - an accepted Authenticate or TokenUpdate changes only the device columns those messages
 *   document, and is then undone by the genuine messages; an accepted report changes nothing when
 *   nothing is pending; with a command pending, a result for it stores only that command's result
 *   (with the right queue status) and, for an acknowledged query, the device's facts, never a key
 *   User Enrollment forbids; any other report may only serve the pending command again;
 * - the device still works: a genuine Idle poll right after answers 200 (with no command, or the
 *   pending one).
 *
 * The seed is fixed. A failing property writes its shrunk counterexample to test/fixtures/fuzz/
 * and fails; the first block replays every saved counterexample against this run's device.
 * Requests that hit a KNOWN_BUGS entry (mdm-fuzz.ts) are stepped around unless
 * FUZZ_INCLUDE_KNOWN_BUGS=1; their fixtures carry `knownBug` and replay as expected failures.
 */
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commandSealContext } from '../../db/seal-contexts.js';
import { createCertificateAuthority, issueCertificate } from '../../mdm/certificates.js';
import { userEnrollmentForbiddenKeys } from '../../mdm/device-queries.js';
import { signMdmMessage } from '../../mdm/mdm-signature.js';
import { buildPlist, parsePlist } from '../../mdm/plist-codec.js';
import { SecretBox } from '../../security/secret-box.js';
import { parseInvite, SimulatedDevice } from '../../scripts/simulator/device.js';
import { eventually, startTestStack, type TestStack } from '../support/stack.js';
import {
  arbitraryBytes,
  arbitraryStrings,
  headersFor,
  KNOWN_BUGS,
  loadFixtures,
  mutatedMessages,
  randomPlists,
  requestFromFixture,
  saveFixture,
  verdict,
  type DeviceContext,
  type FuzzRequest,
  type PendingType,
  type Signers,
  type Verdict,
} from './mdm-fuzz.js';

/** Fixed, so a run is reproducible; FUZZ_SEED explores others (keep the fixtures they find). */
const SEED = Number(process.env.FUZZ_SEED ?? 20_250_607);
/** FUZZ_SCALE multiplies the runs (0: replay the fixtures only; 10: a long exploration). */
const SCALE = Number(process.env.FUZZ_SCALE ?? 1);
const RUNS = Object.fromEntries(
  Object.entries({ bytes: 50, strings: 50, plists: 100, checkins: 220, reports: 130, results: 140 }).map(([k, n]) => [k, Math.round(n * SCALE)]),
) as Record<'bytes' | 'strings' | 'plists' | 'checkins' | 'reports' | 'results', number>;
const INCLUDE_KNOWN_BUGS = process.env.FUZZ_INCLUDE_KNOWN_BUGS === '1';
const RESPONSE_BOUND_MS = 5_000;
/** After a first failure, fast-check shrinks for at most this long (each step is a real request). */
const SHRINK_BUDGET_MS = 15_000;

let stack: TestStack;
let device: SimulatedDevice;
let ctx: DeviceContext;
let signers: Signers;
let enrollment: { id: string; deviceId: string };
let idle: { body: Buffer; signature: string };
let box: SecretBox;

const json = async (res: Response): Promise<any> => res.json();
const tag = () => Math.random().toString(36).slice(2, 8);

beforeAll(async () => {
  stack = await startTestStack();
  const email = `fuzz.${tag()}@example.com`;
  const res = await stack.admin('/api/v1/enrollments', {
    method: 'POST',
    body: JSON.stringify({ user: { name: 'Fuzz Target', email }, channel: 'email', ownership: 'personal', authMode: 'authenticated', managedAppleId: `fuzz.${tag()}@acme.example` }),
  });
  expect(res.status).toBe(201);
  const created = await json(res);
  const invite = parseInvite((await stack.smtp.waitFor((m) => m.to.includes(email), 15_000)).text);
  device = new SimulatedDevice();
  device.installProfile(await device.enrollThroughPortal(invite.enrollmentUrl, { username: invite.username, password: invite.password! }));
  await device.authenticate();
  await device.tokenUpdate();
  await eventually(async () => ((await json(await stack.admin(`/api/v1/enrollments/${created.id}`))).status === 'enrolled' ? true : undefined));
  await stack.apns.waitFor((p) => p.token === device.pushToken.toString('hex'), 15_000);
  expect((await device.processCommands()).map((c) => c.Command.RequestType).sort()).toEqual(['DeviceInformation', 'SecurityInfo']);
  await eventually(async () => ((await json(await stack.admin(`/api/v1/enrollments/${created.id}`))).device?.facts?.deviceInformation ? true : undefined));

  const db = stack.database.db;
  const row = await db.selectFrom('devices').select('id').where('enrollment_id', '=', created.id).executeTakeFirstOrThrow();
  enrollment = { id: created.id, deviceId: row.id };
  const commands = await db.selectFrom('command_queue').select(['command_uuid', 'request_type']).where('device_id', '=', row.id).execute();
  const uuidOf = (type: string) => commands.find((c) => c.request_type === type)!.command_uuid;
  ctx = {
    enrollmentId: device.enrollmentId,
    topic: device.installed!.topic,
    pushToken: device.pushToken,
    pushMagic: device.pushMagic,
    answeredCommands: [uuidOf('SecurityInfo'), uuidOf('DeviceInformation')],
    osVersion: device.osVersion,
    productName: device.productName,
    pendingCommandUuid: randomUUID().toUpperCase(),
  };
  box = new SecretBox(stack.env.TANDEM_MASTER_KEY!);
  const rogueCa = createCertificateAuthority({ commonName: 'Rogue MDM CA', organization: 'Rogue' });
  signers = { device: device.installed!.identity, rogue: issueCertificate(rogueCa, { commonName: 'rogue device', validDays: 1, usage: 'device-identity' }) };
  const idleBody = Buffer.from(buildPlist({ EnrollmentID: ctx.enrollmentId, Status: 'Idle' }), 'utf8');
  idle = { body: idleBody, signature: signMdmMessage(idleBody, signers.device) };

  // Wait until the workflow has done everything enrollment set off: the outbox is delivered and
  // the rows hold still.
  let previous = '';
  let stable = 0;
  await eventually(
    async () => {
      const pending = await db.selectFrom('outbox').select(sql<number>`count(*)::int`.as('n')).where('delivered_at', 'is', null).executeTakeFirstOrThrow();
      const now = JSON.stringify(await snapshot());
      stable = pending.n === 0 && now === previous ? stable + 1 : 0;
      previous = now;
      return stable >= 3 ? true : undefined;
    },
    { timeoutMs: 20_000, intervalMs: 300 },
  );
}, 120_000);
afterAll(() => stack?.stop());

// ---------------------------------------------------------------------------------------------

type Snapshot = Awaited<ReturnType<typeof snapshot>>;

/** The state an invalid device request must not touch. */
async function snapshot() {
  const db = stack.database.db;
  const enrollmentRow = await db.selectFrom('enrollments').select('status').where('id', '=', enrollment.id).executeTakeFirstOrThrow();
  const { last_seen_at: _seen, updated_at: _updated, ...deviceRow } = await db.selectFrom('devices').selectAll().where('id', '=', enrollment.deviceId).executeTakeFirstOrThrow();
  const commands = await db
    .selectFrom('command_queue')
    .select(['command_uuid', 'request_type', 'status', 'result_status', 'result', 'sent_at', 'answered_at'])
    .where('device_id', '=', enrollment.deviceId)
    .orderBy('id')
    .execute();
  const outbox = await db.selectFrom('outbox').select(sql<number>`count(*)::int`.as('n')).executeTakeFirstOrThrow();
  const transitions = await db.selectFrom('enrollment_transitions').select(sql<number>`count(*)::int`.as('n')).where('enrollment_id', '=', enrollment.id).executeTakeFirstOrThrow();
  const hardware = await db.selectFrom('device_hardware_ids').select(sql<number>`count(*)::int`.as('n')).executeTakeFirstOrThrow();
  const tokens = await db.selectFrom('account_tokens').select(sql<number>`count(*)::int`.as('n')).executeTakeFirstOrThrow();
  // Buffers as hex and dates as ISO strings, so the snapshot compares as JSON.
  return JSON.parse(
    JSON.stringify(
      { status: enrollmentRow.status, device: deviceRow, commands, outbox: outbox.n, transitions: transitions.n, hardwareIds: hardware.n, accountTokens: tokens.n },
      (_k, v: unknown) => (v && typeof v === 'object' && (v as { type?: unknown }).type === 'Buffer' && Array.isArray((v as { data?: unknown }).data) ? Buffer.from((v as { data: number[] }).data).toString('hex') : v),
    ),
  ) as Record<string, unknown> & { device: Record<string, unknown> };
}

/** What changed beyond what the verdict allows. */
function changes(before: Snapshot, after: Snapshot, v: Verdict, answered: boolean): string[] {
  const allowed = v.accept === true ? v : { mayChange: [] as readonly string[], pending: undefined };
  const out: string[] = [];
  const show = (what: string, a: unknown, b: unknown) => out.push(`${what}: ${JSON.stringify(a)} -> ${JSON.stringify(b)}`.slice(0, 400));
  for (const key of new Set([...Object.keys(before), ...Object.keys(after)])) {
    if (key === 'device' || key === 'commands') continue;
    if (JSON.stringify(before[key]) !== JSON.stringify(after[key])) show(key, before[key], after[key]);
  }
  for (const column of new Set([...Object.keys(before.device), ...Object.keys(after.device)])) {
    if (allowed.mayChange.includes(column)) continue;
    if (JSON.stringify(before.device[column]) !== JSON.stringify(after.device[column])) show(`devices.${column}`, before.device[column], after.device[column]);
  }
  const rows = (s: Snapshot) => s.commands as Record<string, unknown>[];
  if (rows(before).length !== rows(after).length) show('command_queue rows', rows(before).length, rows(after).length);
  rows(before).forEach((row, i) => {
    const now = rows(after)[i] ?? {};
    const isPending = row.command_uuid === ctx.pendingCommandUuid;
    for (const column of new Set([...Object.keys(row), ...Object.keys(now)])) {
      if (JSON.stringify(row[column]) === JSON.stringify(now[column])) continue;
      if (isPending && allowed.pending?.may === 'resend' && column === 'sent_at') continue;
      if (isPending && allowed.pending?.may === 'answer' && ['status', 'result_status', 'result', 'answered_at', 'sent_at'].includes(column)) continue;
      show(`command_queue[${String(row.request_type)}${isPending ? ', pending' : ''}].${column}`, row[column], now[column]);
    }
    if (answered && isPending && allowed.pending?.may === 'answer' && now.status !== allowed.pending.status) show(`the pending command's status (expected ${allowed.pending.status})`, row.status, now.status);
  });
  return out;
}

/** Keys User Enrollment forbids, found anywhere in a stored value. */
function forbiddenKeysIn(value: unknown, path = ''): string[] {
  if (Array.isArray(value)) return value.flatMap((v, i) => forbiddenKeysIn(v, `${path}[${i}]`));
  if (value && typeof value === 'object') {
    return Object.entries(value).flatMap(([k, v]) => [...(userEnrollmentForbiddenKeys.has(k) ? [`${path}.${k}`] : []), ...forbiddenKeysIn(v, `${path}.${k}`)]);
  }
  return [];
}

/** Queues a command of this type for the device, already sent and awaiting its result. */
async function queuePending(type: PendingType) {
  const db = stack.database.db;
  await db.deleteFrom('command_queue').where('command_uuid', '=', ctx.pendingCommandUuid).execute();
  const uuid = ctx.pendingCommandUuid;
  const params = type === 'DeviceInformation' ? { Queries: ['DeviceName', 'OSVersion'] } : type === 'DeviceLock' ? { Message: 'Locked by the fuzzer' } : {};
  await db
    .insertInto('command_queue')
    .values({
      device_id: enrollment.deviceId,
      command_uuid: uuid,
      request_type: type,
      payload_sealed: box.seal(buildPlist({ CommandUUID: uuid, Command: { RequestType: type, ...params } }), commandSealContext(uuid)),
      idempotency_key: `fuzz:pending:${randomUUID()}`,
      status: 'sent',
      sent_at: new Date(),
      result: null,
      result_status: null,
    })
    .execute();
}

async function clearPending() {
  await stack.database.db.deleteFrom('command_queue').where('command_uuid', '=', ctx.pendingCommandUuid).execute();
}

const urlOf = (endpoint: FuzzRequest['endpoint']) => (endpoint === 'checkin' ? device.installed!.checkInUrl : device.installed!.serverUrl);

async function idlePoll(): Promise<{ status: number; body: Buffer }> {
  const res = await fetch(device.installed!.serverUrl, {
    method: 'PUT',
    headers: { 'content-type': 'application/x-apple-aspen-mdm', 'mdm-signature': idle.signature, 'user-agent': 'MDM/1.0' },
    body: idle.body,
    signal: AbortSignal.timeout(RESPONSE_BOUND_MS * 2),
  });
  return { status: res.status, body: Buffer.from(await res.arrayBuffer()) };
}

interface Outcome {
  status: number;
  ms: number;
}

/** Sends one request and checks every property; throws a description of what failed. */
async function checkOne(req: FuzzRequest, v: Verdict): Promise<Outcome> {
  if (req.pending) await queuePending(req.pending);
  try {
    return await checkOneWith(req, v);
  } finally {
    if (req.pending) await clearPending();
  }
}

async function checkOneWith(req: FuzzRequest, v: Verdict): Promise<Outcome> {
  const before = await snapshot();
  const headers = headersFor(req, signers);
  const started = performance.now();
  let status: number;
  let answer: Buffer;
  try {
    const res = await fetch(urlOf(req.endpoint), { method: 'PUT', headers, body: req.body, signal: AbortSignal.timeout(RESPONSE_BOUND_MS * 2) });
    status = res.status;
    answer = Buffer.from(await res.arrayBuffer());
  } catch (err) {
    throw new Error(`no answer to PUT /mdm/${req.endpoint} (${req.label}): ${String(err)}`);
  }
  const ms = Math.round(performance.now() - started);
  const problems: string[] = [];
  if (status >= 500) problems.push(`answered ${status}`);
  if (status === 401) problems.push('answered 401 to a profile-based device');
  if (ms > RESPONSE_BOUND_MS) problems.push(`answered after ${ms} ms (bound ${RESPONSE_BOUND_MS} ms)`);
  if (v.accept === true && status !== 200) problems.push(`expected 200 (${v.why}), got ${status}`);
  if (v.accept === false && !(status >= 400 && status < 500)) problems.push(`expected a 4xx (${v.why}), got ${status}`);
  const served = req.endpoint === 'connect' && status === 200 && answer.length > 0 ? servedUuid(answer) : undefined;
  if (served !== undefined && !(v.accept === true && v.pending?.may === 'resend' && served === ctx.pendingCommandUuid)) {
    problems.push(`served a command (${served}) though ${req.pending ? 'only the pending one could be, and not after its result' : 'none is queued'}`);
  }

  const after = await snapshot();
  const changed = changes(before, after, v, status === 200);
  if (changed.length) problems.push(`state changed: ${changed.join('; ')}`);
  if (v.accept === true && v.pending?.may === 'answer') {
    const stored = (after.commands as Record<string, unknown>[]).find((c) => c.command_uuid === ctx.pendingCommandUuid);
    const leaked = [...forbiddenKeysIn(stored?.result, 'result'), ...forbiddenKeysIn(after.device.facts, 'facts')];
    if (leaked.length) problems.push(`stored keys User Enrollment forbids: ${leaked.join(', ')}`);
  }

  const poll = await idlePoll().catch((err: unknown) => ({ status: -1, body: Buffer.from(String(err)) }));
  const polled = poll.status === 200 && poll.body.length > 0 ? servedUuid(poll.body) : undefined;
  if (poll.status !== 200 || (poll.body.length > 0 && !(req.pending && polled === ctx.pendingCommandUuid))) {
    problems.push(`the follow-up Idle poll answered ${poll.status} ${poll.body.toString('utf8').slice(0, 200)}`);
  }
  if (v.accept === true && v.restore) {
    // Undo the documented changes with the genuine messages (both are deduplicated events).
    await device.authenticate();
    await device.tokenUpdate();
  }
  if (problems.length) {
    throw new Error(
      `${problems.join('; ')}\n  request: PUT /mdm/${req.endpoint} [${req.label}] content-type=${JSON.stringify(req.contentType)} signature=${JSON.stringify(req.signature)} ` +
        `body(${req.body.length} bytes)=${JSON.stringify(req.body.toString('utf8').slice(0, 600))}\n  response: ${status} ${answer.toString('utf8').slice(0, 300)}`,
    );
  }
  return { status, ms };
}

function servedUuid(body: Buffer): string {
  try {
    return String(parsePlist(body).CommandUUID);
  } catch {
    return `(not a command: ${body.toString('utf8').slice(0, 80)})`;
  }
}

const knownBugOf = (req: FuzzRequest, v: Verdict) => KNOWN_BUGS.find((b) => b.matches(req, v));

/** Runs one property with fast-check; on failure saves the shrunk counterexample and fails. */
async function runProperty(name: string, arbitrary: fc.Arbitrary<FuzzRequest>, numRuns: number) {
  if (numRuns === 0) return;
  let firstFailureAt: number | undefined;
  const seen = { statuses: new Map<number, number>(), accepted: 0, slowest: 0, knownBugsSkipped: 0 };
  const property = fc.asyncProperty(arbitrary, async (req) => {
    // Past the shrink budget, report the remaining candidates as passing: the smallest failure so far stands.
    if (firstFailureAt !== undefined && Date.now() - firstFailureAt > SHRINK_BUDGET_MS) return;
    const v = verdict(req, ctx);
    fc.pre(v.accept !== 'skip');
    if (!INCLUDE_KNOWN_BUGS && knownBugOf(req, v)) {
      seen.knownBugsSkipped += 1;
      fc.pre(false);
    }
    try {
      const outcome = await checkOne(req, v);
      if (firstFailureAt === undefined) {
        seen.statuses.set(outcome.status, (seen.statuses.get(outcome.status) ?? 0) + 1);
        if (v.accept === true) seen.accepted += 1;
        seen.slowest = Math.max(seen.slowest, outcome.ms);
      }
    } catch (err) {
      firstFailureAt ??= Date.now();
      throw err;
    }
  });
  const details = await fc.check(property, { seed: SEED, numRuns });
  if (details.failed) {
    const failure = details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance ?? 'the property failed');
    let saved = '(no counterexample)';
    if (details.counterexample) {
      const [req] = details.counterexample;
      const bug = knownBugOf(req, verdict(req, ctx));
      saved = saveFixture(name, req, ctx, {
        seed: SEED,
        counterexamplePath: details.counterexamplePath,
        failure: failure.slice(0, 4000),
        ...(bug ? { knownBug: `${bug.id}: ${bug.description}` } : {}),
      });
    }
    throw new Error(`property "${name}" failed after ${details.numRuns} runs and ${details.numShrinks} shrinks (seed ${SEED}); counterexample saved to ${saved}\n${failure}`);
  }
  const statuses = [...seen.statuses].sort(([a], [b]) => a - b).map(([s, n]) => `${s}×${n}`).join(' ');
  console.log(
    `fuzz ${name}: ${details.numRuns} runs, ${seen.accepted} accepted; statuses ${statuses}; slowest ${seen.slowest} ms; ` +
      `skipped ${details.numSkips} (${seen.knownBugsSkipped} hitting a known bug)`,
  );
  return details;
}

// ---------------------------------------------------------------------------------------------

describe('saved counterexamples (test/fixtures/fuzz)', () => {
  const fixtures = loadFixtures();
  it(`are ${fixtures.length} well-formed fixture(s)`, () => {
    for (const { file, fixture } of fixtures) {
      expect(fixture.endpoint, file).toMatch(/^(checkin|connect)$/);
      expect(typeof fixture.bodyBase64, file).toBe('string');
      expect(fixture.signature?.kind, file).toBeTypeOf('string');
    }
  });
  for (const { file, fixture } of fixtures) {
    const title = `${file} [${fixture.label}] now passes`;
    const replay = async () => {
      const req = requestFromFixture(fixture, ctx);
      const v = verdict(req, ctx);
      expect(v.accept, 'a fixture must never be a signed CheckOut').not.toBe('skip');
      await checkOne(req, v);
    };
    // A fixture marked knownBug documents a failure the server still has: expected to fail until fixed.
    if (fixture.knownBug) it.fails(`${title} (known bug: ${fixture.knownBug})`, replay);
    else it(title, replay);
  }
});

describe('MDM endpoints under fuzzing', () => {
  it('survive arbitrary bytes', async () => {
    await runProperty('arbitrary bytes', arbitraryBytes(), RUNS.bytes);
  }, 60_000);

  it('survive arbitrary strings', async () => {
    await runProperty('arbitrary strings', arbitraryStrings(ctx), RUNS.strings);
  }, 60_000);

  it('survive random plists', async () => {
    await runProperty('random plists', randomPlists(ctx), RUNS.plists);
  }, 60_000);

  it('survive mutated check-ins (Authenticate, TokenUpdate, CheckOut unsigned only)', async () => {
    await runProperty('mutated check-ins', mutatedMessages(ctx, ['Authenticate', 'Authenticate', 'TokenUpdate', 'TokenUpdate', 'CheckOut'], 'MessageType'), RUNS.checkins);
  }, 60_000);

  it('survive mutated command reports (Idle, Acknowledged, Error, NotNow)', async () => {
    await runProperty('mutated command reports', mutatedMessages(ctx, ['Idle', 'AckSecurityInfo', 'AckDeviceInformation', 'Error', 'NotNow'], 'Status'), RUNS.reports);
  }, 60_000);

  it('survive mutated results for a pending command (stored as documented, forbidden keys never)', async () => {
    await runProperty('mutated results', mutatedMessages(ctx, ['AckSecurityInfo', 'AckDeviceInformation', 'Error', 'NotNow', 'Idle'], 'Status', { pending: true }), RUNS.results);
  }, 60_000);

  it('still serve the device afterwards, with its enrollment intact', async () => {
    const poll = await idlePoll();
    expect(poll.status).toBe(200);
    const detail = await json(await stack.admin(`/api/v1/enrollments/${enrollment.id}`));
    expect(detail.status).toBe('enrolled');
  });
});
