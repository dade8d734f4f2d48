/**
 * `attention`: a failure only a person (or a fixed setting) can clear. The workflow stays open,
 * keeps everything it holds, and resumes on retry or when the cause is fixed.
 */
export const attentionReasons = {
  invite_undeliverable: 'The invite could not be delivered (the mail or SMS provider refused it). Fix the address or the provider, then retry.',
  sms_not_configured: 'The invite is sent by SMS but no SMS provider is configured. Configure one, then retry.',
  delivery_unavailable: 'The mail or SMS provider stayed unreachable. Tandem retries by itself; retry now once it is back.',
  apns_not_configured: 'No APNs push certificate is configured. Upload one (PUT /api/v1/settings/apns); the enrollment resumes by itself.',
  apns_rejected: 'APNs rejected the push (certificate or topic). Upload a valid push certificate; the enrollment resumes by itself.',
  apns_unavailable: 'APNs stayed unreachable. Tandem retries by itself; retry now once it is back.',
  vpp_token_invalid: 'The Apps and Books token is expired or revoked. Upload a new one (PUT /api/v1/settings/vpp); app deployments resume by themselves.',
  vpp_not_configured: 'No Apps and Books token is configured. Upload one (PUT /api/v1/settings/vpp); app deployments resume by themselves.',
  identity_expiring: 'The device identity is about to expire and the device has not installed its renewed identity (or refused it). Make sure the device is online and can reach Tandem; the attention clears when it installs the renewal.',
  step_failed: 'A step failed in a way Tandem cannot retry by itself. Read the detail, fix the cause, then retry.',
} as const;
export type AttentionReason = keyof typeof attentionReasons;

/** Reasons a new push certificate fixes: uploading one resumes these enrollments by itself. */
export const fixedByPushCertificate: readonly AttentionReason[] = ['apns_not_configured', 'apns_rejected', 'apns_unavailable'];
/** Conditions that block no step: a retry cannot clear them, their cause's fix does. */
export const clearedByTheirCause: readonly AttentionReason[] = ['vpp_token_invalid', 'vpp_not_configured', 'identity_expiring'];
/** Reasons that clear by themselves with time: the workflow retries them on a growing timer. */
export const transientReasons: readonly AttentionReason[] = ['delivery_unavailable', 'apns_unavailable'];

/** One short phrase per reason, for the Temporal UI's current details. */
export const attentionShort: Record<AttentionReason, string> = {
  invite_undeliverable: 'invite bounced',
  sms_not_configured: 'SMS is not configured',
  delivery_unavailable: 'mail or SMS provider unreachable',
  apns_not_configured: 'no push certificate',
  apns_rejected: 'APNs rejected the push',
  apns_unavailable: 'APNs unreachable',
  vpp_token_invalid: 'Apps and Books token expired or revoked',
  vpp_not_configured: 'no Apps and Books token',
  identity_expiring: 'device identity about to expire',
  step_failed: 'a step failed',
};
export const describeAttentionShort = (reason: string): string => attentionShort[reason as AttentionReason] ?? reason;

export const describeAttention = (reason: string): string => attentionReasons[reason as AttentionReason] ?? 'Something needs a person: read the detail, then retry.';
