import {
  allHandlersFinished,
  ApplicationFailure,
  CancellationScope,
  condition,
  log,
  ChildWorkflowCancellationType,
  ParentClosePolicy,
  patched,
  proxyActivities,
  startChild,
  type ChildWorkflowHandle,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { isCommandAllowed } from '../mdm/capabilities.js';
import { agentDeploymentWorkflow } from './agent-deployment.js';
import type { EnrollmentActivities } from './activity-types.js';
import { EnrollmentMachine, inviteOpenStatuses, type EnrollmentStatus } from './enrollment-machine.js';
import {
  adminActionUpdate,
  agentDefaults,
  appEventSignal,
  appDeploymentWorkflowId,
  enrollmentEventSignal,
  enrollmentStatusQuery,
  type EnrollmentEvent,
  type EnrollmentKind,
  type EnrollmentSnapshot,
  type EnrollmentWorkflowInput,
  lifecycleDefaults,
} from './messages.js';
import { EnrollmentStatusKey, EnrollmentTypeKey, OwnershipKey } from './search-attributes.js';

const retry = { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '5 minutes' };
/** Mail, SMS, APNs and Apps and Books: the providers' own timeouts come first. */
const external = proxyActivities<EnrollmentActivities>({ startToCloseTimeout: '1 minute', retry });
/**
 * Database-only steps take milliseconds. A short timeout bounds how long an enrollment waits when
 * the worker running one dies (its completion never arrives): seconds, not a minute.
 */
const records = proxyActivities<EnrollmentActivities>({ startToCloseTimeout: '15 seconds', retry });


/**
 * One enrollment, from invite to its final state. Events (portal, device, admin) arrive as one
 * signal type and are handled in order by the main loop; timers drive reminders and expiry.
 */
export async function enrollmentWorkflow(input: EnrollmentWorkflowInput): Promise<EnrollmentSnapshot> {
  const machine = new EnrollmentMachine();
  const { workflowId } = workflowInfo();
  // Account-driven enrollments a user starts from Settings have no invite to send.
  const viaInvite = input.channel !== 'account';
  const events: EnrollmentEvent[] = [];
  let enrollmentType: EnrollmentKind | null = input.enrollmentType;
  let ownership: string = input.ownership === 'user_choice' ? 'undecided' : input.ownership;
  let invitesIssued = 0;
  let invitesSent = 0;
  let remindersSent = 0;
  let firstInviteAt = 0;
  let profileIssuedAt = 0;
  // Disenrollment and reachability (histories recorded before these existed use the defaults).
  const removalWindowMs = input.removalWindowMs ?? lifecycleDefaults.removalWindowMs;
  const unreachableGraceMs = input.unreachableGraceMs ?? lifecycleDefaults.unreachableGraceMs;
  const inactiveAfterMs = input.inactiveAfterMs ?? lifecycleDefaults.inactiveAfterMs;
  let removalRequestedAt = 0;
  let disenrollReason = '';
  let inactiveSince = 0;
  let inactiveBecauseUnregistered = false;
  let nextContactCheckAt = 0;
  let policyRounds = 0;
  // App deployments (the agent app and any other) run as children in one scope, cancelled on disenrollment.
  const apps = new Map<string, { handle: ChildWorkflowHandle<typeof agentDeploymentWorkflow>; running: boolean }>();
  let agentTarget: { adamId: string; bundleId: string } | null = null;
  const appScope = new CancellationScope();
  const anyAppRunning = () => [...apps.values()].some((a) => a.running);

  const snapshot = (): EnrollmentSnapshot => ({ enrollmentId: input.enrollmentId, status: machine.status, enrollmentType, invitesSent });
  setHandler(enrollmentStatusQuery, snapshot);
  setHandler(enrollmentEventSignal, (event) => void events.push(event));

  const key = (step: string) => ({ enrollmentId: input.enrollmentId, idempotencyKey: `${workflowId}:${step}` });

  setHandler(
    adminActionUpdate,
    async ({ commandUuid }) => {
      await records.releaseCommand({ ...key(`command:${commandUuid}`), commandUuid });
      await external.pushDevice(key(`push:${commandUuid}`));
      return { commandUuid, status: 'queued' as const };
    },
    {
      // Refuses, before anything is recorded or sent, what this enrollment may not receive.
      validator: ({ requestType, supervised }) => {
        if (machine.status !== 'enrolled') throw ApplicationFailure.nonRetryable(`The device is not enrolled (it is ${machine.status}).`, 'not_enrolled');
        const decision = isCommandAllowed(requestType, { kind: enrollmentType ?? 'device', supervised: enrollmentType === 'user' ? false : supervised });
        if (!decision.allowed) throw ApplicationFailure.nonRetryable(decision.message, decision.code, { schema: decision.schema });
      },
    },
  );

  const moveTo = async (to: EnrollmentStatus, reason?: string) => {
    const t = machine.moveTo(to, reason);
    await records.recordTransition({ ...key(`transition:${t.seq}`), from: t.from, to: t.to, ...(t.reason ? { reason: t.reason } : {}) });
    upsertSearchAttributes([
      { key: EnrollmentStatusKey, value: to },
      { key: EnrollmentTypeKey, value: enrollmentType ?? 'undecided' },
      { key: OwnershipKey, value: ownership },
    ]);
  };

  const sendInvite = async (reminder: boolean) => {
    if (!reminder) {
      invitesIssued += 1;
      await records.issueInvite(key(`invite:${invitesIssued}`));
    }
    invitesSent += 1;
    await external.deliverInvite({ ...key(`deliver:${invitesSent}`), reminder });
  };

  const becomeInactive = async (reason: string, unregistered: boolean) => {
    inactiveSince = Date.now();
    inactiveBecauseUnregistered = unregistered;
    await records.markInactive({ ...key(`inactive:${inactiveSince}`), reason });
    await moveTo('inactive', reason);
  };

  /** APNs 410: the device is gone from APNs, most often because it removed the profile. */
  const afterPush = async ({ outcome }: { outcome: string }) => {
    if (outcome === 'unregistered' && machine.status === 'enrolled') await becomeInactive('APNs reports the device token as Unregistered (410)', true);
  };

  /** Deploys an app through Apps and Books as a child; a deployment already running is asked to sync. */
  const startApp = async (target: { adamId: string; bundleId: string }) => {
    const existing = apps.get(target.adamId);
    if (existing?.running) {
      await existing.handle.signal(appEventSignal, { type: 'sync' });
      return;
    }
    const handle = await appScope.run(() =>
      startChild(agentDeploymentWorkflow, {
        workflowId: appDeploymentWorkflowId(input.enrollmentId, target.adamId),
        args: [{ enrollmentId: input.enrollmentId, adamId: target.adamId, bundleId: target.bundleId, ...(input.agent ?? agentDefaults) }],
        parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
        cancellationType: ChildWorkflowCancellationType.WAIT_CANCELLATION_COMPLETED,
      }),
    );
    const current = { handle, running: true };
    apps.set(target.adamId, current);
    void handle.result().then(
      () => void (current.running = false),
      () => void (current.running = false),
    );
  };

  /** Cleanup first (it must happen even if this workflow is cancelled), then the final state. */
  const finishDisenrollment = async (reason: string) => {
    if (anyAppRunning()) {
      appScope.cancel(); // a deployment waiting for approval ends cleanly
      await condition(() => !anyAppRunning());
    }
    await CancellationScope.nonCancellable(async () => {
      await records.cleanUpEnrollment({ ...key('cleanup'), reason });
      if (patched('release-licences')) await external.releaseLicences(key('release-licences'));
      await external.notifyDisenrolled(key('notify-disenrolled'));
    });
    await moveTo('disenrolled', reason);
  };

  const handle = async (event: EnrollmentEvent) => {
    const status = machine.status;
    switch (event.type) {
      case 'portal_authenticated':
        if (status === 'invited' || status === 'created') await moveTo('portal_authenticated');
        return;
      case 'profile_issued':
        enrollmentType = event.enrollmentType;
        ownership = event.ownership;
        if (status === 'portal_authenticated') {
          profileIssuedAt = Date.now();
          await moveTo('profile_issued');
        }
        return;
      case 'device_authenticated':
        if (status === 'profile_issued') await moveTo('authenticated');
        return;
      case 'token_updated':
        if (status !== 'authenticated') return; // later TokenUpdates only refresh the push token
        await moveTo('enrolled');
        nextContactCheckAt = Date.now() + inactiveAfterMs;
        await records.queueInitialCommands(key('initial-commands'));
        // Policies arrived after the first enrollments ran: older histories never applied them here.
        const requiredApps = patched('policies') ? (await records.applyPolicies(key('policies:0'))).apps : undefined;
        await afterPush(await external.pushDevice(key('push:initial-commands')));
        if (patched('agent-deployment')) {
          agentTarget = await records.agentConfig(key('agent-config'));
          if (agentTarget) await startApp(agentTarget);
          for (const app of requiredApps ?? []) await startApp(app);
        }
        return;
      case 'app_install_requested':
        if (status === 'enrolled' || status === 'inactive') await startApp({ adamId: event.adamId, bundleId: event.bundleId });
        return;
      case 'agent_sync':
      case 'licences_available':
        if (status !== 'enrolled' && status !== 'inactive') return;
        for (const app of apps.values()) {
          if (app.running) await app.handle.signal(appEventSignal, { type: event.type === 'agent_sync' ? 'sync' : 'licences_available' });
        }
        if (event.type === 'agent_sync') {
          agentTarget ??= await records.agentConfig(key(`agent-config:${Date.now()}`));
          if (agentTarget && !apps.get(agentTarget.adamId)?.running) await startApp(agentTarget);
        }
        return;
      case 'checked_out':
        if (machine.canMoveTo('disenrolled')) await finishDisenrollment(disenrollReason || 'the device removed its enrollment profile (CheckOut)');
        return;
      case 'removal_confirmed':
        if (status === 'disenrolling') await finishDisenrollment(disenrollReason);
        return;
      case 'disenroll_requested':
        if (status === 'enrolled' || status === 'inactive') {
          disenrollReason = event.reason;
          removalRequestedAt = Date.now();
          await moveTo('disenrolling', event.reason);
          await records.queueRemoval(key('remove-profile'));
          await external.pushDevice(key('push:remove-profile'));
        }
        return;
      case 'policies_changed':
        if (status === 'enrolled' || status === 'inactive') {
          policyRounds += 1;
          const { queued, apps: requiredApps } = await records.applyPolicies(key(`policies:${policyRounds}`));
          if (queued) await afterPush(await external.pushDevice(key(`push:policies:${policyRounds}`)));
          for (const app of requiredApps ?? []) if (!apps.has(app.adamId)) await startApp(app);
        }
        return;
      case 'device_seen':
        if (status === 'inactive') {
          await records.markInactive({ ...key(`active:${Date.now()}`), reason: null });
          nextContactCheckAt = Date.now() + inactiveAfterMs;
          await moveTo('enrolled', 'the device checked in again');
        }
        return;
      case 'resend_requested':
        if (viaInvite && inviteOpenStatuses.includes(status)) await sendInvite(false);
        return;
      case 'cancel_requested':
        if (machine.canMoveTo('cancelled')) await moveTo('cancelled', event.reason);
        return;
    }
  };

  /** The next timer this state waits for, as an absolute time (ms), or undefined for none. */
  type Deadline = 'reminder' | 'invite_expiry' | 'install_window' | 'removal_window' | 'unreachable_grace' | 'contact_check';
  const nextDeadline = (): { at: number; what: Deadline } | undefined => {
    const status = machine.status;
    if (inviteOpenStatuses.includes(status) || status === 'created') {
      const expiry = Date.parse(input.inviteExpiresAt);
      const reminderAt = status === 'invited' ? input.reminderAfterMs[remindersSent] : undefined;
      if (reminderAt !== undefined && firstInviteAt + reminderAt < expiry) return { at: firstInviteAt + reminderAt, what: 'reminder' };
      return { at: expiry, what: 'invite_expiry' };
    }
    if (status === 'profile_issued' || status === 'authenticated') return { at: profileIssuedAt + input.installWindowMs, what: 'install_window' };
    if (status === 'disenrolling') return { at: removalRequestedAt + removalWindowMs, what: 'removal_window' };
    if (status === 'inactive' && inactiveBecauseUnregistered) return { at: inactiveSince + unreachableGraceMs, what: 'unreachable_grace' };
    // Introduced after the first enrollments ran: older histories wait on events only.
    if (status === 'enrolled' && patched('inactivity-check')) return { at: nextContactCheckAt, what: 'contact_check' };
    return undefined;
  };

  if (viaInvite) {
    // Credentials first, then the state that opens the portal, then the message: a user who taps
    // the link the moment it arrives finds the portal open.
    invitesIssued = 1;
    await records.issueInvite(key('invite:1'));
    await moveTo('invited');
    firstInviteAt = Date.now();
    invitesSent = 1;
    await external.deliverInvite({ ...key('deliver:1'), reminder: false });
  }

  while (!machine.isFinal) {
    const deadline = nextDeadline();
    const wait = deadline ? Math.max(0, deadline.at - Date.now()) : undefined;
    if (events.length === 0) {
      if (wait === undefined) await condition(() => events.length > 0);
      else if (wait > 0) await condition(() => events.length > 0, wait);
    }
    if (events.length) {
      await handle(events.shift()!);
      continue;
    }
    if (!deadline) continue;
    if (deadline.what === 'reminder') {
      remindersSent += 1;
      await sendInvite(true);
    } else if (deadline.what === 'invite_expiry') {
      await moveTo('expired', 'the invite expired before the profile was downloaded');
    } else if (deadline.what === 'install_window') {
      await moveTo('expired', 'the device did not complete enrollment in time after downloading the profile');
    } else if (deadline.what === 'removal_window') {
      await finishDisenrollment(`disenrolled (device unreachable): no answer to RemoveProfile within the removal window${disenrollReason ? `; ${disenrollReason}` : ''}`);
    } else if (deadline.what === 'unreachable_grace') {
      await finishDisenrollment('disenrolled (device unreachable): APNs reported the device Unregistered and it never checked in again');
    } else {
      const { lastSeenAt } = await records.lastContact(key(`contact-check:${nextContactCheckAt}`));
      const last = lastSeenAt ? Date.parse(lastSeenAt) : 0;
      if (Date.now() - last >= inactiveAfterMs) await becomeInactive(`no contact for ${Math.round(inactiveAfterMs / 86_400_000)} days`, false);
      else nextContactCheckAt = last + inactiveAfterMs;
    }
  }
  await condition(allHandlersFinished);
  log.info('enrollment finished', { status: machine.status });
  return snapshot();
}
