import type { OperationOutcome } from 'fhir/r4.js';
import http from 'node:http';
import net from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { drainServer } from '../../src/http/graceful-shutdown.js';
import { startTestHub, type TestHub } from '../support/test-hub.js';

// Faults become answers (issue 13): probes for load balancers, the in-flight
// cap, a graceful shutdown that still answers a request sent on a kept-alive
// connection, and (PostgreSQL) transient database faults answered 503 with
// Retry-After. The fault suite (bench/faults) repeats these on hub processes
// against a server that is stopped and started; these are the deterministic parts.

const issueOf = (body: unknown): OperationOutcome['issue'][number] | undefined => (body as OperationOutcome).issue[0];

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  reusedSocket: boolean;
}

function get(agent: http.Agent, url: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, reusedSocket: req.reusedSocket });
      });
    });
    req.on('error', reject);
  });
}

async function until(condition: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 500 && !(await condition()); i += 1) await new Promise((resolve) => setTimeout(resolve, 10));
  expect(await condition()).toBe(true);
}

describe('probes and graceful shutdown', () => {
  let t: TestHub;
  beforeAll(async () => {
    t = await startTestHub({ listen: true });
  });
  afterAll(async () => {
    await t.close();
  });

  it('answers /livez and /readyz with no token, naming only which checks pass', async () => {
    const live = await t.http.get('/livez');
    expect(live.status).toBe(200);
    expect(live.body).toEqual({ status: 'live' });
    const ready = await t.http.get('/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body).toEqual({ status: 'ready', checks: { accepting: 'ok', database: 'ok', migrations: 'ok', protocols: 'ok', sequencer: 'ok' } });
    expect(ready.headers['cache-control']).toBe('no-store');
  });

  it('once stopping, answers a request sent on a kept-alive connection (with Connection: close), is not ready, and accepts no new connection', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const first = await get(agent, `${t.baseUrl}/livez`);
      expect(first.status).toBe(200);
      expect(first.headers.connection).toBe('keep-alive');
      const server = t.server as http.Server;
      // A long grace: the drain ends when the connection closes after its answer, not by the clock.
      const drained = drainServer(server, t.hub.lifecycle, { lingerMs: 60_000, cutAt: Date.now() + 60_000 });
      const second = await get(agent, `${t.baseUrl}/readyz`);
      expect(second.reusedSocket).toBe(true);
      expect(second.status).toBe(503);
      expect(second.headers.connection).toBe('close');
      expect(JSON.parse(second.body)).toMatchObject({ status: 'not-ready', checks: { accepting: 'fail', database: 'ok' } });
      expect(await drained).toBe(0);
      const refused = await new Promise<string>((resolve) => {
        net.connect(Number(new URL(t.baseUrl).port), '127.0.0.1').on('error', (err: NodeJS.ErrnoException) => { resolve(err.code ?? ''); }).on('connect', () => { resolve('connected'); });
      });
      expect(refused).toBe('ECONNREFUSED');
    } finally {
      agent.destroy();
    }
  });
});

describe('the in-flight cap', () => {
  let t: TestHub;
  beforeAll(async () => {
    t = await startTestHub({ listen: true, maxInFlight: 1, protocols: [] });
  });
  afterAll(async () => {
    await t.close();
  });

  it('answers a request beyond the cap 503 transient with Retry-After, before any work, and serves again once one finishes', async () => {
    // A token request whose body never finishes holds the one place.
    const socket = net.connect(Number(new URL(t.baseUrl).port), '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write('POST /auth/token HTTP/1.1\r\nHost: hub.test\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ngrant_type=');
    await until(() => t.hub.inFlight.current === 1);

    const refused = await t.http.get('/fhir/metadata');
    expect(refused.status).toBe(503);
    expect(refused.headers['retry-after']).toBe('1');
    expect(issueOf(refused.body)).toMatchObject({ severity: 'error', code: 'transient' });
    // The probes are never capped.
    expect((await t.http.get('/livez')).status).toBe(200);

    socket.destroy();
    await until(() => t.hub.inFlight.current === 0);
    expect((await t.http.get('/fhir/metadata')).status).toBe(200);
  });

  it('is not ready without a protocol: nothing could be shared', async () => {
    const ready = await t.http.get('/readyz');
    expect(ready.status).toBe(503);
    expect(ready.body).toMatchObject({ status: 'not-ready', checks: { protocols: 'fail', database: 'ok' } });
  });
});

const onPostgres = inject('databaseUrl') !== '';

describe.skipIf(!onPostgres)('transient database faults answer 503 with Retry-After (PostgreSQL: PGlite has one in-process connection and no timers)', () => {
  let t: TestHub;
  beforeAll(async () => {
    t = await startTestHub({ pool: { poolSize: 4, lockTimeoutMs: 300 } });
  });
  afterAll(async () => {
    await t.close();
  });

  /** A transaction of a superuser's holding a table's exclusive lock until released. */
  async function holdTable(table: string): Promise<{ waiters(): Promise<number[]>; release(): Promise<void> }> {
    const client = new pg.Client({ connectionString: t.database.adminUrl });
    await client.connect();
    await client.query('begin');
    await client.query(`lock table ${table} in access exclusive mode`);
    return {
      waiters: async () => (await client.query<{ pid: number }>('select pid from pg_locks where not granted and database = (select oid from pg_database where datname = current_database())')).rows.map((r) => r.pid),
      release: async () => {
        await client.query('rollback');
        await client.end();
      },
    };
  }

  it('answers /auth/token 503 transient when a lock is held past lock_timeout (55P03), then issues tokens again', async () => {
    const lock = await holdTable('client');
    try {
      const res = await t.http
        .post('/auth/token')
        .type('form')
        .send({
          grant_type: 'client_credentials',
          client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
          client_assertion: await t.assertion('test-a'),
          scope: 'system/*.rs',
          purpose_of_use: 'direct-care',
        });
      expect(res.status).toBe(503);
      expect(res.headers['retry-after']).toBe('5');
      expect(issueOf(res.body)).toMatchObject({ code: 'transient' });
      expect(issueOf(res.body)?.diagnostics).toMatch(/held by another request/);
    } finally {
      await lock.release();
    }
    expect(await t.token('test-a', 'direct-care')).toMatch(/^ey/);
  });

  it('answers 503 when the connection of a request is terminated (57P01), stays up, and serves the next request', async () => {
    const token = await t.token('test-a', 'direct-care');
    const lock = await holdTable('resource');
    try {
      const pending = t.http.get('/fhir/Patient').set('Authorization', `Bearer ${token}`).then((r) => r);
      let waiting: number[] = [];
      await until(async () => (waiting = await lock.waiters()).length > 0);
      const admin = new pg.Client({ connectionString: t.database.adminUrl });
      await admin.connect();
      try {
        for (const pid of waiting) await admin.query('select pg_terminate_backend($1)', [pid]);
      } finally {
        await admin.end();
      }
      const res = await pending;
      expect(res.status).toBe(503);
      expect(res.headers['retry-after']).toBe('5');
      expect(issueOf(res.body)).toMatchObject({ code: 'transient' });
      expect(issueOf(res.body)?.diagnostics).toMatch(/connection to the database was lost/);
    } finally {
      await lock.release();
    }
    expect((await t.http.get('/fhir/Patient').set('Authorization', `Bearer ${token}`)).status).toBe(200);
  });
});
