/**
 * Managed: the device holds the profile. Policies and apps, admin actions, reachability (contact
 * checks, APNs 410), and the device identity renewed before it expires. Lasts years.
 */
import {
  ChildWorkflowCancellationType,
  getExternalWorkflowHandle,
  ParentClosePolicy,
  startChild,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError, WorkflowIdReusePolicy } from '@temporalio/common';
import { isManaged } from '../../domain/lifecycle.js';
import { appDeploymentWorkflowId } from '../../domain/workflow-ids.js';
import { agentDefaults, appEventSignal, type AppEvent } from '../messages.js';
import { finishDisenrollment, requestRemoval } from './leaving-phase.js';
import type { Deadline, Phase } from './phases.js';
import type { EnrollmentRun } from './run.js';
import type { AppRef } from './state.js';

/** The app deployment workflow type new deployments run (a child, abandoned on close so it outlives continue-as-new). */
export const APP_DEPLOYMENT_WORKFLOW = 'appDeploymentWorkflow';

const day = 86_400_000;

/** An APNs push so the device checks in; 410 Unregistered makes an enrolled device inactive. */
export async function push(run: EnrollmentRun, why: string): Promise<void> {
  const { outcome } = await run.mustSucceed('apns_unavailable', () => run.call('pushDevice', `push the device (${why})`, run.nextKey('push')));
  if (outcome === 'unregistered' && run.status === 'enrolled') await becomeInactive(run, 'APNs reports the device token as Unregistered (410)', true);
}

async function becomeInactive(run: EnrollmentRun, reason: string, unregistered: boolean) {
  const { managed } = run.state;
  managed.inactiveSince = Date.now();
  managed.unregistered = unregistered;
  await run.mustSucceed('step_failed', () => run.call('markInactive', 'mark the device inactive', { ...run.key(`inactive:${managed.inactiveSince}`), reason }));
  await run.moveTo('inactive', reason);
}

/** The first TokenUpdate: enrolled. Baseline commands, policies, the identity's schedule, the agent app. */
export async function enterManaged(run: EnrollmentRun): Promise<void> {
  const { managed } = run.state;
  await run.moveTo('enrolled');
  managed.nextContactCheckAt = Date.now() + (run.input.inactiveAfterMs ?? 30 * day);
  await run.mustSucceed('step_failed', () => run.call('queueInitialCommands', 'queue SecurityInfo and DeviceInformation', run.key('initial-commands')));
  const { apps } = await run.mustSucceed('step_failed', () => run.call('applyPolicies', 'apply the policies', run.key('policies:0')));
  await push(run, 'initial commands');
  await scheduleRenewal(run);
  managed.agent = await run.mustSucceed('step_failed', () => run.call('agentConfig', 'read the agent app configuration', run.key('agent-config')));
  if (managed.agent) await startApp(run, managed.agent);
  for (const app of apps ?? []) await startApp(run, app);
}

/** Starts an app deployment; one already running for this app is asked to sync instead. */
async function startApp(run: EnrollmentRun, target: AppRef): Promise<void> {
  const { managed } = run.state;
  const workflowId = appDeploymentWorkflowId(run.input.enrollmentId, target.adamId);
  if (!managed.apps.some((a) => a.adamId === target.adamId)) managed.apps.push(target);
  try {
    await startChild(APP_DEPLOYMENT_WORKFLOW, {
      workflowId,
      args: [{ enrollmentId: run.input.enrollmentId, adamId: target.adamId, bundleId: target.bundleId, ...(run.input.agent ?? agentDefaults) }],
      // The parent continues as new for years: its children must not be cancelled when a run closes.
      parentClosePolicy: ParentClosePolicy.ABANDON,
      cancellationType: ChildWorkflowCancellationType.ABANDON,
      workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
      staticSummary: `app deployment (Apps and Books ${target.adamId})`,
    });
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    await signalApp(run, target.adamId, { type: 'sync' });
  }
  run.publish();
}

/** Signals a deployment by id (whichever run is current); one that has finished is left alone. */
async function signalApp(run: EnrollmentRun, adamId: string, event: AppEvent): Promise<void> {
  try {
    await getExternalWorkflowHandle(appDeploymentWorkflowId(run.input.enrollmentId, adamId)).signal(appEventSignal, event);
  } catch {
    // closed: nothing waits for this event
  }
}

