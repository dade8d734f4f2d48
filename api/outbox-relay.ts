/**
 * Delivers outbox rows to Temporal until each lands. Rows are written in the same transaction as
 * the state they describe, so a Temporal outage delays work but loses none. Claims are leases
 * (`available_at` pushed forward), so several API instances can relay side by side, and a row
 * whose delivery was never recorded (the relay crashed, or the database went away just then) comes
 * back after the lease and is delivered again; the workflows take repeated events in their stride.
 */
import { sql } from 'kysely';
import type { Logger } from 'pino';
import type { Db } from '../db/connection.js';
import type { OutboxKind } from '../db/schema.js';
import type { AppEvent, EnrollmentEvent, EnrollmentWorkflowInput } from '../workflows/messages.js';
import { CALL_DEADLINE_MS, type WorkflowGateway } from './workflow-gateway.js';

export interface OutboxRelayOptions {
  pollIntervalMs?: number;
  leaseMs?: number;
  batchSize?: number;
  maxBackoffMs?: number;
  /** the longest one delivery may take (the gateway's call deadline) */
  deliveryDeadlineMs?: number;
}

export class OutboxRelay {
  readonly #opts: Required<OutboxRelayOptions>;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #again = false;
  /** the last delivery failed: Temporal is likely down, so wait for the next poll before trying more */
  #failing = false;
  #stopped = true;

  constructor(
    private readonly db: Db,
    private readonly gateway: WorkflowGateway,
    private readonly log: Logger,
    opts: OutboxRelayOptions = {},
  ) {
    this.#opts = { pollIntervalMs: 1000, leaseMs: 10_000, batchSize: 20, maxBackoffMs: 10_000, deliveryDeadlineMs: CALL_DEADLINE_MS, ...opts };
    if (this.#opts.leaseMs < this.#opts.deliveryDeadlineMs + 3_000) {
      throw new Error(`outbox relay: the lease (${this.#opts.leaseMs} ms) must outlast a delivery (${this.#opts.deliveryDeadlineMs} ms) by 3 s`);
    }
  }

  start(): void {
    this.#stopped = false;
    this.#schedule(0);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
  }

  /**
   * Deliver now rather than at the next poll (called right after a row is written). While
   * deliveries are failing, the row simply waits for the next poll: an outage costs one attempt
   * per poll, not one per request.
   */
  kick(): Promise<void> {
    if (this.#failing) return this.#running ?? Promise.resolve();
    return this.#poll();
  }

  #poll(): Promise<void> {
    if (this.#running) {
      this.#again = true;
      return this.#running;
    }
    return this.#run();
  }

  #schedule(ms: number): void {
    if (this.#stopped) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.#poll(), ms);
  }

  #run(): Promise<void> {
    this.#running = (async () => {
      try {
        do {
          this.#again = false;
          while ((await this.drainOnce()) > 0) {
            /* delivering a row may make the same workflow's next row claimable */
          }
        } while (this.#again && !this.#failing);
      } catch (err) {
        this.log.warn({ err }, 'outbox relay: claiming rows failed');
      } finally {
        this.#running = undefined;
        this.#schedule(this.#opts.pollIntervalMs);
      }
    })();
    return this.#running;
  }

  /**
   * Claims and delivers one batch; returns how many rows it claimed. Only the oldest undelivered
   * row of each workflow is claimable, so however many relays run, a workflow receives its events
   * in the order they were written; the next one becomes claimable once this one is delivered.
   */
  async drainOnce(): Promise<number> {
    const claimStarted = Date.now();
    const claimed = await sql<{ id: string; kind: OutboxKind; workflow_id: string; payload: Record<string, unknown>; attempts: number }>`
      update outbox set available_at = now() + ${`${this.#opts.leaseMs} milliseconds`}::interval, attempts = attempts + 1
      where id in (
        select o.id from outbox o
        where o.delivered_at is null and o.available_at <= now()
          and not exists (select 1 from outbox earlier where earlier.workflow_id = o.workflow_id and earlier.delivered_at is null and earlier.id < o.id)
        order by o.id limit ${this.#opts.batchSize} for update skip locked)
      returning id, kind, workflow_id, payload, attempts`.execute(this.db);
    // A delivery starts only while the lease outlasts it with room to spare, so no other relay
    // can claim a row this one is still delivering. (The lease began after claimStarted.)
    const lastStart = claimStarted + this.#opts.leaseMs - this.#opts.deliveryDeadlineMs - 2_000;
    const rows = [...claimed.rows].sort((a, b) => Number(a.id) - Number(b.id));
    for (const [index, row] of rows.entries()) {
      if (Date.now() > lastStart) {
        // Temporal is slow: hand the rest back before the lease could lapse under us.
        await this.db.updateTable('outbox').set({ available_at: sql`now()` }).where('id', 'in', rows.slice(index).map((r) => r.id)).execute();
        return index;
      }
      try {
        const outcome = await this.#deliver(row.kind, row.workflow_id, row.payload);
        this.#failing = false;
        await this.db
          .updateTable('outbox')
          .set({ delivered_at: sql`now()`, last_error: outcome === 'workflow_closed' ? 'not delivered: the workflow has closed' : null })
          .where('id', '=', row.id)
          .where('attempts', '=', row.attempts) // still this relay's claim
          .execute();
      } catch (err) {
        // Temporal is most likely down: back off this row and the rest of the batch together
        // rather than waiting out a deadline for each.
        const backoff = Math.min(this.#opts.maxBackoffMs, 500 * 2 ** Math.min(row.attempts, 16));
        const rest = rows.slice(index).map((r) => r.id);
        this.log.warn({ outboxId: row.id, kind: row.kind, attempts: row.attempts, deferred: rest.length, err: String(err) }, 'outbox delivery failed; will retry');
        await this.db
          .updateTable('outbox')
          .set({ available_at: sql`now() + ${`${backoff} milliseconds`}::interval`, last_error: String(err).slice(0, 2000) })
          .where('id', 'in', rest)
          .execute();
        this.#failing = true;
        return 0; // stop draining until the next poll
      }
    }
    return rows.length;
  }

  async #deliver(kind: OutboxKind, workflowId: string, payload: Record<string, unknown>): Promise<'delivered' | 'workflow_closed'> {
    switch (kind) {
      case 'start_enrollment': {
        const { initialEvent, ...input } = payload;
        await this.gateway.startEnrollment(input as unknown as EnrollmentWorkflowInput, initialEvent as EnrollmentEvent | undefined);
        return 'delivered';
      }
      case 'signal_enrollment':
        return this.gateway.signalEnrollment(workflowId, payload.event as EnrollmentEvent);
      case 'signal_app':
        return this.gateway.signalApp(workflowId, payload.event as AppEvent);
    }
  }
}
