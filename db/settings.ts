/**
 * Organisation-wide settings: JSON in `settings`, private keys sealed in `secrets`.
 *  - `ca`: Tandem's own certificate authority (device identities, profile signing)
 *  - `apns`: the MDM push certificate (topic from its UID, expiry)
 */
import { sql } from 'kysely';
import { createCertificateAuthority, describeCertificate, issueCertificate, type CertificateAndKey } from '../mdm/certificates.js';
import type { SecretBox } from '../security/secret-box.js';
import type { Db } from './connection.js';
import { SecretStore } from './secrets.js';

async function readSetting<T>(db: Db, key: string): Promise<T | undefined> {
  const row = await db.selectFrom('settings').select('value').where('key', '=', key).executeTakeFirst();
  return row?.value as T | undefined;
}

async function writeSetting(db: Db, key: string, value: Record<string, unknown>, { overwrite = true } = {}): Promise<boolean> {
  const json = JSON.stringify(value);
  const q = db.insertInto('settings').values({ key, value: json, updated_at: sql`now()` });
  const result = await (overwrite ? q.onConflict((oc) => oc.column('key').doUpdateSet({ value: json, updated_at: sql`now()` })) : q.onConflict((oc) => oc.column('key').doNothing()))
    .executeTakeFirst();
  return Number(result.numInsertedOrUpdatedRows ?? 0) > 0;
}

export interface ApnsSettings {
  topic: string;
  certPem: string;
  subject: string;
  notBefore: string;
  notAfter: string;
  uploadedAt: string;
  /** a generated stand-in aimed at the local APNs sink (sandbox mode) */
  sandbox: boolean;
}

/** A push certificate for another topic than the one every enrolled device was given. */
export class ApnsTopicChangedError extends Error {
  constructor(
    readonly currentTopic: string,
    readonly newTopic: string,
    readonly enrolledDevices: number,
  ) {
    super(`the push certificate's topic ${newTopic} differs from the current ${currentTopic} (${enrolledDevices} enrolled devices)`);
    this.name = 'ApnsTopicChangedError';
  }
}

