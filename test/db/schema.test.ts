import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateDownAll, migrateToLatest, migrations } from '../../db/migrate.js';
import { SecretStore } from '../../db/secrets.js';
import { generateMasterKey, SecretBox } from '../../security/secret-box.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(() => t?.stop());

async function seedEnrollment(kind: 'user' | 'device') {
  const userId = crypto.randomUUID();
  const enrollmentId = crypto.randomUUID();
  await t.db.insertInto('users').values({ id: userId, name: 'Test User', email: `${userId}@example.com`, phone: null, managed_apple_id: null }).execute();
  await t.db
    .insertInto('enrollments')
    .values({
      id: enrollmentId,
      user_id: userId,
      channel: 'email',
      ownership: kind === 'user' ? 'personal' : 'corporate',
      enrollment_type: kind,
      auth_mode: 'authenticated',
      status: 'enrolled',
      username: 'u',
      workflow_id: `enrollment/${enrollmentId}`,
      expires_at: new Date(Date.now() + 86_400_000),
      created_by: 'test',
    })
    .execute();
  const device = await t.db.insertInto('devices').values({ enrollment_id: enrollmentId, kind, apple_enrollment_id: null }).returning('id').executeTakeFirstOrThrow();
  return device.id;
}

describe('schema', () => {
  it('applies every migration in order', async () => {
    const applied = await t.db.selectFrom('kysely_migration' as any).select('name').orderBy('name').execute();
    expect(applied.map((r: any) => r.name)).toEqual(Object.keys(migrations));
  });

  it('has no column on devices that could hold a serial number, UDID, IMEI or MEID', async () => {
    const columns = await sql<{ column_name: string }>`
      select column_name from information_schema.columns where table_name = 'devices' and table_schema = current_schema()`.execute(t.db);
    const names = columns.rows.map((r) => r.column_name);
    expect(names).toContain('apple_enrollment_id');
    for (const forbidden of ['udid', 'serial_number', 'imei', 'meid']) expect(names).not.toContain(forbidden);
  });

  it('stores hardware identifiers for device-enrolled devices only', async () => {
    const deviceEnrolled = await seedEnrollment('device');
    await t.db.insertInto('device_hardware_ids').values({ device_id: deviceEnrolled, udid: 'UDID-1', serial_number: 'SERIAL-1', imei: null, meid: null }).execute();

    const userEnrolled = await seedEnrollment('user');
    await expect(
      t.db.insertInto('device_hardware_ids').values({ device_id: userEnrolled, udid: 'UDID-2', serial_number: null, imei: null, meid: null }).execute(),
    ).rejects.toThrow(/foreign key/);
    await expect(sql`insert into device_hardware_ids (device_id, kind, udid) values (${userEnrolled}, 'user', 'x')`.execute(t.db)).rejects.toThrow(/check constraint/);
  });

  it('keeps one live invite per enrollment', async () => {
    const deviceId = await seedEnrollment('user');
    const device = await t.db.selectFrom('devices').select('enrollment_id').where('id', '=', deviceId).executeTakeFirstOrThrow();
    const invite = (key: string) => ({ enrollment_id: device.enrollment_id, otp_hash: 'h', otp_sealed: Buffer.from('s'), expires_at: new Date(), idempotency_key: key });
    await t.db.insertInto('invites').values(invite('a')).execute();
    await expect(t.db.insertInto('invites').values(invite('b')).execute()).rejects.toThrow(/invites_live_key/);
  });

  it('keeps secrets sealed at rest', async () => {
    const store = new SecretStore(t.db, new SecretBox(generateMasterKey()));
    const material = `push-key-material-${'k'.repeat(40)}`;
    await store.put('apns.private-key', material);
    const raw = await t.db.selectFrom('secrets').select('sealed').where('name', '=', 'apns.private-key').executeTakeFirstOrThrow();
    expect(raw.sealed.toString('latin1')).not.toContain('push-key-material');
    expect((await store.get('apns.private-key'))?.toString()).toBe(material);
    await store.put('apns.private-key', 'rotated');
    expect((await store.get('apns.private-key'))?.toString()).toBe('rotated');
    await store.delete('apns.private-key');
    expect(await store.get('apns.private-key')).toBeUndefined();
  });

  it('migrates all the way down and up again', async () => {
    await migrateDownAll(t.db);
    const left = await sql<{ n: string }>`select count(*) as n from information_schema.tables where table_schema = current_schema() and table_name in ('enrollments', 'devices', 'outbox')`.execute(t.db);
    expect(Number(left.rows[0]!.n)).toBe(0);
    expect(await migrateToLatest(t.db)).toEqual(Object.keys(migrations));
  });
});
