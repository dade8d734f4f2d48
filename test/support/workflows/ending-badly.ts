/** Workflows that end the ways the e2e suites' final check must catch (bundled by its own test). */
import { ApplicationFailure, condition } from '@temporalio/workflow';

export async function failingWorkflow(): Promise<never> {
  throw ApplicationFailure.nonRetryable('the licence server said no', 'LicenceRefused');
}

/** Never ends by itself: it is terminated, or times out. */
export async function waitingWorkflow(): Promise<void> {
  await condition(() => false);
}

export async function finishingWorkflow(): Promise<string> {
  return 'done';
}
