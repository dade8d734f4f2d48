/**
 * Finds Temporal's time-skipping test server (the Java `io.temporal:temporal-test-server`, which
 * `TestWorkflowEnvironment.createTimeSkipping` drives) without committing a binary or a jar:
 *
 *   1. TEMPORAL_TEST_SERVER, if set (an executable taking `<port>`);
 *   2. the cached launcher outside the clone: ~/.cache/tandem/temporal-test-server-<version>/test-server
 *      (TANDEM_CACHE_DIR moves ~/.cache/tandem);
 *   3. Maven (`mvn dependency:copy-dependencies` from Maven Central) into that cache, with Java 17+.
 *
 * Returns undefined when none is possible (no Java or Maven): the time-skipping tests then say so
 * and skip. Run directly (`tsx scripts/temporal-test-server.ts`) it prints the launcher's path.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, chmodSync, constants, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

export const TEST_SERVER_VERSION = '1.27.0';

const isExecutable = (file: string) => {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
};

const has = (cmd: string, args: string[]) => spawnSync(cmd, args, { stdio: 'ignore', timeout: 30_000 }).status === 0;

export function testServerDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.TANDEM_CACHE_DIR || join(homedir(), '.cache', 'tandem'), `temporal-test-server-${TEST_SERVER_VERSION}`);
}

export function resolveTemporalTestServer(env: NodeJS.ProcessEnv = process.env, log: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): string | undefined {
  if (env.TEMPORAL_TEST_SERVER) {
    if (!isExecutable(env.TEMPORAL_TEST_SERVER)) throw new Error(`TEMPORAL_TEST_SERVER=${env.TEMPORAL_TEST_SERVER} is not an executable file`);
    return env.TEMPORAL_TEST_SERVER;
  }
  const dir = testServerDir(env);
  const launcher = join(dir, 'test-server');
  const jar = join(dir, 'lib', `temporal-test-server-${TEST_SERVER_VERSION}.jar`);
  if (existsSync(jar)) return writeLauncher(launcher);
  if (!has('java', ['-version']) || !has('mvn', ['-v'])) {
    log('temporal-test-server: needs Java and Maven (or TEMPORAL_TEST_SERVER); time-skipping tests will skip');
    return undefined;
  }
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'pom.xml'),
    `<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>
  <groupId>tandem</groupId><artifactId>temporal-test-server-classpath</artifactId><version>1</version>
  <dependencies><dependency><groupId>io.temporal</groupId><artifactId>temporal-test-server</artifactId><version>${TEST_SERVER_VERSION}</version></dependency></dependencies>
</project>\n`,
  );
  log(`temporal-test-server: fetching io.temporal:temporal-test-server:${TEST_SERVER_VERSION} with Maven (first time only)`);
  const fetched = spawnSync('mvn', ['-q', '-B', '-f', join(dir, 'pom.xml'), 'dependency:copy-dependencies', `-DoutputDirectory=${join(dir, 'lib')}`], { stdio: 'inherit', timeout: 600_000 });
  if (fetched.status !== 0) {
    log('temporal-test-server: Maven could not fetch the test server; time-skipping tests will skip');
    return undefined;
  }
  return writeLauncher(launcher);
}

function writeLauncher(launcher: string): string {
  // The SDK passes `<port>` only: time stays locked except while a test sleeps or awaits a result
  // (`--enable-time-skipping` would let it run on even while a workflow task is in flight).
  // C1 only: the JVM must listen within the SDK's 5 s.
  writeFileSync(launcher, `#!/bin/sh\nexec java -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -cp "$(dirname "$0")/lib/*" io.temporal.testserver.TestServer "$1"\n`);
  chmodSync(launcher, 0o755);
  return launcher;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const found = resolveTemporalTestServer();
  if (!found) process.exit(1);
  process.stdout.write(`${found}\n`);
}
