/** Workflow ids: deterministic, so any layer can address an enrollment's workflows. */
export const enrollmentWorkflowId = (enrollmentId: string) => `enrollment/${enrollmentId}`;
/** One deployment per app and enrollment: the agent app and any other Apps and Books app. */
export const appDeploymentWorkflowId = (enrollmentId: string, adamId: string) => `app/${enrollmentId}/${adamId}`;
