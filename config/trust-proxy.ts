/** TRUST_PROXY: the reverse proxies in front of Tandem, whose X-Forwarded-For entries are believed (api/client-address.ts). */
import { BlockList, isIP } from 'node:net';

/** How many hops, or which addresses. */
export type TrustedProxies = { hops: number } | { networks: BlockList };

export const NO_PROXY: TrustedProxies = { hops: 0 };

/**
 * Parses TRUST_PROXY: `false` (or `0`) trusts no proxy; a number N trusts the N nearest hops (the
 * socket's peer and the right-most N-1 X-Forwarded-For entries); a comma-separated list of
 * addresses and CIDR ranges trusts the hops with those addresses. `true` means 1: a single reverse
 * proxy of your own (it used to believe the left-most entry, which the client writes).
 * Returns undefined when the text is none of these.
 */
export function parseTrustProxy(text: string): TrustedProxies | undefined {
  const value = text.trim().toLowerCase();
  if (value === 'false') return { hops: 0 };
  if (value === 'true') return { hops: 1 };
  if (/^\d{1,2}$/.test(value)) return { hops: Number(value) };
  const networks = new BlockList();
  for (const entry of value.split(',').map((e) => e.trim())) {
    const [address, prefix, extra] = entry.split('/');
    const family = isIP(address ?? '');
    if (!family || extra !== undefined) return undefined;
    const type = family === 4 ? 'ipv4' : 'ipv6';
    if (prefix === undefined) {
      networks.addAddress(address!, type);
      continue;
    }
    const bits = /^\d{1,3}$/.test(prefix) ? Number(prefix) : -1;
    if (bits < 0 || bits > (family === 4 ? 32 : 128)) return undefined;
    networks.addSubnet(address!, bits, type);
  }
  return { networks };
}
