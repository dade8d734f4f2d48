/** `npm run worker`: the Temporal worker alone, against external Temporal and Postgres. */
import { Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, makeTelemetryFilterString } from '@temporalio/worker';
import { loadEnvOrExit } from '../config/env.js';
import { createLogger } from '../config/logger.js';
import { createDb } from '../db/connection.js';
import { SecretBox } from '../security/secret-box.js';
import { activityDepsFromEnv } from './activity-deps.js';
import { createTandemWorker } from './create-worker.js';
import { ensureSearchAttributes } from './search-attributes.js';

const env = loadEnvOrExit('worker');
const log = createLogger(env.LOG_LEVEL, 'tandem-worker');
Runtime.install({ logger: new DefaultLogger('WARN'), telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: 'WARN' }) } } });

const db = createDb({ url: env.DATABASE_URL!, poolSize: env.DATABASE_POOL_SIZE, applicationName: 'tandem-worker' });
const operator = await Connection.connect({ address: env.TEMPORAL_ADDRESS });
const registered = await ensureSearchAttributes(operator, env.TEMPORAL_NAMESPACE);
if (registered.length) log.info({ registered }, 'search attributes registered');
await operator.close();
const connection = await NativeConnection.connect({ address: env.TEMPORAL_ADDRESS });
const box = new SecretBox(env.TANDEM_MASTER_KEY!);
const publicUrl = env.PUBLIC_URL ?? `http://localhost:${env.PORT}`;
const worker = await createTandemWorker({
  connection,
  namespace: env.TEMPORAL_NAMESPACE,
  taskQueue: env.TEMPORAL_TASK_QUEUE,
  deps: activityDepsFromEnv(env, db, box, { sandbox: env.TANDEM_SANDBOX ?? false, publicUrl }),
});
log.info({ taskQueue: env.TEMPORAL_TASK_QUEUE, namespace: env.TEMPORAL_NAMESPACE }, 'worker started');
// Worker.run() already shuts down gracefully on SIGINT/SIGTERM (shutdownSignals).
await worker.run();
await connection.close();
await db.destroy();
log.info('worker stopped');
