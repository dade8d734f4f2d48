/**
 * Several relays draining one outbox (several API instances) still hand each workflow its events in
 * the order they were written, even when deliveries fail and are retried. The relays, the claim
 * query and the database are real; the Temporal side is a recording port that is slow and flaky on
 * purpose. A signal for a workflow that has closed is settled once, against the real Temporal.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OutboxRelay } from '../../api/outbox-relay.js';
import { temporalGateway, type WorkflowGateway } from '../../api/workflow-gateway.js';
import { createLogger } from '../../config/logger.js';
import { recordEnrollmentEvent } from '../../db/outbox.js';
import { enrollmentWorkflowId } from '../../workflows/messages.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { eventually, startTestStack, type TestStack } from '../support/stack.js';

let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(() => database?.stop());

/** Delivers after a random delay and refuses one call in five, recording what landed per workflow. */
function flakyRecordingGateway(landed: Map<string, number[]>): WorkflowGateway {
  let calls = 0;
  return {
    async startEnrollment() {},
    async signalEnrollment(workflowId, event) {
      await new Promise((r) => setTimeout(r, Math.random() * 4));
      if (++calls % 5 === 0) throw new Error('UNAVAILABLE: injected');
      const seq = Number((event as { reason: string }).reason);
      landed.set(workflowId, [...(landed.get(workflowId) ?? []), seq]);
      return 'delivered';
    },
    async signalApp() {
      return 'delivered';
    },
    async adminAction() {
      return { accepted: true };
    },
    async ping() {},
  };
}

describe('outbox ordering', () => {
  it('three relays deliver each workflow its events in order, once each', { timeout: 60_000 }, async () => {
    const enrollments = ['order-a', 'order-b', 'order-c', 'order-d'];
    const perWorkflow = 12;
    for (let seq = 0; seq < perWorkflow; seq++) {
      for (const id of enrollments) {
        await recordEnrollmentEvent(database.db, id, { type: 'disenroll_requested', reason: String(seq) }, `order-${seq}`);
      }
    }
    const landed = new Map<string, number[]>();
    const gateway = flakyRecordingGateway(landed);
    const log = createLogger('silent');
    const relays = [1, 2, 3].map(() => new OutboxRelay(database.db, gateway, log, { pollIntervalMs: 5, batchSize: 3, maxBackoffMs: 10, leaseMs: 30_000 }));
    relays.forEach((r) => r.start());
    try {
      await eventually(async () => {
        const left = await database.db.selectFrom('outbox').select('id').where('delivered_at', 'is', null).execute();
        return left.length === 0 ? true : undefined;
      }, { timeoutMs: 45_000 });
    } finally {
      await Promise.all(relays.map((r) => r.stop()));
    }
    const expected = Array.from({ length: perWorkflow }, (_, i) => i);
    for (const id of enrollments) expect(landed.get(enrollmentWorkflowId(id))).toEqual(expected);
  });
});

describe('a slow Temporal', () => {
  it('gets no row twice: a relay hands back what it cannot deliver while its lease holds', { timeout: 60_000 }, async () => {
    for (let seq = 0; seq < 6; seq++) await recordEnrollmentEvent(database.db, `slow-${seq}`, { type: 'device_seen' }, `slow-${seq}`);
    const deliveries = new Map<string, number>();
    const slow: WorkflowGateway = {
      async startEnrollment() {},
      async signalEnrollment(workflowId) {
        await new Promise((r) => setTimeout(r, 700));
        deliveries.set(workflowId, (deliveries.get(workflowId) ?? 0) + 1);
        return 'delivered';
      },
      async signalApp() {
        return 'delivered' as const;
      },
      async adminAction() {
        return { accepted: true };
      },
      async ping() {},
    };
    // Each claim may start deliveries for 4000 - 1000 - 2000 = 1000 ms: two of a batch of six,
    // then the rest goes back, for either relay to claim afresh.
    const relays = [1, 2].map(() => new OutboxRelay(database.db, slow, createLogger('silent'), { pollIntervalMs: 20, batchSize: 6, leaseMs: 4_000, deliveryDeadlineMs: 1_000 }));
    relays.forEach((r) => r.start());
    try {
      await eventually(async () => {
        const left = await database.db.selectFrom('outbox').select('id').where('workflow_id', 'like', 'enrollment/slow-%').where('delivered_at', 'is', null).execute();
        return left.length === 0 ? true : undefined;
      }, { timeoutMs: 45_000 });
    } finally {
      await Promise.all(relays.map((r) => r.stop()));
    }
    expect([...deliveries.values()]).toEqual([1, 1, 1, 1, 1, 1]);
    const rows = await database.db.selectFrom('outbox').select('attempts').where('workflow_id', 'like', 'enrollment/slow-%').execute();
    expect(Math.max(...rows.map((r) => r.attempts))).toBeGreaterThan(1); // some were handed back and claimed again
  });

  it('refuses a lease too short to outlast a delivery', () => {
    expect(() => new OutboxRelay(database.db, flakyRecordingGateway(new Map()), createLogger('silent'), { leaseMs: 5_000, deliveryDeadlineMs: 5_000 })).toThrow(/must outlast/);
  });
});

describe('a signal for a closed workflow', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startTestStack({}, { relayPollIntervalMs: 3_600_000 });
  });
  afterAll(() => stack?.stop());

  it('is settled as undeliverable instead of retried forever', async () => {
    await recordEnrollmentEvent(stack.database.db, 'never-started', { type: 'device_seen' }, 'closed-1');
    const relay = new OutboxRelay(stack.database.db, temporalGateway(stack.client, stack.env.TEMPORAL_TASK_QUEUE), createLogger('silent'));
    await relay.kick();
    await relay.stop();
    const row = await stack.database.db.selectFrom('outbox').selectAll().where('workflow_id', '=', enrollmentWorkflowId('never-started')).executeTakeFirstOrThrow();
    expect(row.delivered_at).not.toBeNull();
    expect(row.attempts).toBe(1);
    expect(row.last_error).toMatch(/workflow has closed/);
  });
});
