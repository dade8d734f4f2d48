import type { EnrollmentActivities } from '../workflows/activity-types.js';
import { enrollmentRecordActivities, type EnrollmentRecordDeps } from './enrollment-records.js';

export type ActivityDeps = EnrollmentRecordDeps;

/** Every activity the worker registers, built from its dependencies (no globals). */
export function createActivities(deps: ActivityDeps): EnrollmentActivities {
  return { ...enrollmentRecordActivities(deps) };
}
