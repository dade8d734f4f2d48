/**
 * Rotating TANDEM_MASTER_KEY: with the API and the worker stopped, every sealed value is opened
 * with the old key and sealed again with the new one; started again on the new key, Tandem pushes
 * to the device (APNs certificate and push token), delivers a command queued before the rotation,
 * and reads its policies. A wrong old key changes nothing.
 */
import { spawnSync } from 'node:child_process';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RekeyError, rekeyAll, sealedColumns } from '../../db/rekey.js';
import { generateMasterKey, SecretBox } from '../../security/secret-box.js';
import { enrollSimulatedDevice, type EnrolledDevice } from '../support/enroll.js';
import { startTestStack, type TestStack } from '../support/stack.js';

let stack: TestStack;
let enrolled: EnrolledDevice;
const json = async (res: Response): Promise<any> => res.json();
const root = new URL('../../', import.meta.url).pathname;

beforeAll(async () => {
  stack = await startTestStack();
  enrolled = await enrollSimulatedDevice(stack);
  await enrolled.device.processCommands();
  const policy = await stack.admin('/api/v1/policies', { method: 'POST', body: JSON.stringify({ name: 'Rotation', assignTo: { group: 'nobody' }, profile: { displayName: 'Rotation', payloads: [{ kind: 'restrictions', siri: false }] } }) });
  expect(policy.status).toBe(201);
});
afterAll(() => stack?.stop());

/** Every sealed value in the database, by column and row. */
async function sealedValues(): Promise<Map<string, Buffer>> {
  const values = new Map<string, Buffer>();
  for (const col of sealedColumns) {
    const { rows } = await sql<Record<string, string> & { sealed: Buffer | null }>`select *, ${sql.ref(col.column)} as sealed from ${sql.table(col.table)}`.execute(stack.database.db);
    for (const row of rows) if (row.sealed) values.set(`${col.table}.${col.column}:${row[col.key]}`, row.sealed);
  }
  return values;
}

/** Every sealed value opened with `box` in its own context, by column and row; throws if one does not open. */
async function openedValues(box: SecretBox): Promise<Map<string, Buffer>> {
  const values = new Map<string, Buffer>();
  for (const col of sealedColumns) {
    const { rows } = await sql<Record<string, string> & { sealed: Buffer | null }>`select *, ${sql.ref(col.column)} as sealed from ${sql.table(col.table)}`.execute(stack.database.db);
    for (const row of rows) if (row.sealed) values.set(`${col.table}.${col.column}:${row[col.key]}`, box.open(row.sealed, col.context(row)));
  }
  return values;
}

