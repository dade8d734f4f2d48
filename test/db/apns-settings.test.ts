/**
 * The push certificate and its private key are one credential: they are written in one transaction
 * (a failure between the two never leaves a key that does not match the certificate), and a
 * certificate for another topic is refused unless the caller says it replaces the topic.
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSandboxPushCertificate, keyMatchesCertificate } from '../../mdm/certificates.js';
import { ApnsTopicChangedError, SettingsStore } from '../../db/settings.js';
import { generateMasterKey, SecretBox } from '../../security/secret-box.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

let database: TestDatabase;
let store: SettingsStore;
const topic = `com.apple.mgmt.External.${randomUUID()}`;

beforeAll(async () => {
  database = await createTestDatabase();
  store = new SettingsStore(database.db, new SecretBox(generateMasterKey()));
}, 60_000);
afterAll(() => database?.stop());

describe('SettingsStore.putApns', () => {
  it('keeps the certificate and its key together when the second write fails', async () => {
    const first = createSandboxPushCertificate({ topic });
    await store.putApns(first);
    // The settings row refuses any change from now on, as a failing disk or a dropped connection would.
    await sql`create function refuse_apns_change() returns trigger language plpgsql as $$ begin raise exception 'settings write refused'; end $$`.execute(database.db);
    await sql`create trigger refuse_apns_change before update on settings for each row when (new.key = 'apns') execute function refuse_apns_change()`.execute(database.db);
    try {
      const renewed = createSandboxPushCertificate({ topic }); // same topic, new key pair
      await expect(store.putApns(renewed)).rejects.toThrow(/settings write refused/);
    } finally {
      await sql`drop trigger refuse_apns_change on settings`.execute(database.db);
      await sql`drop function refuse_apns_change()`.execute(database.db);
    }
    const stored = (await store.getApnsCredentials())!;
    expect(stored.certPem).toBe(first.certPem);
    expect(keyMatchesCertificate(stored.certPem, stored.keyPem)).toBe(true);
  });

  it('refuses another topic unless replaceTopic is set', async () => {
    const other = createSandboxPushCertificate({ topic: `com.apple.mgmt.External.${randomUUID()}` });
    const err = await store.putApns(other).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApnsTopicChangedError);
    expect(err).toMatchObject({ currentTopic: topic, enrolledDevices: 0 });
    expect((await store.getApns())!.topic).toBe(topic);
    await store.putApns(other, { replaceTopic: true });
    expect((await store.getApns())!.topic).not.toBe(topic);
  });
});
