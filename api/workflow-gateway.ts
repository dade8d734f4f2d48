/**
 * What the API needs from Temporal, as a small port. The real one wraps a Temporal Client; the
 * outbox relay is its only caller for anything that changes workflow state.
 */
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import type { SignalDefinition } from '@temporalio/common';
import { enrollmentKindLabel } from '../domain/kinds.js';
import type { enrollmentLifecycleWorkflow } from '../workflows/enrollment/workflow.js';
import {
  adminActionUpdate,
  appEventSignal,
  type AppEvent,
  enrollmentEventSignal,
  enrollmentWorkflowId,
  type AdminActionRequest,
  type EnrollmentEvent,
  type EnrollmentWorkflowInput,
} from '../workflows/messages.js';
import { EnrollmentStatusKey, EnrollmentTypeKey } from '../workflows/search-attributes.js';

export interface WorkflowGateway {
  /** Starts the workflow (idempotently); with `initialEvent`, as signal-with-start. */
  startEnrollment(input: EnrollmentWorkflowInput, initialEvent?: EnrollmentEvent): Promise<void>;
  /**
   * Signals the running workflow. 'workflow_closed' when it has ended (or never ran): nothing will
   * ever read the event, so retrying is pointless. The relay starts a workflow before it signals.
   */
  signalEnrollment(workflowId: string, event: EnrollmentEvent): Promise<'delivered' | 'workflow_closed'>;
  /** Signals an app deployment workflow by id (whichever run is current); same outcomes. */
  signalApp(workflowId: string, event: AppEvent): Promise<'delivered' | 'workflow_closed'>;
  /** The admin-action Update: accepted, or refused by the workflow's validator (with its code). */
  adminAction(enrollmentId: string, req: AdminActionRequest): Promise<{ accepted: true } | { accepted: false; code: string; message: string; details?: unknown }>;
  /** Throws when Temporal cannot be reached. */
  ping(): Promise<void>;
}

/** Calls give up after this long, so an unreachable Temporal never stalls a relay or a probe. */
export const CALL_DEADLINE_MS = 5_000;

export function temporalGateway(client: Client, taskQueue: string): WorkflowGateway {
  const withinDeadline = <T>(fn: () => Promise<T>, ms = CALL_DEADLINE_MS) => client.withDeadline(Date.now() + ms, fn);
  /** Signals whichever run of the workflow is current; a closed one will never read the event. */
  async function signalById<E>(workflowId: string, signal: SignalDefinition<[E]>, event: E): Promise<'delivered' | 'workflow_closed'> {
    try {
      await withinDeadline(() => client.workflow.getHandle(workflowId).signal(signal, event));
      return 'delivered';
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return 'workflow_closed';
      throw err;
    }
  }
  return {
    async startEnrollment(input, initialEvent) {
      const options = {
        workflowId: enrollmentWorkflowId(input.enrollmentId),
        taskQueue,
        args: [{ input }] as Parameters<typeof enrollmentLifecycleWorkflow>,
        // Kinds only: the Temporal UI's list shows this, and personal data never goes there.
        staticSummary: `${enrollmentKindLabel(input.enrollmentType)} · ${input.ownership === 'user_choice' ? 'ownership chosen by the user' : input.ownership}`,
        typedSearchAttributes: [
          { key: EnrollmentStatusKey, value: 'created' },
          { key: EnrollmentTypeKey, value: input.enrollmentType ?? 'undecided' },
        ],
      };
      if (initialEvent) {
        // signal-with-start is idempotent by nature: it signals the running workflow if one exists.
        await withinDeadline(() =>
          client.workflow.signalWithStart<typeof enrollmentLifecycleWorkflow, [EnrollmentEvent]>('enrollmentLifecycleWorkflow', {
            ...options,
            workflowIdConflictPolicy: 'USE_EXISTING',
            signal: enrollmentEventSignal,
            signalArgs: [initialEvent],
          }),
        );
        return;
      }
      try {
        await withinDeadline(() => client.workflow.start<typeof enrollmentLifecycleWorkflow>('enrollmentLifecycleWorkflow', {
          ...options,
          // Idempotent: a second start (a retried outbox delivery) joins the running workflow,
          // and an enrollment id never runs twice.
          workflowIdConflictPolicy: 'USE_EXISTING',
          workflowIdReusePolicy: 'REJECT_DUPLICATE',
        }));
      } catch (err) {
        if (err instanceof WorkflowExecutionAlreadyStartedError) return; // it ran already: delivered
        throw err;
      }
    },
    signalEnrollment: (workflowId, event) => signalById(workflowId, enrollmentEventSignal, event),
    signalApp: (workflowId, event) => signalById(workflowId, appEventSignal, event),
    async adminAction(enrollmentId, req) {
      try {
        await withinDeadline(() =>
          client.workflow.getHandle(enrollmentWorkflowId(enrollmentId)).executeUpdate(adminActionUpdate, { args: [req], updateId: req.commandUuid }),
        );
        return { accepted: true };
      } catch (err) {
        if (err instanceof WorkflowUpdateFailedError) {
          const cause = err.cause as { type?: string; message?: string; details?: unknown[] } | undefined;
          return { accepted: false, code: cause?.type ?? 'refused', message: cause?.message ?? err.message, details: cause?.details?.[0] };
        }
        throw err;
      }
    },
    async ping() {
      await withinDeadline(() => client.workflowService.getSystemInfo({}), 2_000);
    },
  };
}
