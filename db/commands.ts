/**
 * The MDM command queue. Commands are answered from here on the device hot path (never from a
 * workflow); payloads are sealed because commands can carry secrets (Wi-Fi passwords, profiles).
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { buildPlist } from '../mdm/plist-codec.js';
import type { SecretBox } from '../security/secret-box.js';
import type { Db } from './connection.js';
import { commandSealContext } from './seal-contexts.js';


export interface NewCommand {
  deviceId: string;
  requestType: string;
  /** the `Command` dictionary's keys other than RequestType */
  params?: Record<string, unknown>;
  idempotencyKey: string;
  /** admin actions are staged until the workflow accepts them */
  staged?: boolean;
  requestedBy?: string;
  /** the action as requested, without secrets, for the command history */
  action?: Record<string, unknown>;
}

/** Queues a command once per idempotency key; returns its CommandUUID. */
export async function enqueueCommand(db: Db, box: SecretBox, cmd: NewCommand): Promise<string> {
  const existing = await db.selectFrom('command_queue').select('command_uuid').where('idempotency_key', '=', cmd.idempotencyKey).executeTakeFirst();
  if (existing) return existing.command_uuid;
  const commandUuid = randomUUID().toUpperCase();
  const plist = buildPlist({ CommandUUID: commandUuid, Command: { RequestType: cmd.requestType, ...(cmd.params ?? {}) } });
  const inserted = await db
    .insertInto('command_queue')
    .values({
      device_id: cmd.deviceId,
      command_uuid: commandUuid,
      request_type: cmd.requestType,
      payload_sealed: box.seal(plist, commandSealContext(commandUuid)),
      idempotency_key: cmd.idempotencyKey,
      result: null,
      result_status: null,
      ...(cmd.staged ? { status: 'staged' as const } : {}),
      requested_by: cmd.requestedBy ?? null,
      action: cmd.action ? JSON.stringify(cmd.action) : null,
    })
    .onConflict((oc) => oc.column('idempotency_key').doNothing())
    .returning('command_uuid')
    .executeTakeFirst();
  if (inserted) return inserted.command_uuid;
  const raced = await db.selectFrom('command_queue').select('command_uuid').where('idempotency_key', '=', cmd.idempotencyKey).executeTakeFirstOrThrow();
  return raced.command_uuid;
}

/**
 * The next command for a device: the oldest one not yet answered, skipping those the device
 * answered NotNow on this connection. Marks it sent.
 */
export async function nextCommand(db: Db, box: SecretBox, deviceId: string, skip: string[] = []): Promise<Buffer | undefined> {
  let q = db
    .selectFrom('command_queue')
    .select(['id', 'command_uuid', 'payload_sealed'])
    .where('device_id', '=', deviceId)
    .where('status', 'in', ['queued', 'sent', 'not_now'])
    .orderBy('id')
    .limit(1);
  if (skip.length) q = q.where('command_uuid', 'not in', skip);
  const row = await q.executeTakeFirst();
  if (!row) return undefined;
  await db.updateTable('command_queue').set({ status: 'sent', sent_at: sql`now()` }).where('id', '=', row.id).execute();
  return box.open(row.payload_sealed, commandSealContext(row.command_uuid));
}
