import type { OperationOutcome } from 'fhir/r4.js';
import { sql } from 'drizzle-orm';
import { pino } from 'pino';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { generateClientKeyPair, signClientAssertion } from '../../src/auth/client-assertion.js';
import { openDatabase, rawRows, type Db } from '../../src/db/database.js';
import { createHub } from '../../src/hub.js';
import type { RateLimits } from '../../src/services/rate-limit-service.js';
import { loadedTestProtocols } from '../support/protocols.js';
import { startTestHub, type TestHub } from '../support/test-hub.js';

// Finding 10: rate limits per client and per source address on the token
// endpoint, per client on /fhir, /ingest and /audit; 429 with an
// OperationOutcome, Retry-After and the RateLimit fields; refusals audited once
// per window, not once per request.

const issueOf = (body: unknown) => (body as OperationOutcome).issue[0];

/** AuditEvents whose outcome description starts with the text. */
async function eventsDescribed(db: Db, prefix: string): Promise<{ desc: string; client: string | null }[]> {
  return rawRows(
    db,
    sql`select event->>'outcomeDesc' as desc, event#>>'{agent,0,who,identifier,value}' as client from audit_event where event->>'outcomeDesc' like ${`${prefix}%`} order by seq`,
  );
}

const tokenForm = (assertion: string) => ({
  grant_type: 'client_credentials',
  client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
  client_assertion: assertion,
  scope: 'system/*.rs',
  purpose_of_use: 'direct-care',
});

describe('with the default limits', () => {
  let t: TestHub;
  beforeAll(async () => {
    t = await startTestHub();
  });
  afterAll(async () => {
    await t.close();
  });

  it('200 forged assertions in a burst hit the limit, and are not 200 audit rows', async () => {
    const forger = await generateClientKeyPair();
    const before = await eventsDescribed(t.database.db, '');
    // One forged assertion (its signature fails before any replay check), sent 200 times, 20 at once.
    const assertion = await signClientAssertion(forger.privateJwk, 'test-a', t.hub.tokenUrl);
    const answers: request.Response[] = [];
    for (let batch = 0; batch < 10; batch += 1) {
      answers.push(...(await Promise.all(Array.from({ length: 20 }, () => t.http.post('/auth/token').type('form').send(tokenForm(assertion))))));
    }
    const statuses = answers.map((r) => r.status);
    const first429 = answers.find((r) => r.status === 429);
    // The forged signature is refused (401) until the client's limit (60 a minute) is reached.
    expect(statuses.filter((s) => s === 401)).toHaveLength(60);
    expect(statuses.filter((s) => s === 429)).toHaveLength(140);
    expect(first429?.headers['retry-after']).toMatch(/^\d+$/);
    expect(first429?.headers['ratelimit-policy']).toBe('"token-client";q=60;w=60');
    expect(first429?.headers['ratelimit']).toMatch(/^"token-client";r=0;t=\d+$/);
    expect(issueOf(first429?.body)).toMatchObject({ code: 'throttled', expression: ['token-client'] });
    // 60 refused assertions, one row for the client's limit and one for the address's (crossed at 121).
    const after = await eventsDescribed(t.database.db, '');
    expect(after.length - before.length).toBe(62);
    const limited = await eventsDescribed(t.database.db, 'rate limited');
    expect(limited.map((e) => e.desc.split(':')[0])).toEqual(['rate limited (token-client', 'rate limited (token-address']);
  }, 120_000);
});

