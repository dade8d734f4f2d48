import { randomBytes } from 'node:crypto';
import { Connection } from '@temporalio/client';
import Long from 'long';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ensureSearchAttributes } from '../../worker/search-attributes.js';
import { eventually } from '../support/stack.js';

let connection: Connection;
beforeAll(async () => {
  connection = await Connection.connect({ address: inject('temporalAddress') });
});
afterAll(() => connection?.close());

describe('ensureSearchAttributes', () => {
  it('registers what a fresh namespace lacks, once', async () => {
    const namespace = `tandem-sa-${randomBytes(4).toString('hex')}`;
    await connection.workflowService.registerNamespace({ namespace, workflowExecutionRetentionPeriod: { seconds: Long.fromNumber(86_400) } });
    await eventually(() => connection.workflowService.describeNamespace({ namespace }));
    expect((await ensureSearchAttributes(connection, namespace)).sort()).toEqual(['AttentionReason', 'EnrollmentStatus', 'EnrollmentType', 'Ownership']);
    const listed = await connection.operatorService.listSearchAttributes({ namespace });
    expect(Object.keys(listed.customAttributes ?? {})).toEqual(expect.arrayContaining(['AttentionReason', 'EnrollmentStatus', 'EnrollmentType', 'Ownership']));
    expect(await ensureSearchAttributes(connection, namespace)).toEqual([]);
  });
});
