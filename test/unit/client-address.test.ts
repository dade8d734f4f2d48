/**
 * TRUST_PROXY and the client address: only the hops the operator declared are believed, and the
 * client is the right-most address that is not one of them. (Over HTTP, with the rate limits the
 * address decides: test/integration/client-address.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import { normaliseAddress, resolveClientAddress } from '../../api/client-address.js';
import { ConfigError, loadEnv } from '../../config/env.js';
import { parseTrustProxy, type TrustedProxies } from '../../config/trust-proxy.js';

const trust = (text: string): TrustedProxies => parseTrustProxy(text)!;

describe('TRUST_PROXY', () => {
  it('reads false, a hop count, true (one hop) and lists of addresses and CIDR ranges', () => {
    expect(loadEnv({}, 'dev').TRUST_PROXY).toEqual({ hops: 0 });
    expect(loadEnv({ TRUST_PROXY: 'false' }, 'dev').TRUST_PROXY).toEqual({ hops: 0 });
    expect(loadEnv({ TRUST_PROXY: '2' }, 'dev').TRUST_PROXY).toEqual({ hops: 2 });
    expect(loadEnv({ TRUST_PROXY: 'true' }, 'dev').TRUST_PROXY).toEqual({ hops: 1 });
    const listed = loadEnv({ TRUST_PROXY: '10.0.0.0/8, 192.168.0.1,fd00::/8' }, 'dev').TRUST_PROXY;
    expect('networks' in listed).toBe(true);
  });

  it('refuses anything else, saying what it expects', () => {
    for (const bad of ['yes', '10.0.0.0/33', '10.0.0.0/8/1', 'proxy.internal', '10.0.0.0/8,', '-1']) {
      expect(() => loadEnv({ TRUST_PROXY: bad }, 'dev'), bad).toThrow(ConfigError);
    }
    expect(() => loadEnv({ TRUST_PROXY: 'yes' }, 'dev')).toThrow(/TRUST_PROXY: false, a number of proxy hops such as 1, or proxy addresses and CIDR ranges/);
  });
});

describe('the client address', () => {
  it('is the peer when no proxy is trusted, whatever X-Forwarded-For says', () => {
    expect(resolveClientAddress('198.51.100.1', '1.2.3.4', trust('false'))).toBe('198.51.100.1');
  });

  it('with a hop count, is the right-most entry past the declared hops: a spoofed left-most entry changes nothing', () => {
    // One proxy (the peer, 10.0.0.2) appended the address it saw, 203.0.113.7.
    expect(resolveClientAddress('10.0.0.2', '203.0.113.7', trust('1'))).toBe('203.0.113.7');
    expect(resolveClientAddress('10.0.0.2', '6.6.6.6, 203.0.113.7', trust('1'))).toBe('203.0.113.7');
    expect(resolveClientAddress('10.0.0.2', '6.6.6.6, 203.0.113.7', trust('true'))).toBe('203.0.113.7');
    // Two proxies: a CDN appended the client, the load balancer appended the CDN.
    expect(resolveClientAddress('10.0.0.2', '6.6.6.6, 203.0.113.7, 198.51.100.9', trust('2'))).toBe('203.0.113.7');
    // Fewer entries than hops (a request that skipped a proxy): the left-most there is.
    expect(resolveClientAddress('10.0.0.2', undefined, trust('2'))).toBe('10.0.0.2');
  });

  it('with addresses, is the right-most address not among them, and a direct client cannot forward at all', () => {
    const proxies = trust('10.0.0.0/8,192.168.0.1');
    expect(resolveClientAddress('10.1.2.3', '6.6.6.6, 203.0.113.7, 192.168.0.1', proxies)).toBe('203.0.113.7');
    // Not from a trusted proxy: X-Forwarded-For is the client's own writing.
    expect(resolveClientAddress('203.0.113.50', '10.0.0.1', proxies)).toBe('203.0.113.50');
    // Every hop trusted (an internal client): the left-most.
    expect(resolveClientAddress('10.1.2.3', '10.9.9.9', proxies)).toBe('10.9.9.9');
    // Garbage a proxy passed on is not a trusted proxy: it is what the client sent.
    expect(resolveClientAddress('10.1.2.3', 'unknown', proxies)).toBe('unknown');
    const v6 = trust('fd00::/8');
    expect(resolveClientAddress('fd00::1', '2001:db8::5, fd00::2', v6)).toBe('2001:db8::5');
  });

  it('reads addresses the way sockets and proxies write them', () => {
    expect(normaliseAddress('::ffff:10.0.0.1')).toBe('10.0.0.1');
    expect(normaliseAddress(' 203.0.113.7:5123 ')).toBe('203.0.113.7');
    expect(normaliseAddress('[2001:DB8::5]:443')).toBe('2001:db8::5');
    expect(resolveClientAddress('::ffff:10.0.0.2', '203.0.113.7', trust('10.0.0.0/8'))).toBe('203.0.113.7');
  });
});
