/**
 * Embedded Postgres for development and tests: PGlite behind a real Postgres wire-protocol socket,
 * so the application always talks through `pg` exactly as in production.
 *
 * PGlite is one session; the socket server accepts one connection (its default), and callers use
 * a pool of size 1. Concurrent queries then queue in `pg`, and transactions stay isolated.
 */
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';

export interface EmbeddedPostgres {
  url: string;
  stop(): Promise<void>;
}

/** `dataDir` persists the database; omit it for an in-memory one. */
export async function startEmbeddedPostgres(opts: { dataDir?: string; port?: number } = {}): Promise<EmbeddedPostgres> {
  const pglite = opts.dataDir ? new PGlite(opts.dataDir) : new PGlite();
  await pglite.waitReady;
  const server = new PGLiteSocketServer({ db: pglite, host: '127.0.0.1', port: opts.port ?? 0, maxConnections: 1 });
  await server.start();
  const conn = server.getServerConn(); // host:port
  return {
    url: `postgres://postgres@${conn}/postgres?sslmode=disable`,
    async stop() {
      await server.stop();
      await pglite.close();
    },
  };
}
