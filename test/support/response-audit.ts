/**
 * Setup file: records every response Tandem's servers give in a test file (admin API, portal,
 * device endpoints), and after the file checks that no serial number, UDID, IMEI or MEID of a
 * user-enrolled simulated device appears in any of them, whatever the device sent.
 */
import { afterAll, expect } from 'vitest';
import { SimulatedDevice } from '../../scripts/simulator/device.js';

const bodies: { url: string; text: string }[] = [];
const originalFetch = globalThis.fetch;
const MAX_RECORDED = 2 * 1024 * 1024;

globalThis.fetch = async (input: Parameters<typeof fetch>[0], init?: RequestInit) => {
  const res = await originalFetch(input, init);
  const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
  if (/^https?:\/\/(127\.0\.0\.1|localhost)[:/]/.test(url)) {
    const copy = res.clone();
    void copy
      .arrayBuffer()
      .then((buf) => {
        if (buf.byteLength <= MAX_RECORDED) bodies.push({ url, text: Buffer.from(buf).toString('latin1') });
      })
      .catch(() => {});
  }
  return res;
};

afterAll(async () => {
  await new Promise((r) => setTimeout(r, 50)); // let the last clones finish reading
  const userEnrolled = SimulatedDevice.created.filter((d) => d.installed?.kind === 'user');
  for (const device of userEnrolled) {
    for (const value of [device.hardware.serialNumber, device.hardware.udid, device.hardware.imei, device.hardware.meid]) {
      const leak = bodies.find((b) => b.text.includes(value));
      expect(leak, `a response of ${leak?.url} shows a hardware identifier of a user-enrolled device`).toBeUndefined();
    }
  }
});
