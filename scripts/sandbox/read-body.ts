import type { Readable } from 'node:stream';

/**
 * Reads a request body up to `limit` bytes. Returns null once the body is larger (the rest is
 * drained and dropped), so a fake server cannot be made to buffer without end.
 */
export async function readBody(stream: Readable, limit: number): Promise<Buffer | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
    size += buf.length;
    if (size <= limit) chunks.push(buf);
  }
  return size > limit ? null : Buffer.concat(chunks);
}
