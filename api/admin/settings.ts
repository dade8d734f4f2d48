import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { ApnsTopicChangedError, SettingsStore, type ApnsSettings } from '../../db/settings.js';
import { describeCertificate, fromPkcs12, keyMatchesCertificate, type CertificateAndKey } from '../../mdm/certificates.js';
import type { AppDeps } from '../app.js';
import { ApiError } from '../errors.js';
import type { AppEnv } from '../types.js';
import { BASE64, jsonError } from './openapi-common.js';
import { recordAudit } from '../../db/audit.js';
import { resumeAttention } from '../../db/outbox.js';
import { fixedByPushCertificate } from '../../domain/attention.js';

const EXPIRY_WARNING_DAYS = 30;
const DAY = 86_400_000;

const replaceTopic = z.boolean().default(false).openapi({
  description:
    'Accept a certificate whose topic differs from the current one. Every device enrolled under the old topic can no longer be reached and must enroll again; without this, such an upload is refused with 409 apns_topic_changed.',
});
const ApnsUpload = z
  .union([
    z.object({ certificate: z.string().min(1).max(20_000).openapi({ description: 'PEM certificate' }), privateKey: z.string().min(1).max(20_000).openapi({ description: 'PEM private key' }), replaceTopic }),
    z.object({ pkcs12: z.string().max(40_000).regex(BASE64, 'must be base64').openapi({ description: '.p12 file, base64' }), password: z.string().max(200), replaceTopic }),
  ])
  .openapi('ApnsUpload');

const ApnsTopicChanged = z
  .object({
    error: z.object({
      code: z.literal('apns_topic_changed'),
      message: z.string(),
      details: z.object({
        currentTopic: z.string().openapi({ description: 'the topic every enrolled device was given' }),
        newTopic: z.string().openapi({ description: "the uploaded certificate's topic" }),
        enrolledDevices: z.number().int().openapi({ description: 'devices enrolled under the current topic, which would have to enroll again' }),
      }),
    }),
  })
  .openapi('ApnsTopicChanged');

const ApnsStatus = z
  .object({
    topic: z.string(),
    subject: z.string(),
    notBefore: z.iso.datetime(),
    notAfter: z.iso.datetime(),
    expiresInDays: z.number().int(),
    sandbox: z.boolean(),
    warnings: z.array(z.string()),
  })
  .openapi('ApnsCertificate');

function status(s: ApnsSettings) {
  const expiresInDays = Math.floor((Date.parse(s.notAfter) - Date.now()) / DAY);
  const warnings = [
    ...(expiresInDays < EXPIRY_WARNING_DAYS ? [`The push certificate expires in ${expiresInDays} days: renew it at identity.apple.com with the same Apple ID, or every device must re-enroll.`] : []),
    ...(s.sandbox ? ['This is a sandbox push certificate: pushes go to the local APNs sink, never to devices.'] : []),
  ];
  return { topic: s.topic, subject: s.subject, notBefore: s.notBefore, notAfter: s.notAfter, expiresInDays, sandbox: s.sandbox, warnings };
}

const putRoute = createRoute({
  method: 'put',
  path: '/settings/apns',
  summary: 'Upload the MDM push certificate (PEM certificate and key, or .p12 and password)',
  security: [{ bearerAuth: [] }],
  request: { body: { required: true, content: { 'application/json': { schema: ApnsUpload } } } },
  responses: {
    200: { description: 'Stored; the topic is read from the certificate', content: { 'application/json': { schema: ApnsStatus } } },
    400: jsonError('Invalid request'),
    409: {
      description:
        'The certificate is for another topic than the current one (a new certificate, not a renewal): every enrolled device would be lost. Renew the current certificate with the same Apple Account at identity.apple.com, or send replaceTopic: true.',
      content: { 'application/json': { schema: ApnsTopicChanged } },
    },
    422: jsonError('Not a usable MDM push certificate'),
  },
});

const getRoute = createRoute({
  method: 'get',
  path: '/settings/apns',
  summary: 'The MDM push certificate in use',
  security: [{ bearerAuth: [] }],
  responses: { 200: { description: 'The certificate', content: { 'application/json': { schema: ApnsStatus } } }, 404: jsonError('None uploaded') },
});

export function settingsRoutes(deps: AppDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: deps.validationHook });
  const store = new SettingsStore(deps.db, deps.box);

  app.openapi(putRoute, async (c) => {
    const body = c.req.valid('json');
    let cred: CertificateAndKey;
    try {
      cred = 'pkcs12' in body ? fromPkcs12(Buffer.from(body.pkcs12, 'base64'), body.password) : { certPem: body.certificate, keyPem: body.privateKey };
      describeCertificate(cred.certPem);
    } catch (err) {
      throw new ApiError(422, 'invalid_certificate', `The certificate could not be read: ${(err as Error).message}`);
    }
    const info = describeCertificate(cred.certPem);
    if (!info.uid?.startsWith('com.apple.mgmt.')) {
      throw new ApiError(422, 'not_an_mdm_push_certificate', 'The certificate has no com.apple.mgmt.* UID: download the MDM push certificate from identity.apple.com.');
    }
    if (!keyMatchesCertificate(cred.certPem, cred.keyPem)) throw new ApiError(422, 'key_mismatch', 'The private key does not belong to this certificate.');
    if (info.notAfter.getTime() <= Date.now()) throw new ApiError(422, 'certificate_expired', `The certificate expired on ${info.notAfter.toISOString()}.`);
    let saved: ApnsSettings;
    try {
      saved = await store.putApns(cred, { replaceTopic: body.replaceTopic });
    } catch (err) {
      if (!(err instanceof ApnsTopicChangedError)) throw err;
      throw new ApiError(
        409,
        'apns_topic_changed',
        `This certificate is for topic ${err.newTopic}, but the current one is ${err.currentTopic}: ${err.enrolledDevices} enrolled device(s) use the current topic and would have to enroll again. Renew the current certificate at identity.apple.com with the same Apple Account to keep its topic, or send "replaceTopic": true to replace it anyway.`,
        { currentTopic: err.currentTopic, newTopic: err.newTopic, enrolledDevices: err.enrolledDevices },
      );
    }
    await recordAudit(deps.db, { actor: c.get('actor').name, action: 'settings.apns.update', targetType: 'settings', targetId: 'apns', details: { topic: saved.topic, notAfter: saved.notAfter, ...(body.replaceTopic ? { replaceTopic: true } : {}) }, requestId: c.get('requestId') });
    // Enrollments waiting for a working push certificate resume by themselves.
    if (await resumeAttention(deps.db, fixedByPushCertificate, 'push_certificate', c.get('requestId'))) void deps.relay.kick();
    return c.json(status(saved), 200);
  });

  app.openapi(getRoute, async (c) => {
    const saved = await store.getApns();
    if (!saved) throw new ApiError(404, 'apns_certificate_missing', 'No MDM push certificate has been uploaded.');
    return c.json(status(saved), 200);
  });

  return app;
}
