import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTwilioSmsProvider, type SmsProvider } from '../../integrations/sms/sms.js';
import { startSmsSink, type SmsSink } from '../../scripts/sandbox/sms-sink.js';
import { freePort } from '../../scripts/free-port.js';
import { rejection } from './rejection.js';

let sink: SmsSink;
let sms: SmsProvider;

beforeAll(async () => {
  sink = await startSmsSink();
  sms = createTwilioSmsProvider({ baseUrl: sink.baseUrl, accountSid: sink.accountSid, authToken: sink.authToken, from: '+15005550006' });
});

afterAll(async () => {
  await sink?.stop();
});

describe('Twilio SMS provider', () => {
  it('posts the form to Messages.json with Basic auth and returns the message sid', async () => {
    const { providerMessageId } = await sms.send({ to: '+14155550123', body: 'Enroll: https://x.example/e/1', idempotencyKey: 'wf-1:invite' });
    expect(providerMessageId).toMatch(/^SM[0-9a-f]{32}$/);
    const received = await sink.waitFor((m) => m.sid === providerMessageId);
    expect(received).toEqual({
      to: '+14155550123',
      from: '+15005550006',
      body: 'Enroll: https://x.example/e/1',
      idempotencyToken: 'wf-1:invite',
      sid: providerMessageId,
    });
  });

  it('sends a retried message once: the idempotency token returns the same sid', async () => {
    const msg = { to: '+14155550124', body: 'hello once', idempotencyKey: 'wf-2:invite' };
    const first = await sms.send(msg);
    const second = await sms.send(msg);
    expect(second.providerMessageId).toBe(first.providerMessageId);
    expect(sink.messages.filter((m) => m.idempotencyToken === 'wf-2:invite')).toHaveLength(1);
  });

  it('fails permanently with Twilio code 20003 on wrong credentials', async () => {
    const wrong = createTwilioSmsProvider({ baseUrl: sink.baseUrl, accountSid: sink.accountSid, authToken: 'nope', from: '+15005550006' });
    const err = await rejection(wrong.send({ to: '+14155550125', body: 'x', idempotencyKey: 'k-auth' }));
    expect(err.retryable).toBe(false);
    expect(err.code).toBe('20003');
    expect(err.message).not.toContain('nope');
  });

  it('maps 429 with Retry-After to a retryable error carrying retryAfterMs', async () => {
    sink.respondNext(429, { code: 20429, message: 'Too Many Requests', status: 429 }, { 'retry-after': '7' });
    const err = await rejection(sms.send({ to: '+14155550126', body: 'x', idempotencyKey: 'k-429' }));
    expect(err.retryable).toBe(true);
    expect(err.retryAfterMs).toBe(7000);
  });

  it('maps 5xx to retryable', async () => {
    sink.respondNext(503, { code: 20503, message: 'Service Unavailable', status: 503 });
    const err = await rejection(sms.send({ to: '+14155550127', body: 'x', idempotencyKey: 'k-503' }));
    expect(err.retryable).toBe(true);
    expect(err.retryAfterMs).toBeUndefined();
  });

  it('maps a 400 to a permanent error with Twilio code and message', async () => {
    sink.respondNext(400, { code: 21211, message: "The 'To' number +19995550100 is not a valid phone number.", status: 400 });
    const err = await rejection(sms.send({ to: '+14155550128', body: 'x', idempotencyKey: 'k-400' }));
    expect(err.retryable).toBe(false);
    expect(err.code).toBe('21211');
    expect(err.message).toContain('not a valid phone number');
    expect(err.message).not.toContain('+19995550100');
  });

  it('refuses a number that is not E.164 before calling the provider', async () => {
    const before = sink.messages.length;
    const err = await rejection(sms.send({ to: '0171 555 0123', body: 'x', idempotencyKey: 'k-e164' }));
    expect(err.retryable).toBe(false);
    expect(sink.messages).toHaveLength(before);
  });

  it('reports an unreachable provider as retryable', async () => {
    const dead = createTwilioSmsProvider({ baseUrl: `http://127.0.0.1:${await freePort()}`, accountSid: 'AC1', authToken: 't', from: '+15005550006' });
    const err = await rejection(dead.send({ to: '+14155550129', body: 'x', idempotencyKey: 'k-dead' }));
    expect(err.retryable).toBe(true);
    expect(err.code).toBe('ECONNREFUSED');
  });
});

describe('SMS sink', () => {
  const post = (form: Record<string, string>, auth = `${sink.accountSid}:${sink.authToken}`) =>
    fetch(`${sink.baseUrl}/2010-04-01/Accounts/${sink.accountSid}/Messages.json`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(auth).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(form),
    });

  it('answers 401 with Twilio JSON and a Basic challenge on bad credentials', async () => {
    const res = await post({ To: '+14155550123', From: '+15005550006', Body: 'x' }, `${sink.accountSid}:bad`);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toContain('Basic');
    expect(await res.json()).toMatchObject({ code: 20003, status: 401 });
  });

  it('validates the form like Twilio', async () => {
    const missingTo = await post({ From: '+15005550006', Body: 'x' });
    expect(missingTo.status).toBe(400);
    expect(await missingTo.json()).toMatchObject({ code: 21604 });
    const badTo = await post({ To: 'abc', From: '+15005550006', Body: 'x' });
    expect(await badTo.json()).toMatchObject({ code: 21211 });
    const noBody = await post({ To: '+14155550123', From: '+15005550006' });
    expect(await noBody.json()).toMatchObject({ code: 21602 });
  });

  it('returns a queued message resource on 201', async () => {
    const res = await post({ To: '+14155550130', From: '+15005550006', Body: 'hi' });
    expect(res.status).toBe(201);
    expect(await res.json()).toMatchObject({ status: 'queued', to: '+14155550130', from: '+15005550006', body: 'hi', account_sid: sink.accountSid });
  });
});
