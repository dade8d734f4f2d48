/** Views of the generated capability tables that only the tests read. */
import type { EnrollmentKind } from '../../domain/kinds.js';
import { deviceInformationQueries, restrictions } from '../../mdm/capabilities.js';

/**
 * Restriction keys (com.apple.applicationaccess) that take effect for this kind of enrollment.
 * User-enrolled devices are never supervised, so supervision only widens the device list.
 */
export function allowedRestrictionKeys(kind: EnrollmentKind, options: { supervised?: boolean } = {}): string[] {
  const supervised = kind === 'device' && options.supervised === true;
  return Object.entries(restrictions)
    .filter(([, r]) => (kind === 'user' ? r.userEnrollment === 'allowed' || r.userEnrollment === 'required' : r.userEnrollment !== 'required'))
    .filter(([, r]) => supervised || !r.supervisedOnly)
    .map(([key]) => key);
}

/** DeviceInformation queries a user-enrolled device will not answer (UDID, SerialNumber, IMEI…). */
export function forbiddenDeviceInformationQueries(): string[] {
  return Object.entries(deviceInformationQueries)
    .filter(([, q]) => q.userEnrollment === 'forbidden')
    .map(([query]) => query);
}
