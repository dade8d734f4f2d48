import { sql } from 'kysely';
import type { Db } from './connection.js';
import type { SecretBox } from '../security/secret-box.js';
import { secretSealContext } from './seal-contexts.js';

/** Named secrets (push certificate keys, VPP tokens, signing keys), sealed in the `secrets` table. */
export class SecretStore {
  constructor(
    private readonly db: Db,
    private readonly box: SecretBox,
  ) {}

  async put(name: string, value: Buffer | string): Promise<void> {
    const sealed = this.box.seal(value, secretSealContext(name));
    await this.db
      .insertInto('secrets')
      .values({ name, sealed, updated_at: sql`now()` })
      .onConflict((oc) => oc.column('name').doUpdateSet({ sealed, updated_at: sql`now()` }))
      .execute();
  }

  async get(name: string): Promise<Buffer | undefined> {
    const row = await this.db.selectFrom('secrets').select('sealed').where('name', '=', name).executeTakeFirst();
    return row ? this.box.open(row.sealed, secretSealContext(name)) : undefined;
  }

  async delete(name: string): Promise<void> {
    await this.db.deleteFrom('secrets').where('name', '=', name).execute();
  }
}
