// Bundle entry for the worker: every workflow type Tandem runs.
export { agentDeploymentWorkflow } from './agent-deployment.js';
export { appDeploymentWorkflow } from './app-deployment.js';
export { enrollmentWorkflow } from './enrollment.js';
