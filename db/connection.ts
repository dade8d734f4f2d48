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
  // A dropped connection must not crash the process. The pool reports idle ones; a connection
  // checked out between queries (inside a transaction) reports on the client itself, so every
  // client gets a listener too. Its next query fails (the caller answers 503) and the pool drops it.
  pool.on('error', () => {});
  pool.on('connect', (client) => client.on('error', () => {}));
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
}
