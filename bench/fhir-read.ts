import type { AuditEvent } from 'fhir/r4.js';
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { generateClientKeyPair, type ClientKeyPair } from '../src/auth/client-assertion.js';
import { inTransaction, openDatabase } from '../src/db/database.js';
import { upsertClient, upsertOrganisation } from '../src/db/registry-queries.js';
import { SYSTEMS } from '../src/fhir/systems.js';
import { withBenchDatabase, type BenchDatabase } from './support/bench-database.js';
import type { Benchmark, BenchContext } from './support/benchmark.js';
import { auditTotals, clientBackends, describeSetting, drainAuditQueue, ourPids, queueLength } from './support/hub-db.js';
import { startHubProcess, type HubProcess } from './support/hub-process.js';
import { runHttpLoad } from './support/http-load.js';
import { drivePgClients, inPgTransaction, openPgClients } from './support/pg-load.js';
import { runPairs, type LoadSide, type SideName } from './support/pairs.js';
import { preloadChildren } from './support/preload.js';
import { formatPairReport } from './support/report.js';
import { requestAccessToken } from './support/token.js';

// `npm run bench -- read`: what one audited FHIR read costs over HTTP against
// the raw limit of the same database work. The scenario is the hub answering
// GET /fhir/Patient/<id> (token check, read, AuditEvent in the same
// transaction, log sequencing behind it). The baseline is that transaction
// with nothing around it: read the row by primary key and insert one audit row
// of the same size, from node-postgres.

const CONNECTIONS = 8;
const ORGANISATION = { code: 'BENCH-GP', system: SYSTEMS.localOrg, type: 'gp', name: 'Benchmark organisation', catchment: [] };
const PURPOSE = 'direct-care';
const CLIENT = { id: 'bench-reader', scopes: ['system/Patient.rs'], purposes: [PURPOSE] };
const RAW_AUDIT_TABLE = 'bench_raw_audit';
const BASELINE_APPLICATION = 'hubbench-baseline';

export async function benchFhirRead(context: BenchContext): Promise<void> {
  const { options, signal, log, out } = context;
  await withBenchDatabase(context, 'read', async (database, cleanup) => {
    const keys = await generateClientKeyPair('ES384');
    const ids = await prepareData(database, keys, context);

    const control = new pg.Client({ connectionString: database.url, application_name: 'hubbench-control', statement_timeout: 600_000 });
    await control.connect();
    cleanup.defer('close control connection', () => control.end());
    // A long-lived database has statistics and set hint bits; without this the
    // first runs would pay for writing hint bits that later runs do not.
    await control.query('vacuum (analyze) resource, resource_history, resource_token');
    const setting = await describeSetting(control, ids.length);
    await control.query(`create table ${RAW_AUDIT_TABLE} (seq bigserial primary key, event jsonb not null)`);

    log('read: starting the hub');
    const hub = await startHubProcess(database.url, signal);
    cleanup.defer('stop hub process', () => hub.stop());
    const fetchToken = (): Promise<string> =>
      requestAccessToken({ baseUrl: hub.baseUrl, clientId: CLIENT.id, privateJwk: keys.privateJwk, scope: CLIENT.scopes.join(' '), purpose: PURPOSE });
    let token = await fetchToken();
    const template = await auditTemplate(control, hub, token, ids[0] ?? '');
    const auditBytes = Buffer.byteLength(JSON.stringify(template));

    const raw = await openPgClients(database.url, CONNECTIONS, BASELINE_APPLICATION);
    cleanup.defer('close baseline connections', () => raw.close());

    const pickId = (): string => ids[Math.floor(Math.random() * ids.length)] ?? '';
    const baseline: LoadSide = {
      label: 'raw pg',
      unit: 'tx/s',
      run: (seconds, runSignal) =>
        drivePgClients(
          raw.clients,
          (client) =>
            inPgTransaction(client, async () => {
              const id = pickId();
              const found = await client.query('select content from resource where type = $1 and id = $2', ['Patient', id]);
              if (found.rowCount !== 1) throw new Error(`baseline read of Patient/${id} found ${String(found.rowCount)} rows`);
              // A fresh id and time per row, as every AuditEvent has; same size as the hub's.
              const event = JSON.stringify({ ...template, id: randomUUID(), recorded: new Date().toISOString() });
              await client.query(`insert into ${RAW_AUDIT_TABLE} (event) values ($1)`, [event]);
            }),
          seconds,
          runSignal,
        ),
    };
    const scenario: LoadSide = {
      label: 'hub GET',
      unit: 'req/s',
      run: (seconds, runSignal) =>
        runHttpLoad({
          url: hub.baseUrl,
          connections: CONNECTIONS,
          seconds,
          headers: { authorization: `Bearer ${token}`, accept: 'application/fhir+json' },
          path: () => `/fhir/Patient/${pickId()}`,
          signal: runSignal,
        }),
    };

    let auditMark = 0;
    const beforeRun = async (side: SideName): Promise<void> => {
      await drainAuditQueue(control, signal);
      // BENCH.md rule 4: no run pays for dirty pages the one before left behind.
      await control.query('checkpoint');
      auditMark = await maxAuditSeq(control);
      // Access tokens live five minutes: each scenario run gets a fresh one, the real way.
      if (side === 'scenario') token = await fetchToken();
    };
    const afterRun = async (side: SideName, figures: { completed: number }): Promise<void> => {
      if (side !== 'scenario') return;
      const backlog = await queueLength(control);
      const counted = await control.query<{ n: string }>('select count(*) as n from audit_event where seq > $1', [auditMark]);
      const written = Number(counted.rows[0]?.n ?? 0);
      // An answered read without its AuditEvent would make the figure a lie.
      if (written < figures.completed) throw new Error(`${figures.completed} reads answered but only ${written} AuditEvents written`);
      log(`    audit: ${written} events written in this run and its warm-up, ${backlog} waiting for the sequencer at its end`);
    };

    log(`read: ${options.pairs} pairs of ${options.seconds} s runs after ${options.warmupSeconds} s warm-ups`);
    const pairs = await runPairs({
      pairs: options.pairs,
      seconds: options.seconds,
      warmupSeconds: options.warmupSeconds,
      baseline,
      scenario,
      beforeRun,
      afterRun,
      ourPids: () => ourPids(control, hub, options.adminUrl),
      scenarioPid: hub.pid,
      servers: {
        baseline: async () => ({ process: [process.pid], database: await clientBackends(control, { application: BASELINE_APPLICATION }) }),
        scenario: async () => ({ process: [hub.pid], database: await clientBackends(control) }),
      },
      signal,
      log,
    });

    const totals = await auditTotals(control, signal);
    for (const line of formatPairReport({
      title: `read: one audited FHIR read over HTTP (GET /fhir/Patient/<random id>) against the raw limit`,
      setting: [
        ...setting,
        `scenario: the hub in its own process (request log at info to the null device), autocannon ${CONNECTIONS} connections, loopback`,
        `baseline: node-postgres, ${CONNECTIONS} clients, each: begin; select content by primary key; insert one ${auditBytes}-byte jsonb audit row; commit`,
        `runs: ${options.pairs} pairs (baseline first), ${options.seconds} s measured after ${options.warmupSeconds} s warm-up, CHECKPOINT and drained audit queue before each`,
        `audit: ${totals?.events ?? '?'} AuditEvents written by the hub, ${totals?.logged ?? '?'} in its hash-chained log`,
      ],
      baselineLabel: baseline.label,
      baselineUnit: baseline.unit,
      scenarioLabel: scenario.label,
      scenarioUnit: scenario.unit,
      pairs,
    })) {
      out(line);
    }
  });
}

