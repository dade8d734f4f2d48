import {
  ActivityFailure,
  allHandlersFinished,
  CancellationScope,
  condition,
  continueAsNew,
  isCancellation,
  proxyActivities,
  setHandler,
  sleep,
  workflowInfo,
} from '@temporalio/workflow';
import type { AppActivities, LicenceOutcome } from './activity-types.js';
import { appEventSignal, appDeploymentDefaults, type AppEvent, type AppDeploymentInput, type AppDeploymentState } from './messages.js';

const activities = proxyActivities<AppActivities>({
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '10 minutes' },
});

/** Device answers that end an attempt (ManagedApplicationList `Status`, InstallApplication `State`). */
const finalDeviceStatus: Record<string, 'installed' | 'denied' | 'failed'> = {
  Managed: 'installed',
  UserRejected: 'denied',
  ManagementRejected: 'denied',
  Failed: 'failed',
};

const failureMessage = (err: ActivityFailure) => err.cause?.message ?? err.message;

/**
 * One Apps and Books app onto one device, for as long as the enrollment lives: a licence, then
 * InstallApplication, then whatever the device answers. The device's answers (InstallApplication
 * results, ManagedApplicationList / InstalledApplicationList) arrive as `device_status` signals
 * through the outbox, once per change; the workflow only re-asks, with a doubling backoff and a
 * bounded count, while the prompt is unanswered, folding the reminder mail into the same step.
 * Waiting for licences reconciles on a slow doubling timer besides the purchase notifications.
 *
 * It never fails: what a person must fix is recorded as the app's status and waits for a "sync"
 * (or new licences, or a new token). Cancelled (disenrollment), it records `cancelled` and returns.
 * Every run continues as new at Temporal's suggestion or at `historyBudget` events, carrying its
 * state and its unhandled signals in one object.
 */
