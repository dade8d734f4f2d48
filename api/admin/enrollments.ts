import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { createEnrollment, getEnrollment, listEnrollments } from '../../db/enrollments.js';
import { enrollmentStatuses } from '../../db/schema.js';
import { ApiError } from '../errors.js';
import type { AppDeps } from '../app.js';
import type { AppEnv } from '../types.js';
import { ErrorResponse, jsonError } from './openapi-common.js';

const e164 = /^\+[1-9]\d{6,14}$/;

const CreateEnrollmentBody = z
  .object({
    user: z.object({
      name: z.string().trim().min(1).max(200),
      email: z.email().max(254).optional(),
      phone: z.string().regex(e164, 'an E.164 phone number such as +14155550100').optional(),
    }),
    channel: z.enum(['email', 'sms']),
    ownership: z.enum(['personal', 'corporate', 'user_choice']),
    enrollmentType: z.enum(['user', 'device']).optional(),
    authMode: z.enum(['authenticated', 'open']),
    managedAppleId: z.email().max(254).optional(),
  })
  .superRefine((body, ctx) => {
    if (body.channel === 'email' && !body.user.email) {
      ctx.addIssue({ code: 'custom', path: ['user', 'email'], message: 'required when channel is "email"' });
    }
    if (body.channel === 'sms' && !body.user.phone) {
      ctx.addIssue({ code: 'custom', path: ['user', 'phone'], message: 'required when channel is "sms"' });
    }
    if (body.ownership === 'user_choice' && body.enrollmentType) {
      ctx.addIssue({
        code: 'custom',
        path: ['enrollmentType'],
        message: 'leave it out when ownership is "user_choice": the user chooses in the enrollment portal',
      });
    }
  })
  .openapi('CreateEnrollment');

const EnrollmentStatus = z.enum(enrollmentStatuses).openapi('EnrollmentStatus');

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
    status: EnrollmentStatus,
    channel: z.enum(['email', 'sms']),
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

const EnrollmentDetail = EnrollmentView.extend({
  timeline: z.array(z.object({ from: EnrollmentStatus.nullable(), to: EnrollmentStatus, reason: z.string().nullable(), at: z.iso.datetime() })),
}).openapi('EnrollmentDetail');

const security = [{ bearerAuth: [] }];

const createRouteDef = createRoute({
  method: 'post',
  path: '/enrollments',
  summary: 'Invite a user to enroll a device',
  security,
  request: { body: { required: true, content: { 'application/json': { schema: CreateEnrollmentBody } } } },
  responses: {
    201: { description: 'Enrollment created; its workflow starts at once', content: { 'application/json': { schema: CreatedEnrollment } } },
    400: jsonError('Invalid request'),
    401: jsonError('Missing or invalid token'),
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

const Cursor = z.object({ createdAt: z.iso.datetime(), id: z.uuid() });

const listRouteDef = createRoute({
  method: 'get',
  path: '/enrollments',
  summary: 'Enrollments, newest first',
  security,
  request: {
    query: z.object({
      status: EnrollmentStatus.optional(),
      limit: z.coerce.number().int().min(1).max(200).default(50),
      cursor: z.string().optional().openapi({ description: 'the `nextCursor` of the previous page' }),
    }),
  },
  responses: {
    200: {
      description: 'A page of enrollments',
      content: { 'application/json': { schema: z.object({ items: z.array(EnrollmentView), nextCursor: z.string().nullable() }) } },
    },
    400: { description: 'Invalid query', content: { 'application/json': { schema: ErrorResponse } } },
  },
});

function decodeCursor(text: string | undefined) {
  if (!text) return undefined;
  try {
    return Cursor.parse(JSON.parse(Buffer.from(text, 'base64url').toString('utf8')));
  } catch {
    throw new ApiError(400, 'invalid_cursor', 'The cursor is not one this API issued.');
  }
}

export function enrollmentRoutes(deps: AppDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: deps.validationHook });

  app.openapi(createRouteDef, async (c) => {
    const body = c.req.valid('json');
    const enrollmentType = body.enrollmentType ?? (body.ownership === 'personal' ? 'user' : body.ownership === 'corporate' ? 'device' : null);
    const created = await createEnrollment(deps.db, {
      user: body.user,
      channel: body.channel,
      ownership: body.ownership,
      enrollmentType,
      authMode: body.authMode,
      managedAppleId: body.managedAppleId,
      inviteTtlMs: deps.env.TANDEM_INVITE_TTL,
      actor: c.get('actor').name,
      requestId: c.get('requestId'),
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
      201,
    );
  });

  app.openapi(getRouteDef, async (c) => {
    const found = await getEnrollment(deps.db, c.req.valid('param').id);
    if (!found) throw new ApiError(404, 'enrollment_not_found', 'No enrollment has this id.');
    return c.json(found, 200);
  });

  app.openapi(listRouteDef, async (c) => {
    const q = c.req.valid('query');
    const page = await listEnrollments(deps.db, { status: q.status, limit: q.limit, cursor: decodeCursor(q.cursor) });
    const nextCursor = page.next ? Buffer.from(JSON.stringify(page.next)).toString('base64url') : null;
    return c.json({ items: page.items, nextCursor }, 200);
  });

  return app;
}
