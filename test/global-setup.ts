/**
 * One real Temporal dev server and one workflow bundle per test run, shared by every test file
 * (each file uses its own task queue and ids). With DATABASE_URL set, tests run on that
 * PostgreSQL server (one fresh database per file); otherwise each file gets an in-memory PGlite.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, DefaultLogger, Runtime } from '@temporalio/worker';
import type { TestProject } from 'vitest/node';
import { resolveTemporalCli } from '../scripts/temporal-cli.js';
import { workflowsPath } from '../worker/create-worker.js';
import { tandemSearchAttributes } from '../workflows/search-attributes.js';

declare module 'vitest' {
  export interface ProvidedContext {
    temporalAddress: string;
    workflowBundlePath: string;
    databaseUrl: string | null;
    /** the Temporal CLI binary the run resolved (null when only the SDK download route was left) */
    temporalCliPath: string | null;
  }
}

export default async function setup(project: TestProject) {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const databaseUrl = process.env.DATABASE_URL || null;
  if (databaseUrl) {
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect().catch((err: Error) => {
      throw new Error(`DATABASE_URL is set but PostgreSQL does not answer: ${err.message}`);
    });
    await client.end();
  }

  const { source, ...executable } = await resolveTemporalCli();
  const [env, bundle] = await Promise.all([
    TestWorkflowEnvironment.createLocal({
      server: { executable, searchAttributes: tandemSearchAttributes, log: { format: 'pretty', level: 'error' } },
    }),
    bundleWorkflowCode({ workflowsPath, logger: new DefaultLogger('WARN') }),
  ]);
  const dir = await mkdtemp(join(tmpdir(), 'tandem-test-'));
  const workflowBundlePath = join(dir, 'workflow-bundle.js');
  await writeFile(workflowBundlePath, bundle.code);

  process.stderr.write(
    `test stack: Temporal dev server at ${env.address} (CLI route: ${source}), database: ${databaseUrl ? 'PostgreSQL (DATABASE_URL)' : 'PGlite'}\n`,
  );
  project.provide('temporalAddress', env.address);
  project.provide('workflowBundlePath', workflowBundlePath);
  project.provide('databaseUrl', databaseUrl);
  project.provide('temporalCliPath', executable.type === 'existing-path' ? executable.path : null);

  return async () => {
    await env.teardown();
    await rm(dir, { recursive: true, force: true });
  };
}
