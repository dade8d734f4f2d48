/**
 * The Apple MDM check-in (`PUT /mdm/checkin`) and command (`PUT /mdm/connect`) endpoints. Devices
 * are answered from Postgres only; state changes reach the workflow through the outbox.
 *
 * Identity: every request carries `Mdm-Signature` (the profile sets SignMessage), a detached CMS
 * signature by the device identity Tandem's CA issued into that enrollment's profile. The first
 * Authenticate binds that certificate to the device; every later request must present it.
 *
 * Errors never use 401: malformed input is 400; an unknown or mismatched identity is 403 with
 * Apple's structured body.
 */
import { Hono, type Context } from 'hono';
import { sql } from 'kysely';
import type { Logger } from 'pino';
import { recordDeviceAppAnswer } from '../../db/app-deployments.js';
import { nextCommand } from '../../db/commands.js';
import type { Db } from '../../db/connection.js';
import { recordEnrollmentEvent } from '../../db/outbox.js';
import { SettingsStore } from '../../db/settings.js';
import { pushMagicContext, pushTokenContext } from '../../db/seal-contexts.js';
import { withoutForbiddenKeys } from '../../mdm/device-queries.js';
import { MdmSignatureError, verifyCertificateIssuedBy, verifyMdmSignature } from '../../mdm/mdm-signature.js';
import { PlistError, parsePlist } from '../../mdm/plist-codec.js';
import { hashApiToken } from '../../security/api-tokens.js';
import type { SecretBox } from '../../security/secret-box.js';
import { bearerChallenge } from '../account/routes.js';
import { limitBody } from '../body-limit.js';
import type { OutboxRelay } from '../outbox-relay.js';
import { bindRenewedIdentity, recordRenewalFailure } from './identity-binding.js';

export interface MdmDeps {
  publicUrl: string;
  db: Db;
  box: SecretBox;
  relay: OutboxRelay;
  log: Logger;
  organization: string;
}

const CHECKIN_TYPE = 'application/x-apple-aspen-mdm-checkin';
const COMMAND_TYPE = 'application/x-apple-aspen-mdm';
/** Body limits, counted as the body streams in (limitBody), so a chunked body is cut off too. */
const LIMITS = { checkin: 64 * 1024, command: 4 * 1024 * 1024 };
const HARDWARE_KEYS = ['UDID', 'SerialNumber', 'IMEI', 'MEID'] as const;

