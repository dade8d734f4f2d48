/**
 * Invite: credentials issued and sent, reminders, expiry; the portal's sign-in and the profile
 * download move the enrollment on to the install phase.
 */
import type { EnrollmentEvent } from '../../domain/events.js';
import { inviteOpenStatuses } from '../../domain/lifecycle.js';
import { enterManaged } from './managed-phase.js';
import type { Phase } from './phases.js';
import type { EnrollmentRun } from './run.js';

/** Account-driven enrollments a user starts from Settings have no invite to send. */
export const viaInvite = (run: EnrollmentRun) => run.input.channel !== 'account';

/** Credentials, then the state that opens the portal, then the message: a user who taps the link at once finds the portal open. */
export async function sendFirstInvite(run: EnrollmentRun): Promise<void> {
  const { invite } = run.state;
  invite.issued = 1;
  await run.mustSucceed('delivery_unavailable', () => run.call('issueInvite', 'issue the one-time password', run.key('invite:1')));
  await run.moveTo('invited');
  invite.firstAt = Date.now();
  invite.sent = 1;
  await deliver(run, 1, false);
}

async function deliver(run: EnrollmentRun, n: number, reminder: boolean) {
  const summary = reminder ? 'send an invite reminder' : 'send the invite';
  const input = { ...run.key(`deliver:${n}`), reminder };
  // A reminder that fails is reported, never waited on; the invite itself must reach the user.
  if (reminder) await run.bestEffort('invite reminder', () => run.call('deliverInvite', summary, input, 3));
  else await run.mustSucceed('delivery_unavailable', () => run.call('deliverInvite', summary, input));
  run.publish();
}

async function resend(run: EnrollmentRun) {
  const { invite } = run.state;
  invite.issued += 1;
  await run.mustSucceed('delivery_unavailable', () => run.call('issueInvite', 'issue a new one-time password', run.key(`invite:${invite.issued}`)));
  invite.sent += 1;
  await deliver(run, invite.sent, false);
}

/** The enrollment type and ownership the user chose in the portal. */
function recordChoice(run: EnrollmentRun, event: Extract<EnrollmentEvent, { type: 'profile_issued' }>) {
  run.state.enrollmentType = event.enrollmentType;
  run.state.ownership = event.ownership;
}

export const invitePhase: Phase = {
  name: 'invite',
  owns: (run) => run.status === 'created' || inviteOpenStatuses.includes(run.status),
  async handle(run, event) {
    switch (event.type) {
      case 'portal_authenticated':
        await run.moveTo('portal_authenticated');
        return true;
      case 'profile_issued':
        recordChoice(run, event);
        if (run.status === 'portal_authenticated') {
          run.state.install.profileIssuedAt = Date.now();
          await run.moveTo('profile_issued');
        }
        return true;
      case 'resend_requested':
        if (viaInvite(run) && run.status !== 'created') await resend(run);
        return true;
      case 'cancel_requested':
        await run.moveTo('cancelled', event.reason);
        return true;
      default:
        return false;
    }
  },
  deadline(run) {
    const { input, state } = run;
    const expiry = Date.parse(input.inviteExpiresAt);
    const reminderAfter = run.status === 'invited' ? input.reminderAfterMs[state.invite.remindersSent] : undefined;
    if (reminderAfter !== undefined && state.invite.firstAt + reminderAfter < expiry) {
      return {
        at: state.invite.firstAt + reminderAfter,
        what: 'invite reminder',
        fire: async () => {
          state.invite.remindersSent += 1;
          state.invite.sent += 1;
          await deliver(run, state.invite.sent, true);
        },
      };
    }
    return { at: expiry, what: 'invite expiry', fire: () => run.moveTo('expired', 'the invite expired before the profile was downloaded') };
  },
};

/** Install: the profile is on its way to the device; Authenticate and the first TokenUpdate enroll it. */
export const installPhase: Phase = {
  name: 'install',
  owns: (run) => run.status === 'profile_issued' || run.status === 'authenticated',
  async handle(run, event) {
    switch (event.type) {
      case 'profile_issued':
        // The user downloaded the profile again (another device or a retry): the newer choice counts.
        recordChoice(run, event);
        run.publish();
        return true;
      case 'device_authenticated':
        if (run.status === 'profile_issued') await run.moveTo('authenticated');
        return true;
      case 'token_updated':
        // The first TokenUpdate enrolls the device (later ones only refresh the push token).
        if (run.status === 'authenticated') await enterManaged(run);
        return true;
      case 'cancel_requested':
        await run.moveTo('cancelled', event.reason);
        return true;
      default:
        return false;
    }
  },
  deadline(run) {
    return {
      at: run.state.install.profileIssuedAt + run.input.installWindowMs,
      what: 'install window',
      fire: () => run.moveTo('expired', 'the device did not complete enrollment in time after downloading the profile'),
    };
  },
};
