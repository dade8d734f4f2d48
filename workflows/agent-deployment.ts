import { CancellationScope, condition, isCancellation, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { LegacyAppDeploymentActivities } from './activity-types.js';
import { appEventSignal, type AppDeploymentBaseInput, type AppEvent } from './messages.js';

const activities = proxyActivities<LegacyAppDeploymentActivities>({
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '10 minutes', nonRetryableErrorTypes: ['NoLicences', 'VppTokenInvalid', 'VppRejected'] },
});

/** Device statuses that end an attempt (ManagedApplicationList `Status`). */
const finalDeviceStatus: Record<string, 'installed' | 'denied' | 'failed'> = { Managed: 'installed', UserRejected: 'denied', Failed: 'failed' };

const failureType = (err: unknown) => (err as { cause?: { type?: string } }).cause?.type;
const failureMessage = (err: unknown) => (err as { cause?: { message?: string } }).cause?.message ?? (err as Error).message;

/**
 * The agent app onto one device: a user licence from Apps and Books, InstallApplication, then
 * ManagedApplicationList polling (backing off, a push each time) until the user approves
 * (installed), declines (denied), or the install fails. Denied, failed, unlicensed or
 * unapproved deployments wait for the admin's "sync" (or purchased licences) instead of looping.
 */
export async function agentDeploymentWorkflow(input: AppDeploymentBaseInput): Promise<{ status: string }> {
  const { workflowId } = workflowInfo();
  const events: AppEvent[] = [];
  setHandler(appEventSignal, (event) => void events.push(event));
  const target = { enrollmentId: input.enrollmentId, adamId: input.adamId, bundleId: input.bundleId };
  let seq = 0;
  const key = (step: string) => `${workflowId}:${step}`;
  const record = (status: string, detail?: string) =>
    activities.recordAppStatus({ ...target, status, ...(detail ? { detail } : {}), idempotencyKey: key(`status:${++seq}`) });
  /** Waits for one of these events (or the timeout) and consumes the queue. */
  const waitFor = async (types: AppEvent['type'][], timeoutMs?: number) => {
    const arrived = () => events.some((e) => types.includes(e.type));
    if (timeoutMs === undefined) await condition(arrived);
    else await condition(arrived, timeoutMs);
    events.splice(0);
  };

  try {
    for (let attempt = 1; ; attempt++) {
      await record('licensing');
      try {
        await activities.assignLicence({ ...target, idempotencyKey: key(`licence:${attempt}`) });
      } catch (err) {
        const type = failureType(err);
        if (type === 'NoLicences') {
          await record('waiting_for_licences');
          // Purchased licences arrive as an admin action or an ASSET_COUNT notification; a slow
          // re-check reconciles if neither comes.
          await waitFor(['licences_available', 'sync'], input.pollMaxMs * 6);
          continue;
        }
        if (type === 'VppTokenInvalid' || type === 'VppRejected') {
          await record(type === 'VppTokenInvalid' ? 'vpp_token_invalid' : 'failed', failureMessage(err));
          await waitFor(['sync', 'licences_available']);
          continue;
        }
        throw err;
      }

      const { commandUuid: installCommandUuid } = await activities.queueAppInstall({ ...target, idempotencyKey: key(`install:${attempt}`) });
      await activities.pushDevice({ enrollmentId: input.enrollmentId, idempotencyKey: key(`push:install:${attempt}`) });
      await record('installing');

      const startedAt = Date.now();
      let lastReminderAt = startedAt;
      let delay = input.pollInitialMs;
      const seen = new Set<string>();
      let outcome: 'installed' | 'denied' | 'failed' | 'not_approved' | 'sync' | undefined;
      for (let check = 1; !outcome; check++) {
        await condition(() => events.some((e) => e.type === 'sync'), delay);
        if (events.some((e) => e.type === 'sync')) {
          outcome = 'sync';
          break;
        }
        const { deviceStatus } = await activities.checkAppStatus({ ...target, installCommandUuid, idempotencyKey: key(`check:${attempt}:${check}`) });
        await activities.pushDevice({ enrollmentId: input.enrollmentId, idempotencyKey: key(`push:check:${attempt}:${check}`) });
        if (deviceStatus && finalDeviceStatus[deviceStatus]) {
          outcome = finalDeviceStatus[deviceStatus];
          break;
        }
        if (deviceStatus && !seen.has(deviceStatus)) {
          seen.add(deviceStatus); // transient statuses are recorded the first time they are seen
          await record(deviceStatus.startsWith('Prompting') ? 'prompting' : 'installing', deviceStatus);
        }
        if (deviceStatus?.startsWith('Prompting') && Date.now() - lastReminderAt >= input.reminderEveryMs) {
          lastReminderAt = Date.now();
          await activities.remindAppApproval({ ...target, idempotencyKey: key(`reminder:${attempt}:${check}`) });
        }
        if (Date.now() - startedAt >= input.approvalWindowMs) outcome = 'not_approved';
        delay = Math.min(delay * 2, input.pollMaxMs);
      }
      events.splice(0);
      if (outcome === 'sync') continue;
      await record(outcome);
      if (outcome === 'installed') return { status: 'installed' };
      // Denied, failed or never approved: recorded, not retried in a loop. The admin may sync.
      await waitFor(['sync']);
    }
  } catch (err) {
    // Disenrolled meanwhile: the parent cancels this deployment; leave a clean record.
    if (isCancellation(err)) await CancellationScope.nonCancellable(() => record('cancelled'));
    throw err;
  }
}
