/**
 * The run's current details for the Temporal UI (`setCurrentDetails`): what the enrollment waits
 * for, since when, and what it has tried. States, counts and times only, never personal data.
 */
import { describeAttentionShort } from '../../domain/attention.js';
import { enrollmentKindLabel } from '../../domain/kinds.js';
import { shownAttention, type EnrollmentState } from './state.js';

const at = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

export function describeRun(state: EnrollmentState, now: number): string {
  const lines = [`${enrollmentKindLabel(state.enrollmentType)}, ${state.ownership} · run ${state.run}`];
  const attention = shownAttention(state);
  if (attention) lines.push(`attention: ${describeAttentionShort(String(attention.reason))}${attention.detail ? ` (${attention.detail})` : ''} since ${at(attention.since)}`);
  const { invite, managed } = state;
  switch (state.status) {
    case 'created':
      lines.push('starting');
      break;
    case 'invited':
    case 'portal_authenticated':
      lines.push(
        `${state.status === 'invited' ? 'waiting for the user to open the invite' : 'the user signed in; waiting for the profile download'} since ${at(invite.firstAt || now)}, ${invite.sent} invite message${invite.sent === 1 ? '' : 's'} sent, ${invite.remindersSent} reminder${invite.remindersSent === 1 ? '' : 's'}`,
      );
      break;
    case 'profile_issued':
    case 'authenticated':
      lines.push(`waiting for the device to finish installing the profile since ${at(state.install.profileIssuedAt)}`);
      break;
    case 'enrolled':
    case 'inactive': {
      lines.push(state.status === 'enrolled' ? 'managed' : `inactive since ${at(managed.inactiveSince)}${managed.unregistered ? ' (APNs: Unregistered)' : ''}`);
      lines.push(`${managed.apps.length} app deployment${managed.apps.length === 1 ? '' : 's'}, ${managed.policyRounds} policy change${managed.policyRounds === 1 ? '' : 's'} applied`);
      if (managed.identity) {
        lines.push(
          managed.identity.pendingSince
            ? `device identity renewal sent ${at(managed.identity.pendingSince)}, waiting for the device; expires ${at(managed.identity.expiresAt)}`
            : `device identity renews ${at(managed.identity.renewAt)} (renewed ${managed.identity.renewals} time${managed.identity.renewals === 1 ? '' : 's'})`,
        );
      }
      break;
    }
    case 'disenrolling':
      lines.push(`RemoveProfile sent ${at(state.leaving.requestedAt)}; waiting for the device to confirm`);
      break;
    default:
      lines.push(`finished: ${state.status}`);
  }
  return lines.join('\n');
}
