/** The resolver's order of routes, on real files in a scratch directory. */
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveTemporalCli, temporalCacheDir, TEMPORAL_CLI_VERSION } from '../../scripts/temporal-cli.js';

function scratch() {
  const dir = mkdtempSync(join(tmpdir(), 'tandem-cli-'));
  const exe = (path: string) => {
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, '#!/bin/sh\nexit 0\n');
    chmodSync(path, 0o755);
    return path;
  };
  return { dir, exe };
}

const quiet = { log: () => {} };

describe('Temporal CLI resolver', () => {
  it('prefers TEMPORAL_CLI, and refuses one that is not executable', async () => {
    const { dir, exe } = scratch();
    const path = exe(join(dir, 'custom', 'temporal'));
    await expect(resolveTemporalCli({ env: { TEMPORAL_CLI: path, PATH: '' }, ...quiet })).resolves.toEqual({ type: 'existing-path', path, source: 'env' });
    writeFileSync(join(dir, 'plain'), 'not a program');
    await expect(resolveTemporalCli({ env: { TEMPORAL_CLI: join(dir, 'plain'), PATH: '' }, ...quiet })).rejects.toThrow(/TEMPORAL_CLI .* not an executable/);
  });

  it('then takes `temporal` on PATH, then the cache outside the clone', async () => {
    const { dir, exe } = scratch();
    const onPath = exe(join(dir, 'bin', 'temporal'));
    const cacheEnv = { TANDEM_CACHE_DIR: join(dir, 'cache') };
    const cached = exe(join(temporalCacheDir(cacheEnv), 'temporal'));
    expect(cached).toBe(join(dir, 'cache', `temporal-${TEMPORAL_CLI_VERSION}`, 'temporal'));
    await expect(resolveTemporalCli({ env: { ...cacheEnv, PATH: join(dir, 'bin') }, ...quiet })).resolves.toMatchObject({ path: onPath, source: 'path' });
    await expect(resolveTemporalCli({ env: { ...cacheEnv, PATH: join(dir, 'empty') }, ...quiet })).resolves.toMatchObject({ path: cached, source: 'cache' });
  });

  it('falls back to the SDK download when there is no Go toolchain to build with', async () => {
    const { dir } = scratch();
    const lines: string[] = [];
    const exe = await resolveTemporalCli({ env: { TANDEM_CACHE_DIR: join(dir, 'cache'), PATH: join(dir, 'empty') }, log: (l) => lines.push(l) });
    expect(exe).toEqual({ type: 'cached-download', version: `v${TEMPORAL_CLI_VERSION}`, source: 'sdk-download' });
    expect(lines.join('\n')).toMatch(/no Go toolchain/);
  });
});
