import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { sql } from 'kysely';
import { createEnrollment, getEnrollment, lifecycleFromEnv, listEnrollments, requestInviteChange } from '../../db/enrollments.js';
import { recordEnrollmentEvent } from '../../db/outbox.js';
import { SettingsStore } from '../../db/settings.js';
import { enrollmentStatuses } from '../../db/schema.js';
import { attentionReasons, clearedByTheirCause, describeAttention, type AttentionReason } from '../../domain/attention.js';
import { ApiError } from '../errors.js';
import type { AppDeps } from '../app.js';
import type { AppEnv } from '../types.js';
import { email, jsonError, requiredText } from './openapi-common.js';
import { assertStorable, statedInSchema } from '../validation-hook.js';
import { recordAudit } from '../../db/audit.js';

const e164 = /^\+[1-9][0-9]{6,14}$/;

const CreateEnrollmentBody = z
  .object({
    user: z.object({
      name: requiredText(200),
      email: email().optional(),
      phone: z.string().regex(e164, 'an E.164 phone number such as +14155550100').optional(),
    }),
    channel: z.enum(['email', 'sms']),
    ownership: z.enum(['personal', 'corporate', 'user_choice']),
    enrollmentType: z.enum(['user', 'device']).optional(),
    authMode: z.enum(['authenticated', 'open']),
    managedAppleId: email().optional(),
  })
  .superRefine((body, ctx) => {
    if (body.channel === 'email' && !body.user.email) {
      ctx.addIssue({ code: 'custom', path: ['user', 'email'], message: 'required when channel is "email"', params: statedInSchema });
    }
    if (body.channel === 'sms' && !body.user.phone) {
      ctx.addIssue({ code: 'custom', path: ['user', 'phone'], message: 'required when channel is "sms"', params: statedInSchema });
    }
    if (body.ownership === 'user_choice' && body.enrollmentType) {
      ctx.addIssue({
        code: 'custom',
        path: ['enrollmentType'],
        message: 'leave it out when ownership is "user_choice": the user chooses in the enrollment portal',
        params: statedInSchema,
      });
    }
  })
  .openapi({
    description:
      'The invite goes to `user.email` (channel `email`) or `user.phone` (channel `sms`), which is then required. With ownership `user_choice` the user picks the enrollment type in the portal, so `enrollmentType` must be left out.',
    // The superRefine above, for readers of the document (JSON Schema cannot be derived from it).
    allOf: [
      {
        anyOf: [
          { properties: { channel: { const: 'email' }, user: { required: ['name', 'email'] } } },
          { properties: { channel: { const: 'sms' }, user: { required: ['name', 'phone'] } } },
        ],
      },
      {
        anyOf: [
          { properties: { ownership: { enum: ['personal', 'corporate'] } } },
          { properties: { ownership: { const: 'user_choice' } }, not: { required: ['enrollmentType'] } },
        ],
      },
    ],
  } as object)
  .openapi('CreateEnrollment');

const EnrollmentStatus = z.enum(enrollmentStatuses).openapi('EnrollmentStatus');
const ShownStatus = z
  .enum([...enrollmentStatuses, 'attention'])
  .openapi('ShownEnrollmentStatus', { description: '`attention` while something needs a person (see `attention`); otherwise the lifecycle status' });
const Attention = z
  .object({
    reason: z.enum(Object.keys(attentionReasons) as [AttentionReason, ...AttentionReason[]]).or(z.string()),
    message: z.string().openapi({ description: 'what to do about it' }),
    detail: z.string().nullable().openapi({ description: 'the failure type and protocol status, e.g. "InviteUndeliverable 550"' }),
    since: z.iso.datetime(),
  })
  .openapi('Attention');

const CreatedEnrollment = z
  .object({
    id: z.uuid(),
    status: EnrollmentStatus,
    enrollmentUrl: z.url(),
    username: z.string(),
    expiresAt: z.iso.datetime(),
    workflowId: z.string(),
  })
  .openapi('CreatedEnrollment');