/** Cancels every app deployment (disenrollment); each records `cancelled` itself. */
export async function cancelApps(run: EnrollmentRun): Promise<void> {
  for (const app of run.state.managed.apps) {
    try {
      await getExternalWorkflowHandle(appDeploymentWorkflowId(run.input.enrollmentId, app.adamId)).cancel();
    } catch {
      // already finished
    }
  }
}

/** Learns the bound identity's life and when to renew it (TANDEM_IDENTITY_RENEW_AT of its life). */
async function scheduleRenewal(run: EnrollmentRun): Promise<void> {
  const status = await run.mustSucceed('step_failed', () => run.call('identityStatus', 'read the device identity', run.nextKey('identity-status')));
  const previous = run.state.managed.identity;
  run.state.managed.identity = { renewAt: Date.parse(status.renewAt), expiresAt: Date.parse(status.expiresAt), renewals: previous?.renewals ?? 0, pendingSince: 0 };
}

/** Past this point of an identity's life without the device installing the renewal, a person should look. */
const attentionAt = (identity: { renewAt: number; expiresAt: number }) => identity.renewAt + (identity.expiresAt - identity.renewAt) / 2;
/** How often a pending renewal is pushed again (the device may have been offline). */
const renewalRepushMs = (identity: { renewAt: number; expiresAt: number }) => Math.min(day, Math.max(60_000, (identity.expiresAt - identity.renewAt) / 8));

async function renewIdentity(run: EnrollmentRun): Promise<void> {
  const identity = run.state.managed.identity!;
  await run.mustSucceed('step_failed', () => run.call('renewIdentity', 'issue a renewed device identity', run.nextKey('renew-identity')));
  identity.pendingSince = Date.now();
  identity.refusals = 0;
  await push(run, 'identity renewal');
}

function identityDeadlines(run: EnrollmentRun): Deadline[] {
  const identity = run.state.managed.identity;
  if (!identity) return [];
  if (!identity.pendingSince) return [{ at: identity.renewAt, what: 'identity renewal', fire: () => renewIdentity(run) }];
  const deadlines: Deadline[] = [];
  if (!run.state.attention.identity) {
    deadlines.push({
      at: attentionAt(identity),
      what: 'identity expiry warning',
      fire: () => run.setCondition('identity', { reason: 'identity_expiring', detail: `expires ${new Date(identity.expiresAt).toISOString()}`, since: Date.now() }),
    });
  }
  const refusals = identity.refusals ?? 0;
  // A refused renewal is issued again on a backoff (doubling per refusal), a pending one pushed again.
  const repushAt = identity.pendingSince + renewalRepushMs(identity) * 2 ** Math.min(refusals, 6);
  if (repushAt < identity.expiresAt) {
    deadlines.push({
      at: repushAt,
      what: refusals ? 'identity renewal, issued again' : 'identity renewal reminder push',
      fire: async () => {
        if (refusals) {
          await renewIdentity(run);
          return;
        }
        identity.pendingSince = Date.now();
        await push(run, 'identity renewal, again');
      },
    });
  }
  // Expired without the device installing the renewal: the device can no longer reach Tandem (it is
  // refused, and unenrolls itself). Inactive, then disenrolled after the unreachable grace period.
  if (run.status === 'enrolled' || !run.state.managed.unregistered) {
    deadlines.push({
      at: identity.expiresAt,
      what: 'identity expiry',
      fire: async () => {
        if (run.status === 'enrolled') await becomeInactive(run, 'the device identity expired before the device installed its renewal', true);
        else run.state.managed.unregistered = true;
        run.state.managed.inactiveSince ||= Date.now();
      },
    });
  }
  return deadlines;
}

