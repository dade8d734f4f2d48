/**
 * Determinism guard: every recorded history must replay against today's workflow code. A change
 * that would break running enrollments fails here (add a `patched()` branch instead).
 * Fixtures are recorded by the integration tests with UPDATE_HISTORY_FIXTURES=1.
 */
import { readdir, readFile } from 'node:fs/promises';
import { Worker } from '@temporalio/worker';
import { describe, expect, inject, it } from 'vitest';

const dir = new URL('../fixtures/histories/', import.meta.url);
const fixtures = (await readdir(dir)).filter((f) => f.endsWith('.json'));

describe('workflow replay', () => {
  it('has recorded histories to replay', () => {
    expect(fixtures.length).toBeGreaterThan(0);
  });

  it.each(fixtures)('replays %s without nondeterminism', async (file) => {
    const history = JSON.parse(await readFile(new URL(file, dir), 'utf8'));
    await Worker.runReplayHistory({ workflowBundle: { codePath: inject('workflowBundlePath') } }, history, file);
  });

  it('detects a history the code cannot produce', async () => {
    const history = JSON.parse(await readFile(new URL(fixtures[0]!, dir), 'utf8'));
    for (const event of history.events) {
      const scheduled = event.activityTaskScheduledEventAttributes;
      if (scheduled) scheduled.activityType.name = 'someOtherActivity';
    }
    await expect(Worker.runReplayHistory({ workflowBundle: { codePath: inject('workflowBundlePath') } }, history, 'mutated')).rejects.toThrow(
      /nondeterminism/i,
    );
  });
});