const EnrollmentView = z
  .object({
    id: z.uuid(),
    status: ShownStatus,
    lifecycleStatus: EnrollmentStatus.openapi({ description: 'where the enrollment is in its lifecycle; it resumes from here when attention clears' }),
    attention: Attention.nullable(),
    channel: z.enum(['email', 'sms', 'account']),
    ownership: z.enum(['personal', 'corporate', 'user_choice']),
    enrollmentType: z.enum(['user', 'device']).nullable(),
    authMode: z.enum(['authenticated', 'open']),
    username: z.string(),
    user: z.object({ name: z.string(), email: z.string().nullable(), phone: z.string().nullable(), managedAppleId: z.string().nullable() }),
    workflowId: z.string(),
    expiresAt: z.iso.datetime(),
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime(),
  })
  .openapi('Enrollment');

const Device = z
  .object({
    kind: z.enum(['user', 'device']),
    appleEnrollmentId: z.string().nullable().openapi({ description: "Apple's per-enrollment EnrollmentID (User Enrollment); the enrollment's own id is `id`" }),
    productName: z.string().nullable(),
    osVersion: z.string().nullable(),
    buildVersion: z.string().nullable(),
    lastSeenAt: z.iso.datetime().nullable(),
    enrolledAt: z.iso.datetime().nullable(),
    checkedOutAt: z.iso.datetime().nullable(),
    pushUnregisteredAt: z.iso.datetime().nullable(),
    facts: z.record(z.string(), z.unknown()).openapi({ description: 'SecurityInfo and DeviceInformation answers permitted for the enrollment type' }),
    hardware: z
      .object({ udid: z.string().nullable(), serialNumber: z.string().nullable(), imei: z.string().nullable(), meid: z.string().nullable() })
      .optional()
      .openapi({ description: 'Device Enrollment only; never present for User Enrollment' }),
  })
  .openapi('Device');

const AppDeployment = z
  .object({
    adamId: z.string(),
    bundleId: z.string(),
    status: z.string().openapi({ description: 'licensing, waiting_for_licences, vpp_token_invalid, installing, prompting, installed, denied, failed, not_approved, cancelled' }),
    licence: z.string(),
    lastCheckedAt: z.iso.datetime().nullable(),
    history: z.array(z.object({ at: z.string(), status: z.string(), detail: z.string().optional() })),
  })
  .openapi('AppDeployment');

const EnrollmentDetail = EnrollmentView.extend({
  timeline: z.array(z.object({ from: EnrollmentStatus.nullable(), to: EnrollmentStatus, reason: z.string().nullable(), at: z.iso.datetime() })),
  device: Device.nullable(),
  agent: AppDeployment.nullable(),
}).openapi('EnrollmentDetail');

const Accepted = z.object({ id: z.uuid(), status: EnrollmentStatus, message: z.string() }).openapi('EnrollmentActionAccepted');

const security = [{ bearerAuth: [] }];

const createRouteDef = createRoute({
  method: 'post',
  path: '/enrollments',
  summary: 'Invite a user to enroll a device',
  security,
  request: {
    headers: z.object({ 'idempotency-key': z.string().min(1).max(200).optional() }),
    body: { required: true, content: { 'application/json': { schema: CreateEnrollmentBody } } },
  },
  responses: {
    200: { description: 'A retried request (same Idempotency-Key): the enrollment it created', content: { 'application/json': { schema: CreatedEnrollment } } },
    201: { description: 'Enrollment created; its workflow starts at once', content: { 'application/json': { schema: CreatedEnrollment } } },
    409: jsonError('A prerequisite is missing (`apns_certificate_missing`, `apns_certificate_expired`, `managed_apple_id_required`), or the Managed Apple ID belongs to another user (`managed_apple_id_in_use`)'),
  },
});

const getRouteDef = createRoute({
  method: 'get',
  path: '/enrollments/{id}',
  summary: 'One enrollment with its timeline',
  security,
  request: { params: z.object({ id: z.uuid() }) },
  responses: {
    200: { description: 'The enrollment', content: { 'application/json': { schema: EnrollmentDetail } } },
    404: jsonError('No such enrollment'),
  },
});

