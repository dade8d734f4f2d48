/**
 * The context each sealed value is bound to (AES-GCM additional data): its name or its row. A
 * sealed value copied to another row fails to open. One list, so re-keying finds every column.
 */
export const secretSealContext = (name: string) => `secret:${name}`;
export const inviteSealContext = (enrollmentId: string) => `invite-otp:${enrollmentId}`;
export const pushTokenContext = (deviceId: string) => `device-push-token:${deviceId}`;
export const pushMagicContext = (deviceId: string) => `device-push-magic:${deviceId}`;
export const commandSealContext = (commandUuid: string) => `command:${commandUuid}`;
export const policySealContext = (policyId: string) => `policy:${policyId}`;
