/**
 * Finds a Temporal CLI (which carries the dev server) without ever committing a binary:
 *
 *   1. TEMPORAL_CLI, if set (must be an executable file);
 *   2. `temporal` on PATH;
 *   3. the cached build outside the clone: ~/.cache/tandem/temporal-<version>/temporal
 *      (TANDEM_CACHE_DIR moves ~/.cache/tandem);
 *   4. a build through the Go module proxy: `go install github.com/temporalio/cli/cmd/temporal@v1.5.1`
 *      into that cache (CGO_ENABLED=0; Go's own module and build caches make later builds fast);
 *   5. the Temporal SDK's own download (needs the internet; fails fast where there is none).
 *
 * Run directly (`npm run temporal:resolve`) it prints the path it settled on.
 */
import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

export const TEMPORAL_CLI_VERSION = '1.5.1';
const MODULE = 'github.com/temporalio/cli';

export type TemporalExecutable =
  | { type: 'existing-path'; path: string; source: 'env' | 'path' | 'cache' | 'built' }
  | { type: 'cached-download'; version: string; source: 'sdk-download' };

export interface ResolveOptions {
  env?: NodeJS.ProcessEnv;
  /** Progress and route messages (default: stderr). */
  log?: (line: string) => void;
}

export function temporalCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.TANDEM_CACHE_DIR || join(homedir(), '.cache', 'tandem'), `temporal-${TEMPORAL_CLI_VERSION}`);
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function findOnPath(name: string, env: NodeJS.ProcessEnv): string | undefined {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/** True when a Go toolchain is present and the module proxy serves the CLI at our version. */
function goCanBuild(env: NodeJS.ProcessEnv, log: (l: string) => void): boolean {
  const go = findOnPath('go', env);
  if (!go) {
    log('temporal-cli: no Go toolchain on PATH, cannot build the CLI');
    return false;
  }
  const versions = spawnSync(go, ['list', '-m', '-versions', MODULE], { env, encoding: 'utf8', timeout: 120_000 });
  if (versions.status !== 0 || !versions.stdout.split(/\s+/).includes(`v${TEMPORAL_CLI_VERSION}`)) {
    log(`temporal-cli: the Go module proxy does not serve ${MODULE}@v${TEMPORAL_CLI_VERSION}: ${(versions.stderr || versions.stdout).trim()}`);
    return false;
  }
  return true;
}

async function goInstall(target: string, env: NodeJS.ProcessEnv, log: (l: string) => void): Promise<void> {
  const dir = resolve(target, '..');
  const staging = join(dir, `.build-${process.pid}`);
  mkdirSync(staging, { recursive: true });
  const started = Date.now();
  log(`temporal-cli: building Temporal CLI v${TEMPORAL_CLI_VERSION} with go install (first time only; a few minutes on 2 cores)`);
  const child = spawn(
    'go',
    [
      'install',
      '-ldflags',
      `-s -w -X ${MODULE}/temporalcli.Version=${TEMPORAL_CLI_VERSION}`,
      `${MODULE}/cmd/temporal@v${TEMPORAL_CLI_VERSION}`,
    ],
    { env: { ...env, CGO_ENABLED: '0', GOBIN: staging, GOFLAGS: '-mod=mod' }, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let downloaded = 0;
  let tail = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    downloaded += chunk.match(/go: downloading/g)?.length ?? 0;
    tail = (tail + chunk).slice(-4000);
  });
  const ticker = setInterval(() => {
    const secs = Math.round((Date.now() - started) / 1000);
    log(`temporal-cli: … ${secs}s, ${downloaded} modules downloaded, ${downloaded ? 'downloading/compiling' : 'compiling'}`);
  }, 15_000);
  const code = await new Promise<number | null>((done) => child.on('close', done));
  clearInterval(ticker);
  if (code !== 0) {
    rmSync(staging, { recursive: true, force: true });
    throw new Error(`go install of the Temporal CLI failed (exit ${code}):\n${tail}`);
  }
  renameSync(join(staging, 'temporal'), target); // atomic: a half-built binary is never seen
  rmSync(staging, { recursive: true, force: true });
  log(`temporal-cli: built in ${Math.round((Date.now() - started) / 1000)}s -> ${target}`);
}

export async function resolveTemporalCli(opts: ResolveOptions = {}): Promise<TemporalExecutable> {
  const env = opts.env ?? process.env;
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));

  if (env.TEMPORAL_CLI) {
    const path = resolve(env.TEMPORAL_CLI);
    if (!isExecutable(path)) throw new Error(`TEMPORAL_CLI is set to ${env.TEMPORAL_CLI}, which is not an executable file`);
    return { type: 'existing-path', path, source: 'env' };
  }
  const onPath = findOnPath('temporal', env);
  if (onPath) return { type: 'existing-path', path: onPath, source: 'path' };

  const cached = join(temporalCacheDir(env), 'temporal');
  if (isExecutable(cached)) return { type: 'existing-path', path: cached, source: 'cache' };

  if (goCanBuild(env, log)) {
    mkdirSync(temporalCacheDir(env), { recursive: true });
    await goInstall(cached, env, log);
    return { type: 'existing-path', path: cached, source: 'built' };
  }

  log('temporal-cli: falling back to the Temporal SDK download (needs internet access)');
  return { type: 'cached-download', version: `v${TEMPORAL_CLI_VERSION}`, source: 'sdk-download' };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const exe = await resolveTemporalCli();
  process.stdout.write(`${exe.type === 'existing-path' ? exe.path : `sdk-download ${exe.version}`}\n`);
  if (exe.type === 'existing-path' && !existsSync(exe.path)) process.exit(1);
}
