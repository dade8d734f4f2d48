// Setup file: keep the Temporal SDK's own logs to warnings in test output.
import { DefaultLogger, Runtime } from '@temporalio/worker';

try {
  Runtime.install({ logger: new DefaultLogger('WARN') });
} catch {
  // already installed in this process (a previous test file)
}