export async function appDeploymentWorkflow(input: AppDeploymentInput): Promise<{ status: string }> {
  const d = {
    approvalWindowMs: input.approvalWindowMs ?? appDeploymentDefaults.approvalWindowMs,
    reminderEveryMs: input.reminderEveryMs ?? appDeploymentDefaults.reminderEveryMs,
    recheckInitialMs: input.recheckInitialMs ?? appDeploymentDefaults.recheckInitialMs,
    recheckMaxMs: input.recheckMaxMs ?? appDeploymentDefaults.recheckMaxMs,
    maxRechecks: input.maxRechecks ?? appDeploymentDefaults.maxRechecks,
    licenceRecheckInitialMs: input.licenceRecheckInitialMs ?? appDeploymentDefaults.licenceRecheckInitialMs,
    historyBudget: input.historyBudget ?? appDeploymentDefaults.historyBudget,
  };
  const { workflowId, runId } = workflowInfo();
  const state: AppDeploymentState = input.carried ?? { keyPrefix: `${workflowId}:${runId}`, attempt: 1, steps: 0, stage: { name: 'license' }, pending: [], run: 1 };
  setHandler(appEventSignal, (event) => void state.pending.push(event));
  const target = { enrollmentId: input.enrollmentId, adamId: input.adamId, bundleId: input.bundleId };
  const key = (step: string) => `${state.keyPrefix}:${step}`;
  const record = (status: string, detail?: string) =>
    activities.recordAppStatus({ ...target, status, ...(detail ? { detail } : {}), idempotencyKey: key(`status:${++state.steps}`) });
  const backoff = (initialMs: number, done: number) => Math.min(initialMs * 2 ** done, d.recheckMaxMs);

  // One timer per deadline, kept across the signals that arrive before it (a timer is an action).
  // Cancellation reaches the waiting condition, so the timer's own rejection is not needed.
  let alarm: { at: number; rang: boolean; ringing: Promise<void> } | undefined;
  const alarmAt = (at: number) => {
    if (alarm?.at !== at) {
      const a: NonNullable<typeof alarm> = { at, rang: false, ringing: Promise.resolve() };
      a.ringing = sleep(at - Date.now()).then(
        () => void (a.rang = true),
        () => undefined,
      );
      alarm = a;
    }
    return alarm.ringing;
  };
  const passed = (at: number) => Date.now() >= at || (alarm?.at === at && alarm.rang);

  /** Waits until `at` (forever when undefined) for an event `accept` takes; the others are dropped. */
  const next = async (at: number | undefined, accept: (e: AppEvent) => boolean): Promise<AppEvent | undefined> => {
    for (;;) {
      while (state.pending.length) {
        const event = state.pending.shift()!;
        if (accept(event)) return event;
      }
      if (at === undefined) await condition(() => state.pending.length > 0);
      else if (passed(at)) return undefined;
      else await Promise.race([alarmAt(at), condition(() => state.pending.length > 0)]);
    }
  };
  const installedNow = (e: AppEvent) => e.type === 'device_status' && e.status === 'Managed';

  const newAttempt = () => {
    state.attempt += 1;
    state.stage = { name: 'license' };
  };

  const afterLicence = async (result: LicenceOutcome) => {
    if (result.outcome === 'assigned') {
      const { commandUuid } = await activities.installApp({ ...target, idempotencyKey: key(`install:${state.attempt}`) });
      const now = Date.now();
      state.stage = { name: 'awaiting_device', installCommandUuid: commandUuid, startedAt: now, rechecks: 0, nextCheckAt: now + d.recheckInitialMs, lastReminderAt: now, deviceStatus: null };
    } else if (result.outcome === 'waiting_for_licences') {
      state.stage = { name: 'waiting_for_licences', checks: 0, nextCheckAt: Date.now() + d.licenceRecheckInitialMs };
    } else {
      // Recorded by the activity (with an attention event for the token cases): a person acts.
      state.stage = { name: 'waiting_for_sync', status: result.outcome, resumeOnLicences: result.outcome !== 'failed' };
    }
  };
  const license = () => activities.licenseApp({ ...target, idempotencyKey: key(`licence:${state.attempt}:${++state.steps}`) });

  /** One step of the current stage; a final status once the deployment is over. */
  const step = async (): Promise<string | undefined> => {
    const stage = state.stage;
    switch (stage.name) {
      case 'license':
        await afterLicence(await license());
        return undefined;

      case 'waiting_for_licences': {
        // Purchases arrive as ASSET_COUNT notifications or the admin's word; the timer reconciles.
        const event = await next(stage.nextCheckAt, (e) => e.type === 'licences_available' || e.type === 'sync' || installedNow(e));
        if (event && installedNow(event)) return 'installed';
        const result = await license();
        if (result.outcome === 'waiting_for_licences') {
          const checks = stage.checks + 1;
          state.stage = { name: 'waiting_for_licences', checks, nextCheckAt: Date.now() + backoff(d.licenceRecheckInitialMs, checks) };
        } else await afterLicence(result);
        return undefined;
      }

      case 'awaiting_device': {
        const deadline = stage.startedAt + d.approvalWindowMs;
        const at = stage.rechecks < d.maxRechecks ? Math.min(stage.nextCheckAt, deadline) : deadline;
        const event = await next(
          at,
          (e) => e.type === 'sync' || (e.type === 'device_status' && (e.installCommandUuid === stage.installCommandUuid || e.status === 'Managed')),
        );
        if (event?.type === 'sync') {
          newAttempt();
          return undefined;
        }
        if (event?.type === 'device_status') {
          // The API recorded the device's answer with the signal; this only decides what comes next.
          const outcome = finalDeviceStatus[event.status];
          if (outcome === 'installed') return 'installed';
          if (outcome) state.stage = { name: 'waiting_for_sync', status: outcome, resumeOnLicences: false };
          else stage.deviceStatus = event.status;
          return undefined;
        }
        if (passed(deadline)) {
          await record('not_approved');
          state.stage = { name: 'waiting_for_sync', status: 'not_approved', resumeOnLicences: false };
          return undefined;
        }
        const remind = (stage.deviceStatus ?? '').startsWith('Prompting') && Date.now() - stage.lastReminderAt >= d.reminderEveryMs;
        stage.rechecks += 1;
        await activities.recheckApp({ ...target, remind, idempotencyKey: key(`recheck:${state.attempt}:${stage.rechecks}`) });
        if (remind) stage.lastReminderAt = Date.now();
        stage.nextCheckAt = Date.now() + backoff(d.recheckInitialMs, stage.rechecks);
        return undefined;
      }

      case 'waiting_for_sync': {
        // Denied, failed, not approved or stuck on the token: recorded, never retried in a loop.
        const event = await next(undefined, (e) => e.type === 'sync' || (stage.resumeOnLicences && e.type === 'licences_available') || installedNow(e));
        if (event && installedNow(event)) return 'installed';
        newAttempt();
        return undefined;
      }
    }
  };

  for (;;) {
    const info = workflowInfo();
    if (info.continueAsNewSuggested || info.historyLength >= d.historyBudget) {
      await condition(allHandlersFinished);
      await continueAsNew<typeof appDeploymentWorkflow>({ ...input, carried: { ...state, run: state.run + 1 } });
    }
    try {
      const status = await step();
      if (status) return { status };
    } catch (err) {
      if (isCancellation(err)) {
        // Disenrolled meanwhile: the enrollment cancels this deployment; leave a clean record.
        await CancellationScope.nonCancellable(() => record('cancelled'));
        return { status: 'cancelled' };
      }
      if (!(err instanceof ActivityFailure)) throw err;
      await record('failed', failureMessage(err));
      state.stage = { name: 'waiting_for_sync', status: 'failed', resumeOnLicences: false };
    }
  }
}
