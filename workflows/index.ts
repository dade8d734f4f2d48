// Bundle entry for the worker: every workflow type Tandem runs.
export { agentDeploymentWorkflow } from './agent-deployment.js';
export { appDeploymentWorkflow } from './app-deployment.js';
export { enrollmentLifecycleWorkflow } from './enrollment/workflow.js';
// Enrollments started before the lifecycle workflow keep running on their original code.
export { enrollmentWorkflow } from './enrollment.js';
