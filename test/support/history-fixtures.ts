/**
 * Replay fixtures (test/replay): with UPDATE_HISTORY_FIXTURES=1, a test that has just driven a
 * workflow down one path keeps its history as `test/fixtures/histories/<name>.json`. Only missing
 * files are written: a fixture recorded by older workflow code is what proves a `patched()` branch
 * still replays, so refreshing one means deleting it first.
 */
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import type { Client } from '@temporalio/client';

export async function keepHistory(client: Client, workflowId: string, name: string): Promise<void> {
  if (!process.env.UPDATE_HISTORY_FIXTURES) return;
  const file = new URL(`../fixtures/histories/${name}.json`, import.meta.url);
  if (existsSync(file)) return;
  const history = JSON.parse(historyToJSON(await client.workflow.getHandle(workflowId).fetchHistory()));
  await writeFile(file, `${JSON.stringify(history, null, 2)}\n`);
}
