// Bundle entry for the worker: every workflow type Tandem runs.
export { enrollmentWorkflow } from './enrollment.js';