/** Migrates, registers the bench client, preloads children and settles the tables. Returns the ids. */
async function prepareData(database: BenchDatabase, keys: ClientKeyPair, context: BenchContext): Promise<string[]> {
  const { options, signal, log } = context;
  const hubDb = await openDatabase({ kind: 'postgres', url: database.url, poolSize: 2 });
  try {
    await hubDb.migrate();
    await inTransaction(hubDb.db, async (tx) => {
      await upsertOrganisation(tx, ORGANISATION);
      await upsertClient(tx, { ...CLIENT, organisationCode: ORGANISATION.code, jwks: { keys: [keys.publicJwk] } });
    });
    log(`read: preloading ${options.patients} synthetic children`);
    return await preloadChildren(hubDb.db, { count: options.patients, sourceOrg: ORGANISATION.code, now: new Date(), signal, log });
  } finally {
    await hubDb.close();
  }
}

/** Reads one Patient through the hub and returns the AuditEvent it wrote: the baseline's payload. */
async function auditTemplate(control: pg.Client, hub: HubProcess, token: string, id: string): Promise<AuditEvent> {
  const res = await fetch(`${hub.baseUrl}/fhir/Patient/${id}`, {
    headers: { authorization: `Bearer ${token}`, accept: 'application/fhir+json' },
    signal: AbortSignal.timeout(10_000),
  });
  if (res.status !== 200) throw new Error(`a first read of Patient/${id} answered ${res.status}: ${await res.text()}`);
  const rows = await control.query<{ event: AuditEvent }>(
    `select event from audit_event where event->'subtype'->0->>'code' = 'read' and event->>'outcome' = '0' order by seq desc limit 1`,
  );
  const event = rows.rows[0]?.event;
  if (event === undefined) throw new Error('the first read wrote no AuditEvent');
  return event;
}

async function maxAuditSeq(control: pg.Client): Promise<number> {
  const rows = await control.query<{ seq: string }>('select coalesce(max(seq), 0) as seq from audit_event');
  return Number(rows.rows[0]?.seq ?? 0);
}

export const fhirReadBenchmark: Benchmark = {
  summary: 'one audited FHIR read over HTTP (GET /fhir/Patient/<id>) against raw pg read + audit insert',
  // Creating, migrating, preloading and vacuuming: well under a minute per 100k
  // children on a quiet machine here; the budget leaves room for a busy one.
  setupSeconds: 900,
  run: benchFhirRead,
};
