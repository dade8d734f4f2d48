/**
 * The repository stands alone: a clone of this commit (HEAD), with no sibling folders beside it and no
 * APPLE_SCHEMA_DIR, passes `vitest run test/mdm`, the tests that compare with Apple's schema report
 * themselves skipped, and the run says how to get the schema.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { schemaMissingMessage } from '../../scripts/gen-capabilities.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'tandem-clone-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

interface JsonReport {
  numFailedTests: number;
  numPassedTests: number;
  testResults: { name: string; assertionResults: { fullName: string; status: string }[] }[];
}

describe('a clone of the repository alone', () => {
  it("passes test/mdm with no sibling folders, skipping only the comparisons with Apple's schema", { timeout: 120_000 }, async () => {
    const clone = join(scratch, 'tandem'); // ../shared beside it does not exist
    const cloned = spawnSync('git', ['clone', '--quiet', root, clone], { encoding: 'utf8' });
    expect(cloned.status, cloned.stderr).toBe(0);
    symlinkSync(realpathSync(join(root, 'node_modules')), join(clone, 'node_modules'));

    const { APPLE_SCHEMA_DIR: _unset, ...env } = process.env;
    const reportFile = join(scratch, 'report.json');
    const run = spawn(
      process.execPath,
      [join(clone, 'node_modules', 'vitest', 'vitest.mjs'), 'run', 'test/mdm', '--reporter=default', '--reporter=json', `--outputFile.json=${reportFile}`],
      { cwd: clone, env: { ...env, NODE_ENV: 'test' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    run.stdout.on('data', (d) => (output += d));
    run.stderr.on('data', (d) => (output += d));
    const code = await new Promise<number | null>((done) => run.on('close', done));

    expect(code, output.slice(-4000)).toBe(0);
    expect(output).toContain(schemaMissingMessage);
    const report = JSON.parse(readFileSync(reportFile, 'utf8')) as JsonReport;
    expect(report.numFailedTests).toBe(0);
    expect(report.numPassedTests).toBeGreaterThan(50);
    const status = new Map(report.testResults.flatMap((f) => f.assertionResults.map((t) => [t.fullName, t.status] as const)));
    const schemaTests = [...status].filter(([name]) => /Apple's (iOS 18\.1 |YAML )?schema/.test(name));
    expect(schemaTests.map(([name]) => name)).toEqual(
      expect.arrayContaining([
        "generated capability tables against Apple's schema match what the schema generates today, byte for byte",
        "buildProfile gives every payload type Apple key names and plist types from Apple's iOS 18.1 schema",
        expect.stringMatching(/^the profile against Apple's YAML schema /),
      ]),
    );
    for (const [name, result] of schemaTests) expect(`${name}: ${result}`).toBe(`${name}: skipped`);
  });
});
