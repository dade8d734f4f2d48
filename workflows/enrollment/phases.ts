import type { EnrollmentEvent } from '../../domain/events.js';
import type { EnrollmentRun } from './run.js';

/** The next timer a phase waits for: when, a name for the UI, and what to do when it fires. */
export interface Deadline {
  at: number;
  what: string;
  fire: () => Promise<void>;
}

/** A phase owns the statuses it lives in, the events it handles there, and its timers. */
export interface Phase {
  name: 'invite' | 'install' | 'managed' | 'leaving';
  owns(run: EnrollmentRun): boolean;
  /** Handles the event if it belongs to this phase; returns false to let the event fall through (ignored). */
  handle(run: EnrollmentRun, event: EnrollmentEvent): Promise<boolean>;
  deadline(run: EnrollmentRun): Deadline | undefined;
}
