import { fileURLToPath } from 'node:url';
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { createActivities, type ActivityDeps } from '../activities/index.js';

export const workflowsPath = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));

export interface TandemWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  deps: ActivityDeps;
  /** A prebuilt bundle (tests build one per run); otherwise the worker bundles workflows/ itself. */
  workflowBundlePath?: string;
}

export interface TandemWorker {
  worker: Worker;
  /** Runs until shutdown, then releases the activities' connections. */
  run(): Promise<void>;
}

export async function createTandemWorker(opts: TandemWorkerOptions): Promise<TandemWorker> {
  const workflowSource: Pick<WorkerOptions, 'workflowBundle' | 'workflowsPath'> = opts.workflowBundlePath
    ? { workflowBundle: { codePath: opts.workflowBundlePath } }
    : { workflowsPath };
  const { activities, close } = createActivities(opts.deps);
  const worker = await Worker.create({
    connection: opts.connection,
    namespace: opts.namespace,
    taskQueue: opts.taskQueue,
    activities,
    ...workflowSource,
    // A workflow task handed to a worker that has since died waits this long before another worker
    // may take it. Short, so a crashed worker holds up its enrollments for seconds (default 10 s);
    // the cost is an occasional history replay when a live worker is merely busy.
    stickyQueueScheduleToStartTimeout: '3s',
  });
  return {
    worker,
    async run() {
      try {
        await worker.run();
      } finally {
        await close();
      }
    },
  };
}