describe('with low limits', () => {
  let t: TestHub;
  let a: string;
  let b: string;
  let gp: string;
  let ig: string;
  beforeAll(async () => {
    t = await startTestHub({
      rateLimits: { token: { perClient: 3, perAddress: 1000, windowSeconds: 60 }, api: { perClient: 5, perAddress: 4, windowSeconds: 60 } },
    });
    a = await t.token('test-a', 'direct-care');
    b = await t.token('test-b', 'direct-care');
    gp = await t.token('test-gp', 'direct-care');
    ig = await t.token('ig-console', 'audit');
  });
  afterAll(async () => {
    await t.close();
  });

  it('limits token requests per client, whatever the address, and not other clients', async () => {
    const granted = await t.http.post('/auth/token').type('form').send(tokenForm(await t.assertion('test-b')));
    expect(granted.status).toBe(200);
    // Only the caller's own (address) limit is advertised: the client's count is anyone's to claim, so not shown.
    expect(granted.headers['ratelimit-policy']).toBe('"token-address";q=1000;w=60');
    await t.token('test-b', 'direct-care');
    const res = await t.http.post('/auth/token').type('form').send(tokenForm(await t.assertion('test-b')));
    expect(res.status).toBe(429);
    expect(res.headers['ratelimit-policy']).toBe('"token-client";q=3;w=60');
    await expect(t.token('test-a', 'direct-care')).resolves.toMatch(/\./);
  });

  it('limits /fhir per client, with RateLimit fields on every answer, and audits one refusal per window', async () => {
    for (let i = 0; i < 5; i += 1) {
      const res = await t.http.get('/fhir/Patient').set('Authorization', `Bearer ${a}`);
      expect(res.status).toBe(200);
      expect(res.headers['ratelimit']).toBe(`"api-client";r=${4 - i};t=${res.headers['ratelimit']?.split('t=')[1] ?? ''}`);
      expect(res.headers['ratelimit-policy']).toBe('"api-client";q=5;w=60');
    }
    for (let i = 0; i < 20; i += 1) {
      const res = await t.http.get('/fhir/Patient').set('Authorization', `Bearer ${a}`);
      expect(res.status).toBe(429);
      expect(res.headers['retry-after']).toMatch(/^\d+$/);
      expect(res.body.resourceType).toBe('OperationOutcome');
    }
    const limited = (await eventsDescribed(t.database.db, 'rate limited (api-client')).filter((e) => e.client === 'test-a');
    expect(limited).toHaveLength(1);
    // Another organisation's client is not held back by test-a's hammering.
    expect((await t.http.get('/fhir/Patient').set('Authorization', `Bearer ${b}`)).status).toBe(200);
  });

  it('limits /ingest per client', async () => {
    for (let i = 0; i < 5; i += 1) await t.http.get('/fhir/Immunization').set('Authorization', `Bearer ${gp}`);
    const res = await t.http.post('/ingest/immunisations-csv').set('Authorization', `Bearer ${gp}`).set('Content-Type', 'text/csv').send('x');
    expect(res.status).toBe(429);
    expect(issueOf(res.body)?.expression).toEqual(['api-client']);
  });

  it('limits /audit per client', async () => {
    for (let i = 0; i < 5; i += 1) expect((await t.http.get('/audit/checkpoint').set('Authorization', `Bearer ${ig}`)).status).toBeLessThan(429);
    const res = await t.http.get('/audit/checkpoint').set('Authorization', `Bearer ${ig}`);
    expect(res.status).toBe(429);
    expect(res.headers['ratelimit-policy']).toBe('"api-client";q=5;w=60');
  });

  it('limits requests without a valid token per source address, so forged tokens cannot grow the audit log', async () => {
    const before = (await eventsDescribed(t.database.db, 'unauthenticated')).length;
    const statuses: number[] = [];
    for (let i = 0; i < 30; i += 1) statuses.push((await t.http.get('/fhir/Patient').set('Authorization', 'Bearer forged.token.value')).status);
    expect(statuses.slice(0, 4)).toEqual([401, 401, 401, 401]);
    expect(statuses.slice(4).every((s) => s === 429)).toBe(true);
    expect((await eventsDescribed(t.database.db, 'unauthenticated')).length - before).toBe(4);
    expect(await eventsDescribed(t.database.db, 'rate limited (api-address')).toHaveLength(1);
  });
});

/** Two hub instances on one PostgreSQL database with the same limits: `first` the test hub, `second` another over its own pool. */
async function withTwoInstances(limits: RateLimits, body: (first: TestHub, second: ReturnType<typeof request>) => Promise<void>): Promise<void> {
  const t = await startTestHub({ rateLimits: limits });
  const database = await openDatabase({ kind: 'postgres', url: t.database.url ?? '' });
  // Instances share their signing keys (a mounted key directory), so each accepts the other's tokens.
  const other = await createHub({ database, baseUrl: t.baseUrl, logger: pino({ level: 'silent' }), protocols: await loadedTestProtocols(), rateLimits: limits, signingKeys: t.hub.keys });
  try {
    await body(t, request(other.app));
  } finally {
    await other.close();
    await database.close();
    await t.close();
  }
}

describe.skipIf(inject('databaseUrl') === '')('on PostgreSQL the limits are shared by every instance', () => {
  it('counts one client\'s requests to two instances against one limit', async () => {
    const limits = { token: { perClient: 100, perAddress: 1000, windowSeconds: 60 }, api: { perClient: 6, perAddress: 100, windowSeconds: 60 } };
    await withTwoInstances(limits, async (t, other) => {
      const token = await t.token('test-a', 'direct-care');
      const statuses: number[] = [];
      for (let i = 0; i < 4; i += 1) {
        statuses.push((await t.http.get('/fhir/Patient').set('Authorization', `Bearer ${token}`)).status);
        statuses.push((await other.get('/fhir/Patient').set('Authorization', `Bearer ${token}`)).status);
      }
      expect(statuses).toEqual([200, 200, 200, 200, 200, 200, 429, 429]);
    });
  });

  it('holds a high limit across two instances that count it in blocks, and audits one refusal', async () => {
    // 400 a window: each instance takes places a block at a time (up to 4: a hundredth of the limit).
    const limits = { token: { perClient: 100, perAddress: 1000, windowSeconds: 60 }, api: { perClient: 400, perAddress: 10_000, windowSeconds: 60 } };
    await withTwoInstances(limits, async (t, other) => {
      const token = await t.token('test-a', 'direct-care');
      const statuses: number[] = [];
      for (let i = 0; i < 26; i += 1) {
        const burst = await Promise.all(
          Array.from({ length: 20 }, (_, n) => (n % 2 === 0 ? t.http : other).get('/fhir/Patient?_count=1').set('Authorization', `Bearer ${token}`)),
        );
        statuses.push(...burst.map((r) => r.status));
      }
      const permitted = statuses.filter((s) => s === 200).length;
      expect(permitted).toBeLessThanOrEqual(400);
      // Early by at most the other instance's unused block.
      expect(permitted).toBeGreaterThanOrEqual(400 - 4);
      expect(statuses.filter((s) => s !== 200 && s !== 429)).toEqual([]);
      expect(await eventsDescribed(t.database.db, 'rate limited (api-client')).toHaveLength(1);
    });
  });
});
