import type { OperationOutcome } from 'fhir/r4.js';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { MAX_OR_VALUES, MAX_PARAMETERS, MAX_REPEATS } from '../../src/fhir/search-bounds.js';
import { errorHandler } from '../../src/http/error-handler.js';
import { patient } from '../support/resources.js';
import { startTestHub, type TestHub } from '../support/test-hub.js';

// Finding 8 and the edge items of finding 12: one request cannot stall the hub,
// and what Node or the router refuses is still an OperationOutcome with the
// hub's security headers.

let t: TestHub;
let token: string;
let igToken: string;
beforeAll(async () => {
  t = await startTestHub({ listen: true });
  token = await t.token('test-a', 'direct-care');
  igToken = await t.token('ig-console', 'audit');
});
afterAll(async () => {
  await t.close();
});

const issueOf = (body: unknown) => (body as OperationOutcome).issue[0];

/** helmet's headers, which every answer carries. */
function expectSecurityHeaders(headers: Record<string, string | string[] | undefined>): void {
  expect(headers['x-content-type-options']).toBe('nosniff');
  expect(headers['content-security-policy']).toBeDefined();
  expect(headers['strict-transport-security']).toBeDefined();
  expect(headers['x-frame-options']).toBe('SAMEORIGIN');
}

describe('search parameters are bounded', () => {
  it('answers 800 repeated patient= parameters with 400 naming patient, before any database work', async () => {
    // Short ids, as in the report: the whole request line stays within Node's 16 KB header limit.
    const query = Array.from({ length: 800 }, (_, i) => `patient=p${i}`).join('&');
    const res = await t.http.get(`/fhir/Observation?${query}`).set('Authorization', `Bearer ${token}`);
    expect(res.status).toBe(400);
    expect(issueOf(res.body)).toMatchObject({ code: 'too-costly', expression: ['patient'] });
    expectSecurityHeaders(res.headers);
  });

  it('accepts the bound itself and refuses one more repetition', async () => {
    const at = Array.from({ length: MAX_REPEATS }, () => 'patient=Patient/p1').join('&');
    expect((await t.http.get(`/fhir/Observation?${at}`).set('Authorization', `Bearer ${token}`)).status).toBe(200);
    const over = `${at}&patient=Patient/p1`;
    const res = await t.http.get(`/fhir/Observation?${over}`).set('Authorization', `Bearer ${token}`);
    expect(res.status).toBe(400);
    expect(issueOf(res.body)?.expression).toEqual(['patient']);
  });

  it('refuses an OR-list longer than the bound, naming the parameter', async () => {
    const ids = Array.from({ length: MAX_OR_VALUES + 1 }, (_, i) => `id${i}`).join(',');
    const res = await t.http.get(`/fhir/Patient?_id=${ids}`).set('Authorization', `Bearer ${token}`);
    expect(res.status).toBe(400);
    expect(issueOf(res.body)).toMatchObject({ code: 'too-costly', expression: ['_id'] });
  });

  it('refuses more parameters in all than the bound', async () => {
    const query = Array.from({ length: MAX_PARAMETERS + 1 }, (_, i) => `x${i}=1`).join('&');
    const res = await t.http.get(`/fhir/Patient?${query}`).set('Authorization', `Bearer ${token}`).set('Prefer', 'handling=lenient');
    expect(res.status).toBe(400);
    expect(issueOf(res.body)?.code).toBe('too-costly');
  });

  it('bounds If-None-Exist the same way, naming the header', async () => {
    const criteria = Array.from({ length: 800 }, () => 'identifier=urn:x|1').join('&');
    const res = await t.http
      .post('/fhir/Patient')
      .set('Authorization', `Bearer ${token}`)
      .set('Content-Type', 'application/fhir+json')
      .set('If-None-Exist', criteria)
      .send(patient(901));
    expect(res.status).toBe(400);
    expect(issueOf(res.body)?.expression).toContain('If-None-Exist');
  });

  it('bounds the AuditEvent search and the reports', async () => {
    const query = Array.from({ length: 50 }, () => 'date=ge2026-01-01').join('&');
    const search = await t.http.get(`/fhir/AuditEvent?${query}`).set('Authorization', `Bearer ${igToken}`);
    expect(search.status).toBe(400);
    expect(issueOf(search.body)?.expression).toEqual(['date']);
    const report = await t.http.get(`/audit/report/denials?${Array.from({ length: 60 }, () => 'from=2026-01-01').join('&')}`).set('Authorization', `Bearer ${igToken}`);
    expect(report.status).toBe(400);
    expect(issueOf(report.body)?.expression).toEqual(['from']);
  });
});

