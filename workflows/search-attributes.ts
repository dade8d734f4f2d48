import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/**
 * Tandem's custom search attributes. They carry states and kinds only, never personal data, so
 * operators can filter in the Temporal UI: `EnrollmentStatus = "invited"`.
 */
export const EnrollmentStatusKey = defineSearchAttributeKey('EnrollmentStatus', SearchAttributeType.KEYWORD);
export const EnrollmentTypeKey = defineSearchAttributeKey('EnrollmentType', SearchAttributeType.KEYWORD);
export const OwnershipKey = defineSearchAttributeKey('Ownership', SearchAttributeType.KEYWORD);
/** Why an enrollment shows `attention` (a code from domain/attention.ts); unset otherwise. */
export const AttentionReasonKey = defineSearchAttributeKey('AttentionReason', SearchAttributeType.KEYWORD);

export const tandemSearchAttributes = [EnrollmentStatusKey, EnrollmentTypeKey, OwnershipKey, AttentionReasonKey];
