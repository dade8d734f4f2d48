import { Migrator, type Kysely, type Migration, type MigrationResultSet } from 'kysely';
import * as m0001 from './migrations/0001_initial.js';
import * as m0002 from './migrations/0002_lifecycle.js';
import * as m0003 from './migrations/0003_account_driven.js';
import * as m0004 from './migrations/0004_admin_commands.js';
import * as m0005 from './migrations/0005_policies.js';
import * as m0006 from './migrations/0006_agent_deployment.js';
import * as m0007 from './migrations/0007_request_idempotency.js';
import * as m0008 from './migrations/0008_shared_limits_and_outbox_order.js';
import * as m0009 from './migrations/0009_token_lifecycle.js';
import * as m0010 from './migrations/0010_identity_renewal.js';
import * as m0011 from './migrations/0011_attention.js';
import * as m0012 from './migrations/0012_sign_in_lockouts.js';

/** Ordered, in-code migrations: bundler- and test-friendly, no file-system scanning. */
export const migrations: Record<string, Migration> = {
  '0001_initial': m0001,
  '0002_lifecycle': m0002,
  '0003_account_driven': m0003,
  '0004_admin_commands': m0004,
  '0005_policies': m0005,
  '0006_agent_deployment': m0006,
  '0007_request_idempotency': m0007,
  '0008_shared_limits_and_outbox_order': m0008,
  '0009_token_lifecycle': m0009,
  '0010_identity_renewal': m0010,
  '0011_attention': m0011,
  '0012_sign_in_lockouts': m0012,
};

function migrator(db: Kysely<any>): Migrator {
  return new Migrator({ db, provider: { getMigrations: async () => migrations } });
}

function check(result: MigrationResultSet): MigrationResultSet {
  if (result.error) {
    const failed = result.results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new Error(`migration ${failed} failed: ${String((result.error as Error).message ?? result.error)}`, {
      cause: result.error,
    });
  }
  return result;
}

export async function migrateToLatest(db: Kysely<any>): Promise<string[]> {
  const result = check(await migrator(db).migrateToLatest());
  return (result.results ?? []).map((r) => r.migrationName);
}

export async function migrateDownAll(db: Kysely<any>): Promise<void> {
  const m = migrator(db);
  for (;;) {
    const result = check(await m.migrateDown());
    if (!result.results?.length) return;
  }
}
