import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { getManagedDomains, putManagedDomains, upsertDirectoryUsers } from '../../db/directory.js';
import type { AppDeps } from '../app.js';
import type { AppEnv } from '../types.js';
import { email, jsonError, requiredText } from './openapi-common.js';
import { recordAudit } from '../../db/audit.js';

// Checked as sent (the document's pattern and maxLength are the rule), stored in lower case.
const fqdn = z
  .string()
  .max(253)
  .regex(/^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}\.?$/, 'a domain name such as acme.example')
  .toLowerCase();

const Domains = z
  .object({
    domains: z.array(fqdn).max(100),
    deviceEnrollment: z.boolean().default(false).openapi({ description: 'offer account-driven Device Enrollment (mdm-adde) to users invited for it' }),
  })
  .openapi('ManagedDomains');

const ImportUsers = z
  .object({
    users: z
      .array(
        z.object({
          name: requiredText(200),
          email: email().optional(),
          phone: z.string().regex(/^\+[1-9][0-9]{6,14}$/).optional(),
          managedAppleId: email(),
          password: z.string().min(12).max(200).optional().openapi({ description: 'directory password for signing in from Settings without an invite' }),
          groups: z.array(requiredText(100)).max(50).optional().openapi({ description: 'directory groups (policies can be assigned to a group)' }),
        }),
      )
      .min(1)
      .max(1000),
  })
  .openapi('ImportUsers');

const security = [{ bearerAuth: [] }];

const putDomains = createRoute({
  method: 'put',
  path: '/settings/domains',
  summary: "The organisation's managed domains (account-driven enrollment discovery)",
  security,
  request: { body: { required: true, content: { 'application/json': { schema: Domains } } } },
  responses: { 200: { description: 'Stored', content: { 'application/json': { schema: Domains } } } },
});

const getDomains = createRoute({
  method: 'get',
  path: '/settings/domains',
  summary: 'The managed domains',
  security,
  responses: { 200: { description: 'The domains', content: { 'application/json': { schema: Domains } } } },
});

const importUsers = createRoute({
  method: 'post',
  path: '/users',
  summary: 'Import users with their Managed Apple IDs (idempotent by email or Managed Apple ID)',
  security,
  request: { body: { required: true, content: { 'application/json': { schema: ImportUsers } } } },
  responses: {
    200: {
      description: 'Imported',
      content: { 'application/json': { schema: z.object({ created: z.number().int(), updated: z.number().int(), ids: z.array(z.uuid()) }) } },
    },
    409: jsonError('An email and a Managed Apple ID belong to two different users'),
  },
});

export function directoryRoutes(deps: AppDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: deps.validationHook });
  app.openapi(putDomains, async (c) => {
    const saved = await putManagedDomains(deps.db, c.req.valid('json'));
    await recordAudit(deps.db, { actor: c.get('actor').name, action: 'settings.domains.update', targetType: 'settings', targetId: 'domains', details: { ...saved }, requestId: c.get('requestId') });
    return c.json(saved, 200);
  });
  app.openapi(getDomains, async (c) => c.json(await getManagedDomains(deps.db), 200));
  app.openapi(importUsers, async (c) => {
    const results = await upsertDirectoryUsers(deps.db, c.req.valid('json').users);
    await recordAudit(deps.db, { actor: c.get('actor').name, action: 'users.import', targetType: 'users', targetId: null, details: { count: results.length }, requestId: c.get('requestId') });
    const created = results.filter((r) => r.created).length;
    return c.json({ created, updated: results.length - created, ids: results.map((r) => r.id) }, 200);
  });
  return app;
}
