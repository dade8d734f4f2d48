/**
 * `npm run simulate -- --server http://localhost:8080 --email ada@example.com`
 *
 * Plays an iPhone against a running Tandem: finds the invite (in the sandbox outbox by email or
 * phone, or from --url/--username/--password), walks the portal, installs the signed profile,
 * checks in, and answers commands. Prints each step.
 */
import { parseArgs } from 'node:util';
import { parseInvite, SimulatedDevice } from './simulator/device.js';

const { values: args } = parseArgs({
  options: {
    server: { type: 'string', default: process.env.TANDEM_PUBLIC_URL ?? 'http://localhost:8080' },
    email: { type: 'string' },
    phone: { type: 'string' },
    url: { type: 'string' },
    username: { type: 'string' },
    password: { type: 'string' },
    ownership: { type: 'string' },
    scope: { type: 'string' },
    'managed-apple-id': { type: 'string' },
    ios: { type: 'string', default: '17.5' },
    help: { type: 'boolean', default: false },
  },
});

if (args.help) {
  process.stdout.write(`Usage: npm run simulate -- [--server URL] (--email ADDRESS | --phone +E164 | --url INVITE_URL --username U [--password P])
       [--ownership personal|corporate] [--scope user|device] [--managed-apple-id ID] [--ios 17.5]\n`);
  process.exit(0);
}

const say = (line: string) => process.stdout.write(`${line}\n`);

async function findInvite() {
  if (args.url) return { enrollmentUrl: args.url, username: args.username ?? '', ...(args.password ? { password: args.password } : {}) };
  const to = args.email ?? args.phone;
  if (!to) throw new Error('say which invite to use: --email, --phone, or --url with --username/--password');
  const res = await fetch(new URL(`/sandbox/outbox.json?to=${encodeURIComponent(to)}`, args.server));
  if (res.status === 404) throw new Error('the server is not in sandbox mode: pass --url, --username and --password from the invite');
  const { items } = (await res.json()) as { items: { text: string }[] };
  if (!items.length) throw new Error(`no invite for ${to} in the sandbox outbox yet`);
  return parseInvite(items[0]!.text);
}

try {
  const invite = await findInvite();
  say(`invite: ${invite.enrollmentUrl} (username ${invite.username})`);
  const device = new SimulatedDevice({ osVersion: args.ios });
  const der = await device.enrollThroughPortal(invite.enrollmentUrl, {
    username: invite.username,
    ...(invite.password ? { password: invite.password } : {}),
    ...(args.ownership === 'personal' || args.ownership === 'corporate' ? { ownership: args.ownership } : {}),
    ...(args.scope === 'user' || args.scope === 'device' ? { scope: args.scope } : {}),
    ...(args['managed-apple-id'] ? { managedAppleId: args['managed-apple-id'] } : {}),
  });
  say(`portal: downloaded a signed profile (${der.length} bytes)`);
  const installed = device.installProfile(der);
  say(`profile: verified; ${installed.kind === 'user' ? 'User Enrollment' : 'Device Enrollment'}, topic ${installed.topic}`);
  await device.authenticate();
  say('check-in: Authenticate accepted');
  await device.tokenUpdate();
  say('check-in: TokenUpdate accepted; waiting for the server to queue commands');
  for (let i = 0; i < 20; i++) {
    const ran = await device.processCommands();
    for (const cmd of ran) say(`command: ${cmd.Command.RequestType} (${cmd.CommandUUID}) acknowledged`);
    if (ran.length) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  say('done: the enrollment should now show as enrolled in the API and the Temporal UI');
} catch (err) {
  process.stderr.write(`simulate: ${(err as Error).message}\n`);
  process.exit(1);
}
