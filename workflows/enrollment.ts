import { condition, proxyActivities, setHandler, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { EnrollmentActivities } from './activity-types.js';
import { EnrollmentMachine, type EnrollmentStatus } from './enrollment-machine.js';
import { enrollmentStatusQuery, type EnrollmentSnapshot, type EnrollmentWorkflowInput } from './messages.js';
import { EnrollmentStatusKey } from './search-attributes.js';

const activities = proxyActivities<EnrollmentActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

/**
 * One enrollment, from invite to its final state. This slice issues the invite and lets it expire;
 * profile, check-in and disenrollment steps join the same machine.
 */
export async function enrollmentWorkflow(input: EnrollmentWorkflowInput): Promise<EnrollmentSnapshot> {
  const machine = new EnrollmentMachine();
  const { workflowId } = workflowInfo();
  const snapshot = (): EnrollmentSnapshot => ({ enrollmentId: input.enrollmentId, status: machine.status });
  setHandler(enrollmentStatusQuery, snapshot);

  const moveTo = async (to: EnrollmentStatus, reason?: string) => {
    const t = machine.moveTo(to, reason);
    await activities.recordTransition({
      enrollmentId: input.enrollmentId,
      from: t.from,
      to: t.to,
      ...(t.reason ? { reason: t.reason } : {}),
      idempotencyKey: `${workflowId}:transition:${t.seq}`,
    });
    upsertSearchAttributes([{ key: EnrollmentStatusKey, value: to }]);
  };

  await activities.issueInvite({ enrollmentId: input.enrollmentId, idempotencyKey: `${workflowId}:invite:1` });
  await moveTo('invited');

  const untilExpiry = Math.max(0, Date.parse(input.inviteExpiresAt) - Date.now());
  if (untilExpiry > 0) await condition(() => machine.status !== 'invited', untilExpiry);
  if (machine.status === 'invited') await moveTo('expired', 'invite expired before the profile was issued');
  return snapshot();
}
