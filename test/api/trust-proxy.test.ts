import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { restEventsFor } from '../support/audit.js';
import { startTestHub, type TestHub } from '../support/test-hub.js';

// TRUST_PROXY: behind a load balancer the per-address rate limit keys on the
// client the balancer names in X-Forwarded-For, and only when the peer is a
// proxy the hub trusts; from any other peer the header is ignored, so a client
// cannot forge a fresh address. Tests reach the hub from the loopback address.

/** Two requests without a valid token per address per window on the API (the limit keyed by address alone). */
const limits = {
  token: { perClient: 1000, perAddress: 1000, windowSeconds: 3600 },
  api: { perClient: 1000, perAddress: 2, windowSeconds: 3600 },
};

let trusting: TestHub;
let plain: TestHub;
beforeAll(async () => {
  trusting = await startTestHub({ rateLimits: limits, trustProxy: ['127.0.0.0/8', '::1'] });
  plain = await startTestHub({ rateLimits: limits });
});
afterAll(async () => {
  await trusting.close();
  await plain.close();
});

let seq = 0;
/** A request without a token: 401 while the address is within its limit, then 429. */
async function read(t: TestHub, forwardedFor: string | undefined) {
  const requestId = `proxy-${(seq += 1)}`;
  const req = t.http.get('/fhir/Patient').set('X-Request-Id', requestId);
  const res = await (forwardedFor === undefined ? req : req.set('X-Forwarded-For', forwardedFor));
  const [event] = await restEventsFor(t.database.db, requestId);
  return { status: res.status, address: event?.agent?.flatMap((a) => (a.network?.address === undefined ? [] : [a.network.address]))[0] };
}

describe('TRUST_PROXY', () => {
  it('from a trusted proxy: the forwarded client address is audited and rate-limited on its own', async () => {
    expect(await read(trusting, '203.0.113.7')).toEqual({ status: 401, address: '203.0.113.7' });
    expect((await read(trusting, '203.0.113.7')).status).toBe(401);
    expect((await read(trusting, '203.0.113.7')).status).toBe(429);
    // Another client behind the same balancer has its own budget; the hop the balancer adds last is the one believed.
    expect(await read(trusting, '198.51.100.1, 203.0.113.8')).toEqual({ status: 401, address: '203.0.113.8' });
  });

  it('from an untrusted peer (the default): a forged X-Forwarded-For is ignored', async () => {
    const first = await read(plain, '203.0.113.7');
    expect(first.status).toBe(401);
    expect(first.address).not.toBe('203.0.113.7');
    expect(first.address).toMatch(/127\.0\.0\.1|::1/);
    expect((await read(plain, '203.0.113.9')).status).toBe(401);
    // The peer's budget is spent, whatever address the header names.
    expect((await read(plain, '203.0.113.10')).status).toBe(429);
    expect((await read(plain, undefined)).status).toBe(429);
  });

  it('TRUST_PROXY is parsed as addresses or CIDRs, and refused naming the variable otherwise', () => {
    expect(loadConfig({}).trustProxy).toEqual([]);
    expect(loadConfig({ TRUST_PROXY: '10.0.0.0/8, 192.0.2.10,2001:db8::/32' }).trustProxy).toEqual(['10.0.0.0/8', '192.0.2.10', '2001:db8::/32']);
    for (const bad of ['loopback', '10.0.0.0/33', '300.1.1.1', '10.0.0.1/8/1', '::1/129']) expect(() => loadConfig({ TRUST_PROXY: bad }), bad).toThrow(/TRUST_PROXY/);
  });
});
