/** `npm run api`: the HTTP API alone, against external Temporal and Postgres. */
import { Client, Connection } from '@temporalio/client';
import { loadEnvOrExit } from '../config/env.js';
import { createLogger } from '../config/logger.js';
import { createDb } from '../db/connection.js';
import { migrateToLatest } from '../db/migrate.js';
import { SecretBox } from '../security/secret-box.js';
import { ensureAdminToken } from './auth.js';
import { startApi } from './server.js';

const env = loadEnvOrExit('api');
const log = createLogger(env.LOG_LEVEL, 'tandem-api');
const db = createDb({ url: env.DATABASE_URL!, poolSize: env.DATABASE_POOL_SIZE, applicationName: 'tandem-api' });
const applied = await migrateToLatest(db);
if (applied.length) log.info({ applied }, 'migrations applied');
if (env.TANDEM_ADMIN_TOKEN) {
  const change = await ensureAdminToken(db, env.TANDEM_ADMIN_TOKEN);
  if (change === 'replaced') log.warn('TANDEM_ADMIN_TOKEN changed: the previous bootstrap token is revoked');
  if (change === 'revoked') log.warn('TANDEM_ADMIN_TOKEN was revoked by an admin and cannot sign in; set a new value');
}

// Connection.lazy: the API starts (and answers /readyz with 503) even while Temporal is down.
const connection = Connection.lazy({ address: env.TEMPORAL_ADDRESS });
const temporal = new Client({ connection, namespace: env.TEMPORAL_NAMESPACE });
const api = await startApi({ env, db, box: new SecretBox(env.TANDEM_MASTER_KEY!), sandbox: env.TANDEM_SANDBOX ?? false, temporal, log });

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, async () => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    const force = setTimeout(() => process.exit(1), env.SHUTDOWN_GRACE).unref();
    await api.stop();
    await connection.close();
    await db.destroy();
    clearTimeout(force);
    log.info('api stopped');
  });
}
