import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { createDb, type Db } from '../../db/connection.js';
import { startEmbeddedPostgres } from '../../db/embedded.js';
import { migrateToLatest } from '../../db/migrate.js';

export interface TestDatabase {
  url: string;
  db: Db;
  stop(): Promise<void>;
}

/** A fresh, migrated database for one test file: a new database on DATABASE_URL's server, or PGlite. */
export async function createTestDatabase({ migrate = true } = {}): Promise<TestDatabase> {
  const serverUrl = inject('databaseUrl');
  let url: string;
  let dispose: () => Promise<void>;
  if (serverUrl) {
    const name = `tandem_test_${randomBytes(6).toString('hex')}`;
    const admin = new pg.Client({ connectionString: serverUrl });
    await admin.connect();
    await admin.query(`create database ${name}`);
    await admin.end();
    const parsed = new URL(serverUrl);
    parsed.pathname = `/${name}`;
    url = parsed.href;
    dispose = async () => {
      const c = new pg.Client({ connectionString: serverUrl });
      await c.connect();
      await c.query(`drop database if exists ${name} with (force)`);
      await c.end();
    };
  } else {
    const embedded = await startEmbeddedPostgres();
    url = embedded.url;
    dispose = () => embedded.stop();
  }
  const db = createDb({ url, poolSize: serverUrl ? 5 : 1 });
  if (migrate) await migrateToLatest(db);
  return {
    url,
    db,
    async stop() {
      await db.destroy();
      await dispose();
    },
  };
}