/** Devices that took the current topic from their profile and would be lost with a new one. */
async function countDevicesOnTopic(db: Db): Promise<number> {
  const row = await db
    .selectFrom('devices as d')
    .innerJoin('enrollments as e', 'e.id', 'd.enrollment_id')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('e.status', 'in', ['authenticated', 'enrolled', 'inactive', 'disenrolling'])
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

export class SettingsStore {
  readonly #secrets: SecretStore;

  constructor(
    private readonly db: Db,
    private readonly box: SecretBox,
  ) {
    this.#secrets = new SecretStore(db, box);
  }

  async getApns(): Promise<ApnsSettings | undefined> {
    return readSetting<ApnsSettings>(this.db, 'apns');
  }

  async getApnsCredentials(): Promise<(ApnsSettings & { keyPem: string }) | undefined> {
    const settings = await this.getApns();
    const key = settings && (await this.#secrets.get('apns.private-key'));
    return settings && key ? { ...settings, keyPem: key.toString('utf8') } : undefined;
  }

  /**
   * Stores the push certificate and its key in one transaction. A certificate for another topic
   * than the current one is refused (ApnsTopicChangedError) unless `replaceTopic` is set: every
   * device enrolled under the old topic can no longer be pushed and must enroll again.
   */
  async putApns(cred: CertificateAndKey, { sandbox = false, replaceTopic = false } = {}): Promise<ApnsSettings> {
    const info = describeCertificate(cred.certPem);
    if (!info.uid) throw new Error('the certificate has no UID: it is not an Apple MDM push certificate');
    const settings: ApnsSettings = {
      topic: info.uid,
      certPem: cred.certPem,
      subject: Object.entries(info.subject).map(([k, v]) => `${k}=${v}`).join(', '),
      notBefore: info.notBefore.toISOString(),
      notAfter: info.notAfter.toISOString(),
      uploadedAt: new Date().toISOString(),
      sandbox,
    };
    await this.db.transaction().execute(async (trx) => {
      // Locks the current certificate's row so two uploads cannot both pass the topic check.
      const current = await trx.selectFrom('settings').select('value').where('key', '=', 'apns').forUpdate().executeTakeFirst();
      const currentTopic = (current?.value as ApnsSettings | undefined)?.topic;
      if (currentTopic && currentTopic !== settings.topic && !replaceTopic) {
        throw new ApnsTopicChangedError(currentTopic, settings.topic, await countDevicesOnTopic(trx));
      }
      await new SecretStore(trx, this.box).put('apns.private-key', cred.keyPem);
      await writeSetting(trx, 'apns', settings as unknown as Record<string, unknown>);
    });
    return settings;
  }

  /**
   * Tandem's CA, created on first use. Concurrent first starts race on an insert-if-absent in one
   * transaction with the sealed key, and the loser reads the winner's CA.
   */
  async certificateAuthority(organization: string): Promise<CertificateAndKey> {
    const existing = await this.#readCa();
    if (existing) return existing;
    const ca = createCertificateAuthority({ commonName: `${organization} Device CA`, organization });
    await this.db.transaction().execute(async (trx) => {
      if (await writeSetting(trx, 'ca', { certPem: ca.certPem }, { overwrite: false })) {
        await new SecretStore(trx, this.box).put('ca.private-key', ca.keyPem);
      }
    });
    const stored = await this.#readCa();
    if (!stored) throw new Error('the certificate authority could not be stored');
    return stored;
  }

  async #readCa(): Promise<CertificateAndKey | undefined> {
    const setting = await readSetting<{ certPem: string }>(this.db, 'ca');
    const key = setting && (await this.#secrets.get('ca.private-key'));
    return setting && key ? { certPem: setting.certPem, keyPem: key.toString('utf8') } : undefined;
  }

  /** The certificate that signs enrollment profiles, issued by the CA and kept for a year. */
  async profileSigner(organization: string): Promise<CertificateAndKey> {
    const setting = await readSetting<{ certPem: string; notAfter: string }>(this.db, 'profile-signer');
    const key = setting && (await this.#secrets.get('profile-signer.private-key'));
    if (setting && key && Date.parse(setting.notAfter) > Date.now() + 86_400_000) return { certPem: setting.certPem, keyPem: key.toString('utf8') };
    const ca = await this.certificateAuthority(organization);
    const signer = issueCertificate(ca, { commonName: `${organization} Profile Signing`, organization, validDays: 365, usage: 'profile-signing' });
    await this.db.transaction().execute(async (trx) => {
      await new SecretStore(trx, this.box).put('profile-signer.private-key', signer.keyPem);
      await writeSetting(trx, 'profile-signer', { certPem: signer.certPem, notAfter: describeCertificate(signer.certPem).notAfter.toISOString() });
    });
    return signer;
  }
}

export interface VppSettings {
  orgName: string;
  expiresAt: string;
  uploadedAt: string;
  /** the company's agent app, deployed to every enrolled device */
  agent: { adamId: string; bundleId: string; pricingParam: 'STDQ' | 'PLUS' } | null;
  /** what Apple's service/config said (limits), cached */
  serviceConfig?: Record<string, unknown>;
}

/** The Apps and Books content token (sealed) and its settings. */
export class VppSettingsStore {
  readonly #secrets: SecretStore;

  constructor(
    private readonly db: Db,
    box: SecretBox,
  ) {
    this.#secrets = new SecretStore(db, box);
  }

  async get(): Promise<VppSettings | undefined> {
    return readSetting<VppSettings>(this.db, 'vpp');
  }

  async token(): Promise<string | undefined> {
    return (await this.#secrets.get('vpp.token'))?.toString('utf8');
  }

  async put(settings: VppSettings, sToken: string | undefined): Promise<void> {
    if (sToken) await this.#secrets.put('vpp.token', sToken);
    await writeSetting(this.db, 'vpp', settings as unknown as Record<string, unknown>);
  }
}
