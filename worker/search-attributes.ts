// @temporalio/proto is CommonJS: its namespace comes through the default export under native ESM.
import proto from '@temporalio/proto';
import type { Connection } from '@temporalio/client';
import { SearchAttributeType } from '@temporalio/common';
import { tandemSearchAttributes } from '../workflows/search-attributes.js';

const { temporal } = proto;

const indexedType: Record<string, proto.temporal.api.enums.v1.IndexedValueType> = {
  [SearchAttributeType.KEYWORD]: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
  [SearchAttributeType.TEXT]: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_TEXT,
};

/**
 * Registers Tandem's custom search attributes on a Temporal cluster that lacks them (the dev
 * server gets them as flags at start; a production cluster gets them here, once).
 */
export async function ensureSearchAttributes(connection: Connection, namespace: string): Promise<string[]> {
  const existing = await connection.operatorService.listSearchAttributes({ namespace });
  const missing = tandemSearchAttributes.filter((key) => !(key.name in (existing.customAttributes ?? {})));
  if (!missing.length) return [];
  await connection.operatorService.addSearchAttributes({
    namespace,
    searchAttributes: Object.fromEntries(missing.map((key) => [key.name, indexedType[key.type]!])),
  });
  return missing.map((key) => key.name);
}
