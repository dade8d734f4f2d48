/**
 * One enrollment, from invite to its final state, for as long as it lives. The function only wires
 * Temporal to the phases: handlers, the event loop, timers, and continue-as-new, which hands the
 * state (one typed object) to a fresh run whenever the history grows large.
 */
import {
  allHandlersFinished,
  ApplicationFailure,
  condition,
  continueAsNew,
  log,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import { isCommandAllowed } from '../../mdm/capabilities.js';
import type { EnrollmentEvent } from '../../domain/events.js';
import { adminActionUpdate, enrollmentEventSignal, enrollmentStatusQuery, type EnrollmentSnapshot, type EnrollmentWorkflowInput } from '../messages.js';
import { installPhase, invitePhase, sendFirstInvite, viaInvite } from './invite-phase.js';
import { leavingPhase } from './leaving-phase.js';
import { managedPhase, push } from './managed-phase.js';
import type { Phase } from './phases.js';
import { EnrollmentRun, Superseded } from './run.js';
import { initialState, shownAttention, type EnrollmentState } from './state.js';

const phases: Phase[] = [invitePhase, installPhase, managedPhase, leavingPhase];

/** A run continues as new past this many history events (Temporal suggests it far later). */
export const HISTORY_EVENT_BUDGET = 1_500;

export interface EnrollmentLifecycleArgs {
  input: EnrollmentWorkflowInput;
  /** the previous run's state (continue-as-new); absent for the first run */
  state?: EnrollmentState;
}

export async function enrollmentLifecycleWorkflow({ input, state: carried }: EnrollmentLifecycleArgs): Promise<EnrollmentSnapshot> {
  const state = carried ? { ...carried, run: carried.run + 1 } : initialState(input);
  const run = new EnrollmentRun(input, state, workflowInfo().workflowId);
  const { events } = run;

  const snapshot = (): EnrollmentSnapshot => ({
    enrollmentId: input.enrollmentId,
    status: shownAttention(state) ? 'attention' : run.status,
    enrollmentType: state.enrollmentType,
    invitesSent: state.invite.sent,
  });
  setHandler(enrollmentStatusQuery, snapshot);
  setHandler(enrollmentEventSignal, (event: EnrollmentEvent) => {
    // A retry wakes the step waiting in `attention` at once; it is never queued behind that step.
    if (event.type === 'retry') state.retries += 1;
    else events.push(event);
  });
  setHandler(
    adminActionUpdate,
    async ({ commandUuid }) => {
      // Answered once the command is released to the device; the push follows from the main loop,
      // so a slow APNs never turns a queued command into an error.
      await run.call('releaseCommand', 'release an admin action to the device', { ...run.key(`command:${commandUuid}`), commandUuid });
      state.pushWanted = true;
      return { commandUuid, status: 'queued' as const };
    },
    {
      // Refuses, before anything is recorded or sent, what this enrollment may not receive.
      validator: ({ requestType, supervised }) => {
        if (run.status !== 'enrolled') throw ApplicationFailure.nonRetryable(`The device is not enrolled (it is ${run.status}).`, 'not_enrolled');
        const kind = state.enrollmentType ?? 'device';
        const decision = isCommandAllowed(requestType, { kind, supervised: kind === 'user' ? false : supervised });
        if (!decision.allowed) throw ApplicationFailure.nonRetryable(decision.message, decision.code, { schema: decision.schema });
      },
    },
  );

  if (carried) run.inherit();
  else if (viaInvite(run)) await guarded(() => sendFirstInvite(run));
  else run.publish();

  while (!run.machine.isFinal) {
    if (state.pushWanted) {
      state.pushWanted = false;
      state.managed.adminPushes += 1;
      await guarded(() => push(run, 'admin action'));
      continue;
    }
    if (!events.length && shouldContinueAsNew()) {
      await condition(allHandlersFinished);
      if (!events.length && !state.pushWanted) {
        state.pending = events.splice(0);
        log.info('continuing as new', { run: state.run, events: workflowInfo().historyLength });
        await continueAsNew<typeof enrollmentLifecycleWorkflow>({ input, state });
      }
      continue;
    }
    const phase = phases.find((p) => p.owns(run));
    const deadline = phase?.deadline(run);
    if (!events.length) {
      const wake = () => events.length > 0 || state.pushWanted;
      if (!deadline) await condition(wake);
      else if (deadline.at > Date.now()) await condition(wake, deadline.at - Date.now());
    }
    if (events.length || state.pushWanted) {
      const event = events.shift();
      if (event) await guarded(() => handle(event));
      continue;
    }
    if (deadline) await guarded(deadline.fire);
  }
  await condition(allHandlersFinished);
  log.info('enrollment finished', { status: run.status });
  return snapshot();

  async function handle(event: EnrollmentEvent): Promise<void> {
    const phase = phases.find((p) => p.owns(run));
    if (phase && (await phase.handle(run, event))) return;
    log.info('event ignored in this state', { event: event.type, status: run.status });
  }

  /** A step blocked in `attention` gives way to the event that ends its phase; the loop handles it next. */
  async function guarded(step: () => Promise<void>): Promise<void> {
    try {
      await step();
    } catch (err) {
      if (!(err instanceof Superseded)) throw err;
    }
  }

  function shouldContinueAsNew(): boolean {
    const info = workflowInfo();
    return info.continueAsNewSuggested || info.historyLength > (input.historyEventBudget ?? HISTORY_EVENT_BUDGET);
  }
}
