/**
 * Master-key rotation: every sealed column, opened with the old key and sealed again with the new
 * one, in one transaction. Run it with the API and the workers stopped (they hold the old key);
 * start them again with the new key. Every value is opened before anything is written, so a wrong
 * old key changes nothing and names the first value it could not open.
 */
import { sql } from 'kysely';
import type { SecretBox } from '../security/secret-box.js';
import type { Db } from './connection.js';
import { commandSealContext, inviteSealContext, policySealContext, pushMagicContext, pushTokenContext, secretSealContext } from './seal-contexts.js';

interface SealedColumn {
  table: string;
  key: string;
  column: string;
  context: (row: Record<string, string>) => string;
}

/** Every sealed column Tandem writes (db/seal-contexts.ts has their contexts). */
export const sealedColumns: readonly SealedColumn[] = [
  { table: 'secrets', key: 'name', column: 'sealed', context: (r) => secretSealContext(r.name!) },
  { table: 'invites', key: 'id', column: 'otp_sealed', context: (r) => inviteSealContext(r.enrollment_id!) },
  { table: 'devices', key: 'id', column: 'push_token_sealed', context: (r) => pushTokenContext(r.id!) },
  { table: 'devices', key: 'id', column: 'push_magic_sealed', context: (r) => pushMagicContext(r.id!) },
  { table: 'command_queue', key: 'id', column: 'payload_sealed', context: (r) => commandSealContext(r.command_uuid!) },
  { table: 'policies', key: 'id', column: 'spec_sealed', context: (r) => policySealContext(r.id!) },
];

export class RekeyError extends Error {}

/** Re-seals everything under `next`; returns how many values each column held. */
export async function rekeyAll(db: Db, current: SecretBox, next: SecretBox): Promise<Record<string, number>> {
  return db.transaction().execute(async (trx) => {
    const counts: Record<string, number> = {};
    const plan: { col: SealedColumn; key: string; sealed: Buffer }[] = [];
    for (const col of sealedColumns) {
      // Lock the rows: nothing may seal a new value under the old key while this runs.
      const { rows } = await sql<Record<string, string> & { sealed: Buffer | null }>`
        select *, ${sql.ref(col.column)} as sealed from ${sql.table(col.table)} for update`.execute(trx);
      let n = 0;
      for (const row of rows) {
        if (!row.sealed) continue;
        const context = col.context(row);
        let plain: Buffer;
        try {
          plain = current.open(row.sealed, context);
        } catch {
          throw new RekeyError(`${col.table}.${col.column} of ${col.key} ${row[col.key]} does not open with the current key; nothing was changed`);
        }
        plan.push({ col, key: row[col.key]!, sealed: next.seal(plain, context) });
        n += 1;
      }
      counts[`${col.table}.${col.column}`] = n;
    }
    for (const { col, key, sealed } of plan) {
      await sql`update ${sql.table(col.table)} set ${sql.ref(col.column)} = ${sealed} where ${sql.ref(col.key)} = ${key}`.execute(trx);
    }
    return counts;
  });
}
