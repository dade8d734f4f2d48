/**
 * A PostgreSQL server of one test file's own (Debian's binaries, a data directory under /tmp), so a
 * fault test can stop and restart the database without touching the server other files share.
 * Available where PostgreSQL is installed (CI installs it); as root, the server runs as `postgres`.
 */
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { createDb } from '../../db/connection.js';
import { migrateToLatest } from '../../db/migrate.js';
import { freePort } from '../../scripts/free-port.js';
import type { TestDatabase } from './database.js';

const execFileAsync = promisify(execFile);

export interface PrivatePostgres extends TestDatabase {
  /** fast shutdown: open connections are cut, as in a real restart */
  stopServer(): Promise<void>;
  startServer(): Promise<void>;
}

/** The directory holding initdb and pg_ctl, or null when PostgreSQL is not installed. */
export function postgresBinDir(): string | null {
  const debian = '/usr/lib/postgresql';
  if (existsSync(debian)) {
    const versions = readdirSync(debian).filter((v) => /^\d+$/.test(v) && existsSync(join(debian, v, 'bin', 'pg_ctl')));
    const newest = versions.sort((a, b) => Number(b) - Number(a))[0];
    if (newest) return join(debian, newest, 'bin');
  }
  try {
    return execFileSync('pg_config', ['--bindir'], { encoding: 'utf8' }).trim() || null;
  } catch {
    return null;
  }
}

export async function startPrivatePostgres(binDir: string): Promise<PrivatePostgres> {
  const root = process.getuid?.() === 0;
  const dir = mkdtempSync(join(tmpdir(), 'tandem-pg-'));
  if (root) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }));
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }));
    chownSync(dir, uid, gid);
  }
  // PostgreSQL refuses to run as root: run its tools as the `postgres` user then.
  // Asynchronous, so the API in this process keeps answering while pg_ctl waits.
  const run = async (tool: string, args: string[]) => {
    const [cmd, argv] = root ? ['runuser', ['-u', 'postgres', '--', join(binDir, tool), ...args]] : [join(binDir, tool), args];
    await execFileAsync(cmd as string, argv as string[], { timeout: 60_000 });
  };
  const data = join(dir, 'data');
  await run('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync']);
  const port = await freePort();
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`;
  const startServer = async () => run('pg_ctl', ['-D', data, '-l', join(dir, 'server.log'), '-w', '-t', '60', '-o', options, 'start']);
  const stopServer = async () => run('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop']);
  await startServer();

  const serverUrl = `postgres://postgres@127.0.0.1:${port}/postgres`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query('create database tandem');
  await admin.end();
  const url = `postgres://postgres@127.0.0.1:${port}/tandem`;
  const db = createDb({ url, poolSize: 5 });
  await migrateToLatest(db);
  return {
    url,
    db,
    startServer,
    stopServer,
    async stop() {
      await db.destroy();
      await stopServer().catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
