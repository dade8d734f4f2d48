/**
 * Leaving: RemoveProfile sent and confirmed (or the device gone), then everything the enrollment
 * held is forgotten. The final state comes before the mail to the user and the licence release:
 * those are reported when they fail, never waited on.
 */
import { cancelApps } from './managed-phase.js';
import type { Phase } from './phases.js';
import type { EnrollmentRun } from './run.js';

export async function requestRemoval(run: EnrollmentRun, reason: string): Promise<void> {
  run.state.leaving = { requestedAt: Date.now(), reason };
  await run.moveTo('disenrolling', reason);
  await run.mustSucceed('step_failed', () => run.call('queueRemoval', 'queue RemoveProfile', run.key('remove-profile')));
  // The removal window ends the enrollment even if no push gets through.
  await run.bestEffort('RemoveProfile push', () => run.call('pushDevice', 'push the device (RemoveProfile)', run.nextKey('push')));
}

export async function finishDisenrollment(run: EnrollmentRun, reason: string): Promise<void> {
  await cancelApps(run);
  await run.mustSucceed('step_failed', () => run.call('cleanUpEnrollment', 'forget push credentials, identity, tokens and queued commands', { ...run.key('cleanup'), reason }));
  const { attention } = run.state;
  if (attention.identity || Object.keys(attention.apps).length) {
    attention.identity = null;
    attention.apps = {};
    await run.call('recordAttention', 'attention cleared', { ...run.nextKey('attention'), reason: null, detail: null });
  }
  await run.moveTo('disenrolled', reason);
  await run.bestEffort('licence release', () => run.call('releaseLicences', 'release Apps and Books licences', run.key('release-licences')));
  await run.bestEffort('disenrollment notice', () => run.call('notifyDisenrolled', 'tell the user their work data was removed', run.key('notify-disenrolled'), 3));
}

export const leavingPhase: Phase = {
  name: 'leaving',
  owns: (run) => run.status === 'disenrolling',
  async handle(run, event) {
    switch (event.type) {
      case 'checked_out':
      case 'removal_confirmed':
        await finishDisenrollment(run, run.state.leaving.reason || 'the device removed its enrollment profile (CheckOut)');
        return true;
      default:
        return false;
    }
  },
  deadline(run) {
    const { leaving } = run.state;
    return {
      at: leaving.requestedAt + (run.input.removalWindowMs ?? 86_400_000),
      what: 'removal window',
      fire: () =>
        finishDisenrollment(run, `disenrolled (device unreachable): no answer to RemoveProfile within the removal window${leaving.reason ? `; ${leaving.reason}` : ''}`),
    };
  },
};
