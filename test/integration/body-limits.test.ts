/**
 * Every route that takes a body has its own limit, enforced while the body streams in: one byte
 * over gets 413 with a code (JSON routes) or a page (HTML forms), before any authentication or
 * parsing, and the server goes on answering.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStack, type TestStack } from '../support/stack.js';

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(() => stack?.stop());

const KiB = 1024;
const routes: { path: string; method: string; limit: number; type: string; answer: 'json' | 'html'; admin?: boolean }[] = [
  { path: '/api/v1/enrollments', method: 'POST', limit: 1024 * KiB, type: 'application/json', answer: 'json', admin: true },
  { path: '/account-enrollment', method: 'POST', limit: 64 * KiB, type: 'application/pkcs7-signature', answer: 'json' },
  { path: '/account-enrollment/sign-in', method: 'POST', limit: 16 * KiB, type: 'application/x-www-form-urlencoded', answer: 'html' },
  { path: '/vpp/notifications', method: 'POST', limit: 64 * KiB, type: 'application/json', answer: 'json' },
  { path: '/enroll/00000000-0000-4000-8000-000000000000', method: 'POST', limit: 16 * KiB, type: 'application/x-www-form-urlencoded', answer: 'html' },
  { path: '/mdm/checkin', method: 'PUT', limit: 64 * KiB, type: 'application/x-apple-aspen-mdm-checkin', answer: 'json' },
  { path: '/mdm/connect', method: 'PUT', limit: 4096 * KiB, type: 'application/x-apple-aspen-mdm', answer: 'json' },
];

describe('body limits per route', () => {
  it.each(routes)('$method $path refuses a body one byte over $limit bytes', async (r) => {
    const headers: Record<string, string> = { 'content-type': r.type, origin: stack.baseUrl };
    if (r.admin) headers.authorization = `Bearer ${stack.adminToken}`;
    const res = await fetch(`${stack.baseUrl}${r.path}`, { method: r.method, headers, body: Buffer.alloc(r.limit + 1, 0x61) });
    expect(res.status).toBe(413);
    if (r.answer === 'json') expect(((await res.json()) as { error: { code: string } }).error.code).toBe('body_too_large');
    else expect(await res.text()).toMatch(/too large/i);
    expect((await fetch(`${stack.baseUrl}/healthz`)).status).toBe(200);
  });

  // No Content-Length: the limit has to count as the body streams. The body goes one chunk past
  // the limit and then stays open, so only a server that stops reading at the limit can answer;
  // one that waits for the whole body before checking its size never does.
  const streamed = routes.filter((r) => !r.admin && r.answer === 'json');
  it.each(streamed)('$method $path cuts off a chunked body at $limit bytes, before it ends', { timeout: 15_000 }, async (r) => {
    const chunk = 64 * KiB;
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (sent > r.limit) return new Promise<void>(() => {}); // never ends on its own
        sent += chunk;
        controller.enqueue(new Uint8Array(chunk).fill(0x61));
      },
    });
    const res = await fetch(`${stack.baseUrl}${r.path}`, { method: r.method, headers: { 'content-type': r.type }, body: stream, duplex: 'half' } as RequestInit);
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('body_too_large');
    expect(sent).toBeGreaterThan(r.limit);
    await stream.cancel().catch(() => {});
    expect((await fetch(`${stack.baseUrl}/healthz`)).status).toBe(200);
  });
});
