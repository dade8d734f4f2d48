// Setup file: keep the Temporal SDK's own logs to warnings, and the Rust core's to errors, in test
// output. (The fault tests stop servers on purpose; the core's retry warnings would drown the run.)
import { DefaultLogger, makeTelemetryFilterString, Runtime } from '@temporalio/worker';

try {
  Runtime.install({ logger: new DefaultLogger('WARN'), telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: 'ERROR' }), forward: {} } } });
} catch {
  // already installed in this process (a previous test file)
}