class DeviceError extends Error {
  constructor(
    readonly status: 400 | 401 | 403 | 415,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Apple's structured error (iOS 17+): 403 com.apple.unrecognized.device tells the device to unenroll. */
const unrecognized = (why: string) => new DeviceError(403, 'com.apple.unrecognized.device', why);

function deviceErrorResponse(c: Context, err: DeviceError, publicUrl: string) {
  // Account-driven enrollments: a 401 always carries the re-authentication challenge.
  if (err.status === 401) return c.json({ error: { code: err.code, message: err.message } }, 401, bearerChallenge(publicUrl));
  const body = err.code.startsWith('com.apple.') ? { code: err.code, description: err.message } : { error: { code: err.code, message: err.message } };
  return c.json(body, err.status);
}

interface Identified {
  enrollmentId: string;
  kind: 'user' | 'device';
  fingerprint: string;
  device: { id: string; identity_fingerprint: string | null; apple_enrollment_id: string | null; inactive_since: Date | null } | undefined;
  /** signed with a renewed identity (identity-binding.ts): the device stays enrolled as it was */
  renewal: boolean;
}

export function mdmRoutes(deps: MdmDeps) {
  const app = new Hono();
  const settings = new SettingsStore(deps.db, deps.box);
  let caPem: string | undefined;

  /** The body, already held to the route's limit by limitBody as it streamed in. */
  async function readBody(c: Context): Promise<Buffer> {
    return Buffer.from(await c.req.arrayBuffer());
  }

  /** Verifies the signature, parses the plist, and finds the enrollment the identity belongs to. */
  async function identify(c: Context, body: Buffer): Promise<{ message: Record<string, unknown>; who: Identified }> {
    let signer: { certificatePem: string; fingerprint: string };
    try {
      signer = verifyMdmSignature(c.req.header('mdm-signature'), body);
    } catch (err) {
      if (err instanceof MdmSignatureError) throw new DeviceError(400, err.code, err.message);
      throw err;
    }
    let message: Record<string, unknown>;
    try {
      message = parsePlist(body);
    } catch (err) {
      if (err instanceof PlistError) throw new DeviceError(400, err.code, err.message);
      throw err;
    }
    caPem ??= (await settings.certificateAuthority(deps.organization)).certPem;
    if (!verifyCertificateIssuedBy(signer.certificatePem, caPem)) throw unrecognized('The signing certificate was not issued by this server.');
    const identity = await deps.db
      .selectFrom('enrollment_identities as i')
      .innerJoin('enrollments as e', 'e.id', 'i.enrollment_id')
      .leftJoin('devices as d', 'd.enrollment_id', 'e.id')
      .select(['i.enrollment_id', 'i.enrollment_type as kind', 'i.flavor', 'i.revoked_at', 'i.renewal_of', 'i.bound_at', 'e.status', 'd.id as device_id', 'd.identity_fingerprint', 'd.apple_enrollment_id', 'd.inactive_since'])
      .where('i.fingerprint', '=', signer.fingerprint)
      .executeTakeFirst();
    if (!identity || identity.revoked_at || ['expired', 'cancelled', 'disenrolled'].includes(identity.status)) {
      throw unrecognized('This device identity is not enrolled here.');
    }
    if (identity.flavor === 'account-driven') await requireBearer(c, identity.enrollment_id);
    // User-enrolled devices are keyed by EnrollmentID, device-enrolled ones by UDID.
    const key = identity.kind === 'user' ? message.EnrollmentID : message.UDID;
    if (typeof key !== 'string' || !key) {
      throw new DeviceError(400, 'missing_identifier', identity.kind === 'user' ? 'A user-enrolled device must send EnrollmentID.' : 'A device-enrolled device must send UDID.');
    }
    if (!/^[A-Za-z0-9._-]{1,128}$/.test(key)) throw new DeviceError(400, 'invalid_identifier', 'The EnrollmentID or UDID is not a device identifier.');
    // A bound identity keeps the EnrollmentID it authenticated with; a new one comes with a new profile (and identity).
    if (identity.kind === 'user' && identity.identity_fingerprint === signer.fingerprint && identity.apple_enrollment_id && key !== identity.apple_enrollment_id) {
      throw new DeviceError(400, 'identifier_mismatch', 'The EnrollmentID differs from the one this device authenticated with.');
    }
    const device = identity.device_id
      ? { id: identity.device_id, identity_fingerprint: identity.identity_fingerprint, apple_enrollment_id: identity.apple_enrollment_id, inactive_since: identity.inactive_since }
      : undefined;
    // ---- identity renewal: the first request signed with a renewed identity binds it ----
    if (identity.renewal_of && !identity.bound_at) {
      const bound = await bindRenewedIdentity(deps.db, { enrollmentId: identity.enrollment_id, fingerprint: signer.fingerprint, kind: identity.kind, key });
      if (bound === 'identifier_mismatch') throw new DeviceError(400, 'identifier_mismatch', 'This renewed identity belongs to another device.');
      if (bound !== 'bound' || !device) throw unrecognized('This device identity is not enrolled here.');
      device.identity_fingerprint = signer.fingerprint;
      void deps.relay.kick();
    }
    return { message, who: { enrollmentId: identity.enrollment_id, kind: identity.kind, fingerprint: signer.fingerprint, device, renewal: !!identity.renewal_of } };
  }

  /** Account-driven enrollments carry their sign-in token on every request (Apple's design). */
  async function requireBearer(c: Context, enrollmentId: string) {
    const bearer = /^Bearer\s+(\S+)$/i.exec(c.req.header('authorization') ?? '')?.[1];
    if (!bearer) throw new DeviceError(401, 'bearer_required', 'This enrollment needs its access token: sign in again.');
    const token = await deps.db
      .selectFrom('account_tokens')
      .select('id')
      .where('token_hash', '=', hashApiToken(bearer))
      .where('enrollment_id', '=', enrollmentId)
      .where('revoked_at', 'is', null)
      .where('expires_at', 'is', null)
      .executeTakeFirst();
    if (!token) throw new DeviceError(401, 'bearer_invalid', 'The access token is unknown, revoked, or belongs to another enrollment: sign in again.');
  }

  /** A bound device must present its bound certificate. An inactive one that checks in is seen again. */
  async function requireBound(who: Identified): Promise<{ id: string }> {
    if (!who.device || who.device.identity_fingerprint !== who.fingerprint) throw unrecognized('This certificate is not bound to an enrolled device.');
    if (who.device.inactive_since) {
      await recordEnrollmentEvent(deps.db, who.enrollmentId, { type: 'device_seen' }, `device-seen:${who.device.inactive_since.getTime()}`);
    }
    return who.device;
  }

  async function authenticate(who: Identified, m: Record<string, unknown>) {
    const facts = {
      topic: typeof m.Topic === 'string' ? m.Topic : null,
      os_version: typeof m.OSVersion === 'string' ? m.OSVersion : null,
      build_version: typeof m.BuildVersion === 'string' ? m.BuildVersion : null,
      product_name: typeof m.ProductName === 'string' ? m.ProductName : null,
      model: typeof m.Model === 'string' ? m.Model : null,
      model_name: typeof m.ModelName === 'string' ? m.ModelName : null,
    };
    await deps.db.transaction().execute(async (trx) => {
      const device = await trx
        .insertInto('devices')
        .values({
          enrollment_id: who.enrollmentId,
          kind: who.kind,
          apple_enrollment_id: who.kind === 'user' ? String(m.EnrollmentID) : null,
          identity_fingerprint: who.fingerprint,
          last_seen_at: sql`now()`,
          ...facts,
        })
        .onConflict((oc) =>
          // A re-installed profile of the same enrollment re-authenticates with its new identity.
          oc.column('enrollment_id').doUpdateSet({
            identity_fingerprint: who.fingerprint,
            apple_enrollment_id: who.kind === 'user' ? String(m.EnrollmentID) : null,
            last_seen_at: sql`now()`,
            updated_at: sql`now()`,
            ...facts,
          }),
        )
        .returning('id')
        .executeTakeFirstOrThrow();
      if (who.kind === 'device') {
        const ids = Object.fromEntries(HARDWARE_KEYS.map((k) => [k, typeof m[k] === 'string' ? (m[k] as string) : null]));
        await trx
          .insertInto('device_hardware_ids')
          .values({ device_id: device.id, udid: ids.UDID ?? null, serial_number: ids.SerialNumber ?? null, imei: ids.IMEI ?? null, meid: ids.MEID ?? null })
          .onConflict((oc) => oc.column('device_id').doUpdateSet({ udid: ids.UDID ?? null, serial_number: ids.SerialNumber ?? null, imei: ids.IMEI ?? null, meid: ids.MEID ?? null }))
          .execute();
      }
      // A renewed identity re-authenticates the same enrollment: its queue and state carry on.
      if (who.renewal) return;
      // As after any Authenticate: nothing queued before it is still meaningful.
      await trx.updateTable('command_queue').set({ status: 'cancelled' }).where('device_id', '=', device.id).where('status', 'in', ['queued', 'sent', 'not_now']).execute();
      await recordEnrollmentEvent(trx, who.enrollmentId, { type: 'device_authenticated' }, `device-authenticated:${who.fingerprint}`);
    });
  }

  async function tokenUpdate(who: Identified, m: Record<string, unknown>) {
    const device = await requireBound(who);
    if (!Buffer.isBuffer(m.Token) || typeof m.PushMagic !== 'string') throw new DeviceError(400, 'malformed_token_update', 'TokenUpdate needs Token (data) and PushMagic (string).');
    await deps.db.transaction().execute(async (trx) => {
      await trx
        .updateTable('devices')
        .set({
          push_token_sealed: deps.box.seal(m.Token as Buffer, pushTokenContext(device.id)),
          push_magic_sealed: deps.box.seal(m.PushMagic as string, pushMagicContext(device.id)),
          ...(typeof m.Topic === 'string' ? { topic: m.Topic } : {}),
          enrolled_at: sql`coalesce(enrolled_at, now())`,
          push_unregistered_at: null,
          last_seen_at: sql`now()`,
          updated_at: sql`now()`,
        })
        .where('id', '=', device.id)
        .execute();
      // Only the first TokenUpdate completes enrollment; later ones just refresh the token.
      await recordEnrollmentEvent(trx, who.enrollmentId, { type: 'token_updated' }, `token-updated:${who.fingerprint}`);
    });
  }

  async function checkOut(who: Identified) {
    const device = await requireBound(who);
    await deps.db.transaction().execute(async (trx) => {
      await trx.updateTable('devices').set({ checked_out_at: sql`now()`, updated_at: sql`now()` }).where('id', '=', device.id).execute();
      await recordEnrollmentEvent(trx, who.enrollmentId, { type: 'checked_out' }, 'checked-out');
    });
  }

  app.put('/checkin', limitBody(LIMITS.checkin), async (c) => {
    try {
      if (!(c.req.header('content-type') ?? '').startsWith(CHECKIN_TYPE)) throw new DeviceError(415, 'unsupported_media_type', `Check-ins are ${CHECKIN_TYPE}.`);
      const { message, who } = await identify(c, await readBody(c));
      switch (message.MessageType) {
        case 'Authenticate':
          await authenticate(who, message);
          break;
        case 'TokenUpdate':
          await tokenUpdate(who, message);
          break;
        case 'CheckOut':
          await checkOut(who);
          break;
        case 'GetToken':
          throw new DeviceError(400, 'unsupported_token_service', 'This server offers no token services.');
        case 'DeclarativeManagement':
          throw new DeviceError(400, 'declarative_management_not_enabled', 'Declarative management is not enabled for this enrollment.');
        default:
          throw new DeviceError(400, 'unknown_message_type', `Unknown MessageType ${JSON.stringify(message.MessageType ?? null)}.`);
      }
      void deps.relay.kick();
      return c.body(null, 200);
    } catch (err) {
      return handleError(c, err);
    }
  });

  app.put('/connect', limitBody(LIMITS.command), async (c) => {
    try {
      if (!(c.req.header('content-type') ?? '').startsWith(COMMAND_TYPE)) throw new DeviceError(415, 'unsupported_media_type', `Command reports are ${COMMAND_TYPE}.`);
      const { message, who } = await identify(c, await readBody(c));
      const device = await requireBound(who);
      const status = message.Status;
      if (typeof status !== 'string' || !['Idle', 'Acknowledged', 'Error', 'CommandFormatError', 'NotNow'].includes(status)) {
        throw new DeviceError(400, 'invalid_status', 'Status must be Idle, Acknowledged, Error, CommandFormatError or NotNow.');
      }
      await deps.db.updateTable('devices').set({ last_seen_at: sql`now()` }).where('id', '=', device.id).execute();
      const skip: string[] = [];
      if (status !== 'Idle') {
        const uuid = message.CommandUUID;
        if (typeof uuid !== 'string') throw new DeviceError(400, 'missing_command_uuid', 'A result needs its CommandUUID.');
        await recordResult(device.id, who, uuid, status, message);
        if (status === 'NotNow') skip.push(uuid);
      }
      void deps.relay.kick();
      const next = await nextCommand(deps.db, deps.box, device.id, skip);
      return next ? c.body(new Uint8Array(next), 200, { 'content-type': 'application/xml; charset=utf-8' }) : c.body(null, 200);
    } catch (err) {
      return handleError(c, err);
    }
  });

  async function recordResult(deviceId: string, who: Identified, uuid: string, status: string, message: Record<string, unknown>) {
    const kind = who.kind;
    const stored = kind === 'user' ? (withoutForbiddenKeys(message) as Record<string, unknown>) : message;
    const row = await deps.db
      .selectFrom('command_queue')
      .select(['id', 'request_type', 'status', 'idempotency_key'])
      .where('device_id', '=', deviceId)
      .where('command_uuid', '=', uuid)
      .executeTakeFirst();
    if (!row) {
      deps.log.warn({ deviceId, commandUuid: uuid }, 'result for a command this device was never sent');
      return;
    }
    const newStatus = status === 'Acknowledged' ? 'acknowledged' : status === 'NotNow' ? 'not_now' : 'error';
    await deps.db.transaction().execute(async (trx) => {
      // The first final result wins, even against a resent one arriving at the same moment: the
      // condition is checked under the row lock, and a resent result changes nothing.
      const updated = await trx
        .updateTable('command_queue')
        .set({ status: newStatus, answered_at: sql`now()`, result_status: status, result: JSON.stringify(jsonSafe(stored)) })
        .where('id', '=', row.id)
        .where('status', 'not in', ['acknowledged', 'error'])
        .executeTakeFirst();
      if (updated.numUpdatedRows === 0n) return;
      if (row.request_type === 'InstallProfile') await recordRenewalFailure(trx, uuid, status, message);
      // App deployments: the device's own answers (InstallApplication, ManagedApplicationList,
      // InstalledApplicationList) become the app's status and a signal to its workflow, per change.
      await recordDeviceAppAnswer(trx, { deviceId, enrollmentId: who.enrollmentId, requestType: row.request_type, commandUuid: uuid, idempotencyKey: row.idempotency_key, resultStatus: status, result: stored, managedAppsOnly: kind === 'user' });
      if (status !== 'Acknowledged') return;
      if (row.request_type === 'RemoveProfile' && row.idempotency_key.endsWith(':remove-profile')) {
        // The device removed its enrollment profile: the disenrollment is confirmed.
        const enrollment = await trx.selectFrom('devices').select('enrollment_id').where('id', '=', deviceId).executeTakeFirstOrThrow();
        await recordEnrollmentEvent(trx, enrollment.enrollment_id, { type: 'removal_confirmed' }, 'removal-confirmed');
      }
      const facts =
        row.request_type === 'DeviceInformation' && stored.QueryResponses
          ? { deviceInformation: jsonSafe(stored.QueryResponses) }
          : row.request_type === 'SecurityInfo' && stored.SecurityInfo
            ? { securityInfo: jsonSafe(stored.SecurityInfo) }
            : undefined;
      if (facts) {
        await trx
          .updateTable('devices')
          .set({ facts: sql`facts || ${JSON.stringify(facts)}::jsonb`, updated_at: sql`now()` })
          .where('id', '=', deviceId)
          .execute();
      }
      if (kind === 'device' && row.request_type === 'DeviceInformation' && message.QueryResponses && typeof message.QueryResponses === 'object') {
        const q = message.QueryResponses as Record<string, unknown>;
        const pick = (k: string) => (typeof q[k] === 'string' ? (q[k] as string) : undefined);
        await trx
          .updateTable('device_hardware_ids')
          .set({
            ...(pick('UDID') ? { udid: pick('UDID')! } : {}),
            ...(pick('SerialNumber') ? { serial_number: pick('SerialNumber')! } : {}),
            ...(pick('IMEI') ? { imei: pick('IMEI')! } : {}),
            ...(pick('MEID') ? { meid: pick('MEID')! } : {}),
          })
          .where('device_id', '=', deviceId)
          .execute();
      }
    });
  }

  function handleError(c: Context, err: unknown) {
    if (err instanceof DeviceError) return deviceErrorResponse(c, err, deps.publicUrl);
    // The app's error handler answers: 503 with Retry-After when the database is down, else 500.
    // Either way the device keeps its message and retries later; nothing is lost.
    throw err;
  }

  return app;
}

/** Plist values as JSON: data as base64, dates as ISO strings. */
function jsonSafe(value: unknown): unknown {
  if (Buffer.isBuffer(value)) return { base64: value.toString('base64') };
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map(jsonSafe);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, jsonSafe(v)]));
  return value;
}
