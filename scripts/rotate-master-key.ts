/**
 * `npm run rotate-master-key`: re-seals every secret at rest under a new master key.
 *
 *   DATABASE_URL=… TANDEM_MASTER_KEY=<current> TANDEM_NEW_MASTER_KEY=<new> npm run rotate-master-key
 *
 * Stop the API and the workers first, and start them again with TANDEM_MASTER_KEY=<new>. Portal
 * sessions and half-filled portal forms end (their keys derive from the master key); devices, push
 * credentials, invites, queued commands, policies and the Apple tokens carry over. Keys are never
 * printed.
 */
import { createDb } from '../db/connection.js';
import { rekeyAll, RekeyError } from '../db/rekey.js';
import { SecretBox } from '../security/secret-box.js';

function fail(message: string): never {
  process.stderr.write(`rotate-master-key: ${message}\n`);
  process.exit(78);
}

const { DATABASE_URL, TANDEM_MASTER_KEY, TANDEM_NEW_MASTER_KEY } = process.env;
if (!DATABASE_URL) fail('set DATABASE_URL to the PostgreSQL database the API uses');
if (!TANDEM_MASTER_KEY || !TANDEM_NEW_MASTER_KEY) fail('set TANDEM_MASTER_KEY (the current key) and TANDEM_NEW_MASTER_KEY (openssl rand -base64 32)');
if (TANDEM_MASTER_KEY === TANDEM_NEW_MASTER_KEY) fail('TANDEM_NEW_MASTER_KEY is the current key');
const box = (name: string, value: string) => {
  try {
    return new SecretBox(value);
  } catch {
    return fail(`${name} must be 32 random bytes, base64`);
  }
};
const [current, next] = [box('TANDEM_MASTER_KEY', TANDEM_MASTER_KEY), box('TANDEM_NEW_MASTER_KEY', TANDEM_NEW_MASTER_KEY)];

const db = createDb({ url: DATABASE_URL, poolSize: 1, applicationName: 'tandem-rotate-master-key' });
try {
  const counts = await rekeyAll(db, current, next);
  process.stdout.write(`${JSON.stringify({ resealed: counts }, null, 2)}\nDone. Start the API and the workers with TANDEM_MASTER_KEY set to the new key.\n`);
} catch (err) {
  if (err instanceof RekeyError) fail(err.message);
  throw err;
} finally {
  await db.destroy();
}