export const managedPhase: Phase = {
  name: 'managed',
  owns: (run) => isManaged(run.status),
  async handle(run, event) {
    const { managed } = run.state;
    switch (event.type) {
      case 'token_updated':
        return true; // later TokenUpdates only refresh the push token (stored by the API)
      case 'app_install_requested':
        await startApp(run, { adamId: event.adamId, bundleId: event.bundleId });
        return true;
      case 'licences_available':
        for (const app of managed.apps) await signalApp(run, app.adamId, { type: 'licences_available' });
        return true;
      case 'agent_sync':
        managed.agent ??= await run.mustSucceed('step_failed', () => run.call('agentConfig', 'read the agent app configuration', run.nextKey('agent-config')));
        for (const app of managed.apps) if (app.adamId !== managed.agent?.adamId) await signalApp(run, app.adamId, { type: 'sync' });
        if (managed.agent) await startApp(run, managed.agent);
        return true;
      case 'policies_changed': {
        managed.policyRounds += 1;
        const { queued, apps } = await run.mustSucceed('step_failed', () => run.call('applyPolicies', 'apply the changed policies', run.key(`policies:${managed.policyRounds}`)));
        if (queued) await push(run, 'policy commands');
        for (const app of apps ?? []) if (!managed.apps.some((a) => a.adamId === app.adamId)) await startApp(run, app);
        run.publish();
        return true;
      }
      case 'device_seen':
        if (run.status === 'inactive') {
          await run.mustSucceed('step_failed', () => run.call('markInactive', 'mark the device active', { ...run.key(`active:${Date.now()}`), reason: null }));
          managed.nextContactCheckAt = Date.now() + (run.input.inactiveAfterMs ?? 30 * day);
          await run.moveTo('enrolled', 'the device checked in again');
        }
        return true;
      case 'app_attention':
        await run.setCondition({ app: event.adamId }, { reason: event.reason, detail: `app ${event.adamId}`, since: Date.now() });
        return true;
      case 'app_attention_cleared':
        await run.setCondition({ app: event.adamId }, null);
        return true;
      case 'identity_renewed':
        if (managed.identity) managed.identity.renewals += 1;
        await scheduleRenewal(run);
        if (run.state.attention.identity) await run.setCondition('identity', null);
        run.publish();
        return true;
      case 'identity_renewal_failed':
        // The device refused the renewal's InstallProfile: a new one goes out at the next reminder,
        // never at once (a device that always refuses must not drive a loop); refused three times,
        // a person should look.
        if (managed.identity?.pendingSince) {
          managed.identity.refusals = (managed.identity.refusals ?? 0) + 1;
          if (managed.identity.refusals >= 3 && !run.state.attention.identity) {
            await run.setCondition('identity', { reason: 'identity_expiring', detail: `the device refused the renewed profile ${managed.identity.refusals} times`, since: Date.now() });
          }
        }
        return true;
      case 'disenroll_requested':
        await requestRemoval(run, event.reason);
        return true;
      case 'checked_out':
        await finishDisenrollment(run, run.state.leaving.reason || 'the device removed its enrollment profile (CheckOut)');
        return true;
      default:
        return false;
    }
  },
  deadline(run) {
    const { managed } = run.state;
    const inactiveAfterMs = run.input.inactiveAfterMs ?? 30 * day;
    const unreachableGraceMs = run.input.unreachableGraceMs ?? 7 * day;
    const deadlines: Deadline[] = [];
    if (run.status === 'inactive' && managed.unregistered) {
      deadlines.push({
        at: managed.inactiveSince + unreachableGraceMs,
        what: 'unreachable grace',
        fire: () => finishDisenrollment(run, 'disenrolled (device unreachable): APNs reported the device Unregistered and it never checked in again'),
      });
    }
    if (run.status === 'enrolled') {
      deadlines.push({
        at: managed.nextContactCheckAt,
        what: 'contact check',
        fire: async () => {
          const { lastSeenAt } = await run.mustSucceed('step_failed', () => run.call('lastContact', 'read when the device last checked in', run.key(`contact-check:${managed.nextContactCheckAt}`)));
          const last = lastSeenAt ? Date.parse(lastSeenAt) : 0;
          if (Date.now() - last >= inactiveAfterMs) await becomeInactive(run, `no contact for ${Math.round(inactiveAfterMs / day)} days`, false);
          else managed.nextContactCheckAt = last + inactiveAfterMs;
        },
      });
    }
    deadlines.push(...identityDeadlines(run));
    return deadlines.sort((a, b) => a.at - b.at)[0];
  },
};