describe('malformed requests get an OperationOutcome and the security headers', () => {
  it.each(['/fhir/Patient/%E0%A4%A', '/fhir/%zz', '/%', '/ig/%C0'])('a malformed percent-escape in %s is a 400, not a 500', async (path) => {
    const res = await t.http.get(path).set('Authorization', `Bearer ${token}`);
    expect(res.status).toBe(400);
    expect(issueOf(res.body)).toMatchObject({ code: 'invalid', expression: ['path'] });
    expectSecurityHeaders(res.headers);
  });

  it('answers oversized headers with 431, an OperationOutcome and the security headers', async () => {
    const base = new URL(t.baseUrl);
    const answer = await new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }>((resolve, reject) => {
      const req = http.request({ host: base.hostname, port: Number(base.port), path: '/fhir/metadata', headers: { 'X-Padding': 'a'.repeat(20_000) } }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => { resolve({ status: res.statusCode ?? 0, headers: res.headers, body }); });
      });
      req.on('error', reject);
      req.end();
    });
    expect(answer.status).toBe(431);
    expect(answer.headers['content-type']).toMatch(/^application\/fhir\+json/);
    expect(issueOf(JSON.parse(answer.body))).toMatchObject({ code: 'too-costly', expression: ['headers'] });
    expectSecurityHeaders(answer.headers);
  });

  it('keeps idle connections open longer than common load balancers (65 s keep-alive, 66 s headers)', () => {
    expect(t.server?.keepAliveTimeout).toBe(65_000);
    expect(t.server?.headersTimeout).toBe(66_000);
  });
});

describe('error logs never carry SQL parameters', () => {
  it('logs a database error by class, SQLSTATE and query fingerprint, without its text or parameters', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(line) });
    const app = (await import('express')).default();
    app.get('/boom', async () => {
      // A real failing query with personal data in its parameters.
      await t.database.db.execute((await import('drizzle-orm')).sql`select ${'9434765919'}::int`);
    });
    app.use(errorHandler(logger));
    const server = app.listen(0, '127.0.0.1');
    await new Promise<void>((resolve) => server.once('listening', resolve));
    try {
      const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/boom`);
      expect(res.status).toBe(500);
    } finally {
      server.close();
    }
    const logged = lines.join('\n');
    expect(logged).toMatch(/"code":"22\d\d\d"/);
    expect(logged).toMatch(/"query":"[0-9a-f]{16}"/);
    expect(logged).toMatch(/"stack":" +at /);
    expect(logged).not.toContain('9434765919');
    expect(logged).not.toMatch(/select/i);
  });
});

const onPostgres = inject('databaseUrl') !== '';

describe.skipIf(!onPostgres)('the database is bounded too (PostgreSQL)', () => {
  let bounded: TestHub;
  let boundedToken: string;
  beforeAll(async () => {
    bounded = await startTestHub({ pool: { poolSize: 1, statementTimeoutMs: 2_000, connectionTimeoutMs: 200 } });
    boundedToken = await bounded.token('test-a', 'direct-care');
  });
  afterAll(async () => {
    await bounded.close();
  });

  /** Holds an exclusive lock on the resource table from outside the hub until released. */
  async function lockResources(): Promise<{ waiting(): Promise<number>; release(): Promise<void> }> {
    const client = new pg.Client({ connectionString: bounded.database.url });
    await client.connect();
    await client.query('begin');
    await client.query('lock table resource in access exclusive mode');
    return {
      // Only waits on this lock count: the server is shared with other databases' work.
      waiting: async () =>
        Number(
          (
            await client.query<{ n: string }>(
              "select count(*) as n from pg_locks where not granted and relation = 'resource'::regclass and database = (select oid from pg_database where datname = current_database())",
            )
          ).rows[0]?.n ?? 0,
        ),
      release: async () => {
        await client.query('rollback');
        await client.end();
      },
    };
  }

  it('answers a statement that runs past statement_timeout with 503 transient and Retry-After', async () => {
    const lock = await lockResources();
    try {
      const res = await bounded.http.get('/fhir/Patient').set('Authorization', `Bearer ${boundedToken}`);
      expect(res.status).toBe(503);
      expect(res.headers['retry-after']).toBe('5');
      expect(issueOf(res.body)?.code).toBe('transient');
      expectSecurityHeaders(res.headers);
    } finally {
      await lock.release();
    }
    expect((await bounded.http.get('/fhir/Patient').set('Authorization', `Bearer ${boundedToken}`)).status).toBe(200);
  });

  it('answers 503 transient with Retry-After when no pool connection is free in time', async () => {
    const lock = await lockResources();
    try {
      // The first request takes the pool's one connection and waits on the lock.
      const first = bounded.http.get('/fhir/Patient').set('Authorization', `Bearer ${boundedToken}`).then((r) => r);
      while ((await lock.waiting()) === 0) await new Promise((resolve) => setTimeout(resolve, 20));
      const second = await bounded.http.get('/fhir/Patient').set('Authorization', `Bearer ${boundedToken}`);
      expect(second.status).toBe(503);
      expect(second.headers['retry-after']).toBe('5');
      expect(issueOf(second.body)).toMatchObject({ code: 'transient' });
      expect(issueOf(second.body)?.diagnostics).toMatch(/no database connection was free/);
      await lock.release();
      expect([200, 503]).toContain((await first).status);
    } catch (err) {
      await lock.release().catch(() => undefined);
      throw err;
    }
  });
});
