import type { LegacyAppDeploymentActivities, AppActivities, EnrollmentActivities } from '../workflows/activity-types.js';
import { appDeploymentActivities, type AppDeploymentDeps } from './app-deployment.js';
import { deviceCommandActivities, type DeviceCommandDeps } from './device-commands.js';
import { disenrollmentActivities } from './disenrollment.js';
import { enrollmentRecordActivities } from './enrollment-records.js';
import { identityRenewalActivities, type IdentityRenewalDeps } from './identity-renewal.js';
import { inviteDeliveryActivities, type InviteDeliveryDeps } from './invite-delivery.js';
import { policyActivities } from './policies.js';

export type ActivityDeps = InviteDeliveryDeps & DeviceCommandDeps & AppDeploymentDeps & IdentityRenewalDeps;

/** Every activity the worker registers, built from its dependencies (no globals). */
export function createActivities(deps: ActivityDeps): { activities: EnrollmentActivities & LegacyAppDeploymentActivities & AppActivities; close(): Promise<void> } {
  const devices = deviceCommandActivities(deps);
  return {
    activities: {
      ...enrollmentRecordActivities(deps),
      ...inviteDeliveryActivities(deps),
      ...disenrollmentActivities(deps),
      ...policyActivities(deps),
      ...appDeploymentActivities(deps, devices.pushDevice),
      ...identityRenewalActivities(deps),
      queueInitialCommands: devices.queueInitialCommands,
      pushDevice: devices.pushDevice,
      releaseCommand: devices.releaseCommand,
    },
    close: () => devices.close(),
  };
}