/** `<created at, ms since 1970>_<id>` of the last item of the previous page: any string of this shape is a valid cursor. */
const CURSOR = /^([0-9]{1,13})_([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$/;

const listRouteDef = createRoute({
  method: 'get',
  path: '/enrollments',
  summary: 'Enrollments, newest first',
  security,
  request: {
    query: z.object({
      status: ShownStatus.optional(),
      limit: z.coerce.number().int().min(1).max(200).default(50),
      cursor: z.string().regex(CURSOR, 'the nextCursor of a previous page').optional().openapi({ description: 'the `nextCursor` of the previous page' }),
    }),
  },
  responses: {
    200: {
      description: 'A page of enrollments',
      content: { 'application/json': { schema: z.object({ items: z.array(EnrollmentView), nextCursor: z.string().regex(CURSOR).nullable() }) } },
    },
  },
});

const idParams = z.object({ id: z.uuid() });

const resendRouteDef = createRoute({
  method: 'post',
  path: '/enrollments/{id}/resend',
  summary: 'Send the invite again with a new one-time password (the old one stops working at once)',
  security,
  request: { params: idParams },
  responses: { 202: { description: 'A new invite is on its way', content: { 'application/json': { schema: Accepted } } }, 404: jsonError('No such enrollment'), 409: jsonError('The invite is no longer open') },
});

const cancelRouteDef = createRoute({
  method: 'delete',
  path: '/enrollments/{id}',
  summary: 'Cancel an invite that has not enrolled (it is not deleted: GET still shows it, with its timeline, ending `cancelled`)',
  security,
  request: { params: idParams },
  responses: { 202: { description: 'Cancelling', content: { 'application/json': { schema: Accepted } } }, 404: jsonError('No such enrollment'), 409: jsonError('Already enrolled or finished') },
});

const retryRouteDef = createRoute({
  method: 'post',
  path: '/enrollments/{id}/retry',
  summary: 'Resume an enrollment in `attention` once its cause is fixed (the failed step runs again; nothing was lost)',
  security,
  request: { params: idParams },
  responses: {
    202: { description: 'The failed step runs again', content: { 'application/json': { schema: Accepted } } },
    404: jsonError('No such enrollment'),
    409: jsonError('`not_in_attention`: nothing waits for a retry; `not_retryable`: the attention clears with its cause (an Apps and Books token, the device installing its renewed identity)'),
  },
});

const revokeRouteDef = createRoute({
  method: 'post',
  path: '/enrollments/{id}/revoke-tokens',
  summary: "Revoke an account-driven enrollment's access tokens (the device must sign in again)",
  security,
  request: { params: idParams },
  responses: {
    200: { description: 'Revoked', content: { 'application/json': { schema: z.object({ id: z.uuid(), revoked: z.number().int() }) } } },
    404: jsonError('No such enrollment'),
  },
});

const DisenrollRequest = z
  .object({
    reason: z.string().optional().openapi({ description: 'Why, for the timeline and the audit record (the first 500 characters are kept)', example: 'left the company' }),
  })
  .openapi('DisenrollRequest');

const disenrollRouteDef = createRoute({
  method: 'post',
  path: '/enrollments/{id}/disenroll',
  summary: 'Remove the device from management (RemoveProfile; disenrolled once it confirms, or after the removal window)',
  security,
  request: { params: idParams, body: { required: false, content: { 'application/json': { schema: DisenrollRequest } } } },
  responses: {
    202: { description: 'Disenrolling', content: { 'application/json': { schema: Accepted } } },
    404: jsonError('No such enrollment'),
    409: jsonError('Not enrolled (cancel an invite with DELETE instead) or already leaving'),
  },
});

function decodeCursor(text: string | undefined) {
  const [, ms, id] = (text && CURSOR.exec(text)) || [];
  return ms && id ? { createdAt: new Date(Number(ms)).toISOString(), id } : undefined;
}

const encodeCursor = (next: { createdAt: string; id: string }) => `${Date.parse(next.createdAt)}_${next.id}`;

export function enrollmentRoutes(deps: AppDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: deps.validationHook });

  const settings = new SettingsStore(deps.db, deps.box);

  /** The guide's prerequisites: a valid push certificate; a Managed Apple ID for User Enrollment. */
  async function checkPrerequisites(enrollmentType: 'user' | 'device' | null, managedAppleId: string | undefined, email: string | undefined) {
    const apns = await settings.getApns();
    if (!apns) throw new ApiError(409, 'apns_certificate_missing', 'Upload the MDM push certificate first (PUT /api/v1/settings/apns).');
    if (Date.parse(apns.notAfter) <= Date.now()) {
      throw new ApiError(409, 'apns_certificate_expired', `The MDM push certificate expired on ${apns.notAfter}; renew it and upload it again (PUT /api/v1/settings/apns).`);
    }
    if (enrollmentType === 'user' && !managedAppleId) {
      const known = email
        ? await deps.db.selectFrom('users').select('managed_apple_id').where(sql`lower(email)`, '=', email.toLowerCase()).where('managed_apple_id', 'is not', null).executeTakeFirst()
        : undefined;
      if (!known) throw new ApiError(409, 'managed_apple_id_required', 'User Enrollment needs the user\'s Managed Apple ID: pass managedAppleId (or import the user with one).', { field: 'managedAppleId' });
    }
  }

  app.openapi(createRouteDef, async (c) => {
    const body = c.req.valid('json');
    const enrollmentType = body.enrollmentType ?? (body.ownership === 'personal' ? 'user' : body.ownership === 'corporate' ? 'device' : null);
    await checkPrerequisites(enrollmentType, body.managedAppleId, body.user.email);
    const created = await createEnrollment(deps.db, {
      user: body.user,
      channel: body.channel,
      ownership: body.ownership,
      enrollmentType,
      authMode: body.authMode,
      managedAppleId: body.managedAppleId,
      inviteTtlMs: deps.env.TANDEM_INVITE_TTL,
      reminderAfterMs: deps.env.TANDEM_INVITE_REMINDERS,
      installWindowMs: deps.env.TANDEM_INSTALL_WINDOW,
      lifecycle: lifecycleFromEnv(deps.env),
      actor: c.get('actor').name,
      requestId: c.get('requestId'),
      idempotencyKey: c.req.valid('header')['idempotency-key'],
    });
    // The start event is already durable in the outbox; kicking the relay just saves a poll, and
    // the answer never waits on Temporal.
    void deps.relay.kick();
    return c.json(
      {
        id: created.id,
        status: created.status,
        enrollmentUrl: new URL(`/enroll/${created.id}`, deps.publicUrl).href,
        username: created.username,
        expiresAt: created.expiresAt.toISOString(),
        workflowId: created.workflowId,
      },
      created.replayed ? 200 : 201,
    );
  });

  app.openapi(getRouteDef, async (c) => {
    const found = await getEnrollment(deps.db, c.req.valid('param').id);
    if (!found) throw new ApiError(404, 'enrollment_not_found', 'No enrollment has this id.');
    return c.json(found, 200);
  });

  app.openapi(resendRouteDef, async (c) => {
    const id = c.req.valid('param').id;
    const status = await requestInviteChange(deps.db, id, { type: 'resend_requested' }, c.get('actor').name, c.get('requestId'));
    void deps.relay.kick();
    return c.json({ id, status, message: 'The previous one-time password no longer works; a new invite is being sent.' }, 202);
  });

  app.openapi(cancelRouteDef, async (c) => {
    const id = c.req.valid('param').id;
    const status = await requestInviteChange(deps.db, id, { type: 'cancel_requested', reason: 'cancelled by an administrator' }, c.get('actor').name, c.get('requestId'));
    void deps.relay.kick();
    return c.json({ id, status, message: 'The invite no longer works; the enrollment is being cancelled.' }, 202);
  });

  // The body is optional: an empty one sent with a JSON content type counts as none.
  app.use('/enrollments/:id/disenroll', async (c, next) => {
    if (c.req.header('content-length') === '0' && c.req.header('content-type')) {
      const headers = new Headers(c.req.raw.headers);
      headers.delete('content-type');
      c.req.raw = new Request(c.req.raw, { headers });
    }
    await next();
  });
  app.openapi(disenrollRouteDef, async (c) => {
    const id = c.req.valid('param').id;
    const given = c.req.valid('json').reason?.trim();
    const note = given ? `: ${given.slice(0, 500)}` : '';
    const reason = `disenrolled by ${c.get('actor').name}${note}`;
    const status = await deps.db.transaction().execute(async (trx) => {
      const e = await trx.selectFrom('enrollments').select('status').where('id', '=', id).forUpdate().executeTakeFirst();
      if (!e) throw new ApiError(404, 'enrollment_not_found', 'No enrollment has this id.');
      if (e.status !== 'enrolled' && e.status !== 'inactive') {
        throw new ApiError(409, ['disenrolling', 'disenrolled'].includes(e.status) ? 'already_disenrolling' : 'not_enrolled', `The enrollment is ${e.status}${e.status === 'invited' ? ': cancel the invite with DELETE instead' : ''}.`);
      }
      await recordEnrollmentEvent(trx, id, { type: 'disenroll_requested', reason }, 'disenroll-requested');
      await recordAudit(trx, { actor: c.get('actor').name, action: 'enrollment.disenroll', targetType: 'enrollment', targetId: id, details: { reason }, requestId: c.get('requestId') });
      return e.status;
    });
    void deps.relay.kick();
    return c.json({ id, status, message: 'RemoveProfile is on its way to the device; the enrollment ends when it confirms, or after the removal window.' }, 202);
  });

  app.openapi(retryRouteDef, async (c) => {
    const id = c.req.valid('param').id;
    const status = await deps.db.transaction().execute(async (trx) => {
      const e = await trx.selectFrom('enrollments').select(['status', 'attention_reason']).where('id', '=', id).forUpdate().executeTakeFirst();
      if (!e) throw new ApiError(404, 'enrollment_not_found', 'No enrollment has this id.');
      if (!e.attention_reason) throw new ApiError(409, 'not_in_attention', `The enrollment is ${e.status}: nothing waits for a retry.`);
      // Conditions no retry can clear: they clear when their cause does.
      if (clearedByTheirCause.includes(e.attention_reason as AttentionReason)) {
        throw new ApiError(409, 'not_retryable', `${describeAttention(e.attention_reason)} (A retry changes nothing here.)`);
      }
      // Each retry is its own event (a second click retries again); the audit line says who asked.
      await recordEnrollmentEvent(trx, id, { type: 'retry', cause: 'admin' }, `retry:${c.get('requestId')}`);
      await recordAudit(trx, { actor: c.get('actor').name, action: 'enrollment.retry', targetType: 'enrollment', targetId: id, details: { reason: e.attention_reason }, requestId: c.get('requestId') });
      return e.status;
    });
    void deps.relay.kick();
    return c.json({ id, status, message: 'The step that needed attention runs again.' }, 202);
  });

  app.openapi(revokeRouteDef, async (c) => {
    const id = c.req.valid('param').id;
    const exists = await deps.db.selectFrom('enrollments').select('id').where('id', '=', id).executeTakeFirst();
    if (!exists) throw new ApiError(404, 'enrollment_not_found', 'No enrollment has this id.');
    const result = await deps.db.updateTable('account_tokens').set({ revoked_at: sql`now()` }).where('enrollment_id', '=', id).where('revoked_at', 'is', null).executeTakeFirst();
    await recordAudit(deps.db, { actor: c.get('actor').name, action: 'enrollment.revoke_tokens', targetType: 'enrollment', targetId: id, requestId: c.get('requestId') });
    return c.json({ id, revoked: Number(result.numUpdatedRows) }, 200);
  });

  app.openapi(listRouteDef, async (c) => {
    const q = c.req.valid('query');
    const page = await listEnrollments(deps.db, { status: q.status, limit: q.limit, cursor: decodeCursor(q.cursor) });
    const nextCursor = page.next ? encodeCursor(page.next) : null;
    return c.json({ items: page.items, nextCursor }, 200);
  });

  return app;
}
