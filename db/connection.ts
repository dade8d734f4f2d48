import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Database } from './schema.js';

// int8 (bigserial ids, counts) arrives as a string by default; our ids stay strings on purpose, but
// counts are small, so callers cast with Number(). Dates stay Date objects.

export type Db = Kysely<Database>;

export interface DbOptions {
  url: string;
  poolSize: number;
  /** A name Postgres shows in pg_stat_activity. */
  applicationName?: string;
}

export function createDb({ url, poolSize, applicationName = 'tandem' }: DbOptions): Db {
  const pool = new pg.Pool({
    connectionString: url,
    max: poolSize,
    application_name: applicationName,
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
  });
  // A dropped idle connection must not crash the process; the pool replaces it on next use.
  pool.on('error', () => {});
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
}
