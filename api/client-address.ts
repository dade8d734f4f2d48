/**
 * Which address a request comes from, for rate limits and sign-in lockouts. Behind reverse
 * proxies the socket's peer is the nearest proxy, and each proxy appends the address it received
 * the request from to X-Forwarded-For. The client writes whatever it likes to the left of those
 * entries, so only the right-most ones, written by proxies the operator declared (TRUST_PROXY), are
 * believed: the client is the right-most address that is not a trusted proxy.
 */
import { isIP, type BlockList } from 'node:net';
import type { Context } from 'hono';
import { getConnInfo } from '@hono/node-server/conninfo';
import { NO_PROXY, type TrustedProxies } from '../config/trust-proxy.js';

export { NO_PROXY, type TrustedProxies };

/** An address as proxies and sockets write it: without IPv6 brackets, ports and the IPv4-mapped prefix. */
export function normaliseAddress(raw: string): string {
  let a = raw.trim();
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(a);
  if (bracketed) a = bracketed[1]!;
  else if (/^\d{1,3}(\.\d{1,3}){3}:\d+$/.test(a)) a = a.slice(0, a.lastIndexOf(':'));
  const mapped = /^::ffff:(\d{1,3}(\.\d{1,3}){3})$/i.exec(a);
  return mapped ? mapped[1]! : a.toLowerCase();
}

function isTrusted(address: string, networks: BlockList): boolean {
  const family = isIP(address);
  return family !== 0 && networks.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

/**
 * The client's address: walking from the socket's peer leftwards through X-Forwarded-For, the
 * first address that is not a trusted proxy (or the left-most one if every hop is trusted).
 */
export function resolveClientAddress(peer: string, forwardedFor: string | undefined, trust: TrustedProxies): string {
  const forwarded = (forwardedFor ?? '')
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean)
    .map(normaliseAddress);
  // Nearest first: the peer, then the entry the peer appended, and so on.
  const chain = [normaliseAddress(peer), ...forwarded.reverse()];
  if ('hops' in trust) return chain[Math.min(trust.hops, chain.length - 1)]!;
  for (const address of chain) if (!isTrusted(address, trust.networks)) return address;
  return chain[chain.length - 1]!;
}

export function clientAddress(c: Context, trust: TrustedProxies = NO_PROXY): string {
  let peer: string;
  try {
    peer = getConnInfo(c).remote.address ?? 'unknown';
  } catch {
    peer = 'unknown';
  }
  const noProxy = 'hops' in trust && trust.hops === 0;
  return noProxy ? normaliseAddress(peer) : resolveClientAddress(peer, c.req.header('x-forwarded-for'), trust);
}