describe('master key rotation', () => {
  it('knows every sealed column in the schema', async () => {
    const { rows } = await sql<{ table_name: string; column_name: string }>`
      select table_name, column_name from information_schema.columns
      where table_schema = 'public' and data_type = 'bytea' and column_name like '%sealed%'`.execute(stack.database.db);
    expect(rows.map((r) => `${r.table_name}.${r.column_name}`).sort()).toEqual(sealedColumns.map((c) => `${c.table}.${c.column}`).sort());
  });

  it('refuses a wrong current key and changes nothing', async () => {
    const before = await sealedValues();
    await expect(rekeyAll(stack.database.db, new SecretBox(generateMasterKey()), new SecretBox(generateMasterKey()))).rejects.toThrow(RekeyError);
    expect(await sealedValues()).toEqual(before);
  });

  it('re-seals everything, and Tandem works on the new key', { timeout: 60_000 }, async () => {
    // A command queued before the rotation, delivered after it.
    const queued = await json(await stack.admin(`/api/v1/enrollments/${enrolled.id}/actions`, { method: 'POST', body: JSON.stringify({ type: 'device_lock', message: 'Before rotation' }) }));
    await stack.apns.waitFor((p) => p.token === enrolled.device.pushToken.toString('hex') && p.at.getTime() > Date.now() - 10_000, 15_000);

    const oldKey = stack.env.TANDEM_MASTER_KEY!;
    const newKey = generateMasterKey();
    await stack.stopApi();
    await stack.stopWorker();
    const before = await sealedValues();
    const plaintextBefore = await openedValues(new SecretBox(oldKey));
    expect(plaintextBefore.size).toBe(before.size);
    const counts = await rekeyAll(stack.database.db, new SecretBox(oldKey), new SecretBox(newKey));
    expect(counts['secrets.sealed']).toBeGreaterThanOrEqual(1); // the APNs certificate's key
    expect(counts['devices.push_token_sealed']).toBe(1);
    expect(counts['command_queue.payload_sealed']).toBeGreaterThanOrEqual(3);
    expect(counts['policies.spec_sealed']).toBe(1);
    expect(counts['invites.otp_sealed']).toBeGreaterThanOrEqual(1);

    // Every value changed, opens with the new key in its own context to what it was before, and
    // no longer opens with the old key.
    const after = await sealedValues();
    expect([...after.keys()].sort()).toEqual([...before.keys()].sort());
    for (const [where, sealed] of after) expect(sealed.equals(before.get(where)!), where).toBe(false);
    expect(await openedValues(new SecretBox(newKey))).toEqual(plaintextBefore);
    await expect(openedValues(new SecretBox(oldKey))).rejects.toThrow();

    stack.useMasterKey(newKey);
    await stack.startWorker();
    await stack.startApi();
    const policies = await json(await stack.admin('/api/v1/policies'));
    expect(policies.items[0]).toMatchObject({ name: 'Rotation', payloadKinds: ['restrictions'] }); // read from the re-sealed spec
    const ran = await enrolled.device.processCommands();
    expect(ran.map((c) => c.CommandUUID)).toContain(queued.commandUuid);
    // A new action: sealed under the new key, pushed with the re-sealed certificate and token.
    const pushesBefore = stack.apns.pushes.length;
    const next = await json(await stack.admin(`/api/v1/enrollments/${enrolled.id}/actions`, { method: 'POST', body: JSON.stringify({ type: 'device_lock', message: 'After rotation' }) }));
    // The action is answered once recorded; its push follows.
    await stack.apns.waitFor((p) => p.token === enrolled.device.pushToken.toString('hex') && stack.apns.pushes.indexOf(p) >= pushesBefore, 15_000);
    const afterRotation = await enrolled.device.processCommands();
    expect(afterRotation.map((c) => c.CommandUUID)).toContain(next.commandUuid);
  });

  it('the script refuses missing, malformed and unchanged keys without touching anything', () => {
    const run = (env: Record<string, string>) => spawnSync(process.execPath, ['--import', 'tsx', 'scripts/rotate-master-key.ts'], { cwd: root, env: { PATH: process.env.PATH, ...env }, encoding: 'utf8' });
    const key = generateMasterKey();
    const missing = run({ DATABASE_URL: 'postgres://127.0.0.1:9/none' });
    expect(missing.status).toBe(78);
    expect(missing.stderr).toMatch(/TANDEM_NEW_MASTER_KEY/);
    const same = run({ DATABASE_URL: 'postgres://127.0.0.1:9/none', TANDEM_MASTER_KEY: key, TANDEM_NEW_MASTER_KEY: key });
    expect(same.status).toBe(78);
    expect(same.stderr).toMatch(/is the current key/);
    const malformed = run({ DATABASE_URL: 'postgres://127.0.0.1:9/none', TANDEM_MASTER_KEY: key, TANDEM_NEW_MASTER_KEY: 'c2hvcnQ=' });
    expect(malformed.status).toBe(78);
    expect(malformed.stderr).toMatch(/TANDEM_NEW_MASTER_KEY must be 32 random bytes/);
    expect(malformed.stderr + malformed.stdout).not.toContain(key);
  });
});
