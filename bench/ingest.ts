import pg from 'pg';
import { generateClientKeyPair, type ClientKeyPair } from '../src/auth/client-assertion.js';
import { inTransaction, openDatabase } from '../src/db/database.js';
import { upsertClient, upsertOrganisation } from '../src/db/registry-queries.js';
import { demoClients, demoOrganisations, type ClientRecord, type OrganisationRecord } from '../src/demo/world.js';
import { withBenchDatabase, type BenchDatabase } from './support/bench-database.js';
import type { Benchmark, BenchContext } from './support/benchmark.js';
import { processCpuMs } from './support/cpu.js';
import { auditTotals, describeSetting, drainAuditQueue, ourPids } from './support/hub-db.js';
import { startHubProcess, type HubProcess } from './support/hub-process.js';
import { runHttpLoad } from './support/http-load.js';
import { createRawTables, describeRequest, FreshValues, rawReceiptCount, rawTableNames, readStoredRequest, replayRequest, rowsPerRequest, seedHubTables, type RawRequest } from './support/ingest-baseline.js';
import { ingestFormats, UniqueValues, type IngestFormat } from './support/ingest-formats.js';
import { median, type LoadFigures } from './support/load.js';
import { drivePgClients, openPgClients } from './support/pg-load.js';
import { runPairs, type LoadSide, type PairResult, type SideName } from './support/pairs.js';
import { preloadChildren } from './support/preload.js';
import { formatPairReport } from './support/report.js';
import { withDeadline } from './support/time.js';
import { requestAccessToken } from './support/token.js';

// `npm run bench -- ingest`: what storing one inbound message costs over HTTP
// against the raw limit of the same rows, for each format partners push:
// FHIR message, HL7 v2 VXU, immunisation CSV (per row) and CAF. The scenario
// is the hub answering POSTs of messages never seen before (token check,
// adapter, validation, identity locks and matching, every resource version
// with its history and index rows, the raw message as a Binary, Provenance,
// receipt, AuditEvent, all in one transaction per message; log sequencing
// behind it). The baseline replays the rows the hub wrote for a real message
// of the same format, per message one transaction of plain INSERTs.
// The database holds the preloaded children and, per format, earlier messages
// written as the hub writes them, so that the hub's lookups run against the
// statistics and indexes of a hub in use (one that has only seen Patients
// plans its lookups of other types badly, and worse with every message).

const CONNECTIONS = 8;
/** Requests per format sent through the hub before anything is measured: the last one's rows are the baseline's payload. */
const PROBES = 2;
/** The organisation the preloaded children are registered with. */
const PRELOAD_ORG = 'Y90001';
/** The CSV fixtures' SITE_CODE: a practice of its own, registered as test/support/test-hub.ts does. */
const CSV_ORGANISATION: OrganisationRecord = { code: 'Y99901', system: 'https://fhir.nhs.uk/Id/ods-organization-code', type: 'gp', name: 'Benchmark practice', catchment: [] };
const CSV_CLIENT: ClientRecord = { id: 'bench-csv-gp', organisation: 'Y99901', scopes: ['system/Immunization.c', 'system/Patient.c', 'system/*.rs'], purposes: ['direct-care'] };
/** Earlier messages per format written into the hub's tables before measuring, per preloaded child. */
const SEED_PER_PATIENT = 0.1;
/** The demo clients that send the other formats. */
const SENDERS = ['northgate-maternity', 'limehouse-gp', 'eastside-early-help'];

interface Prepared {
  format: IngestFormat;
  /** What the hub wrote for a probe request: the baseline's payload. */
  template: RawRequest;
  fetchToken: () => Promise<string>;
}

interface FormatResult {
  format: IngestFormat;
  pairs: PairResult[];
  stored: number;
  /** The hub process's CPU time per message stored, in ms, per measured run (undefined off Linux). */
  hubCpuMs: (number | undefined)[];
}

export async function benchIngest(context: BenchContext): Promise<void> {
  const { options, signal, log, out } = context;
  await withBenchDatabase(context, 'ingest', async (database, cleanup) => {
    const clients = [...demoClients.filter((c) => SENDERS.includes(c.id)), CSV_CLIENT];
    const keys = new Map<string, ClientKeyPair>();
    for (const client of clients) keys.set(client.id, await generateClientKeyPair('ES384'));
    await prepareData(database, clients, keys, context);

    const control = new pg.Client({ connectionString: database.url, application_name: 'hubbench-control', statement_timeout: 600_000 });
    await control.connect();
    cleanup.defer('close control connection', () => control.end());
    const setting = await describeSetting(control, options.patients);

    log('ingest: starting the hub');
    const hub = await startHubProcess(database.url, signal);
    cleanup.defer('stop hub process', () => hub.stop());

    // NHS numbers continue the preload's sequence: no message is about a preloaded child.
    const formats = pickFormats(await ingestFormats(new UniqueValues(options.patients)), options.ingestFormats);
    const values = new FreshValues();
    const prepared: Prepared[] = [];
    for (const format of formats) {
      const client = clients.find((c) => c.id === format.clientId);
      const pair = keys.get(format.clientId);
      if (client === undefined || pair === undefined) throw new Error(`no bench client ${format.clientId}`);
      const fetchToken = (): Promise<string> =>
        requestAccessToken({ baseUrl: hub.baseUrl, clientId: client.id, privateJwk: pair.privateJwk, scope: client.scopes.join(' '), purpose: format.purpose });
      log(`ingest: ${format.name}: ${PROBES} probe requests through the hub`);
      const template = await probe(hub, format, await fetchToken(), control);
      prepared.push({ format, template, fetchToken });
    }

    // A hub in use has received messages of every type before: without them the
    // planner has statistics for Patients only, and its plans for the other types
    // degrade as the run adds rows (see seedHubTables).
    const seedMessages = Math.round(options.patients * SEED_PER_PATIENT);
    for (const { format, template } of prepared) {
      const requests = Math.ceil(seedMessages / format.unitsPerRequest);
      log(`ingest: ${format.name}: writing ${requests * format.unitsPerRequest} earlier messages into the hub's tables`);
      await seedHubTables(control, template, requests, values, signal);
    }
    log('ingest: copying the hub\'s rows into the baseline tables');
    await createRawTables(control);
    // A long-lived database has statistics and set hint bits; without this the
    // first runs would pay for writing hint bits that later runs do not.
    await control.query(`vacuum (analyze) resource, resource_history, resource_token, resource_reference, message_receipt, ${rawTableNames().join(', ')}`);
    const size = await control.query<{ total: string; rows: string }>(
      'select pg_size_pretty(pg_database_size(current_database())) as total, (select count(*) from resource) as rows',
    );
    setting.push(
      `earlier messages: ~${seedMessages} per format written into the hub's tables as the hub writes them (no AuditEvents); ` +
        `${size.rows[0]?.rows ?? '?'} resources in all, database ${size.rows[0]?.total ?? '?'} with the baseline's copy`,
    );

    const raw = await openPgClients(database.url, CONNECTIONS, 'hubbench-baseline');
    cleanup.defer('close baseline connections', () => raw.close());

    const results: FormatResult[] = [];
    for (const { format, template, fetchToken } of prepared) {
      const result = await measureFormat({ format, template, setting, hub, control, clients: raw.clients, values, fetchToken, context });
      results.push(result);
      for (const line of result.report) out(line);
    }

    for (const line of summary(results, setting, await auditTotals(control, signal))) out(line);
  });
}

/** Migrates, registers the senders and their organisations, preloads children. */
async function prepareData(database: BenchDatabase, clients: readonly ClientRecord[], keys: ReadonlyMap<string, ClientKeyPair>, context: BenchContext): Promise<void> {
  const { options, signal, log } = context;
  const organisations = [...demoOrganisations.filter((o) => o.code === PRELOAD_ORG || clients.some((c) => c.organisation === o.code)), CSV_ORGANISATION];
  const hubDb = await openDatabase({ kind: 'postgres', url: database.url, poolSize: 2 });
  try {
    await hubDb.migrate();
    await inTransaction(hubDb.db, async (tx) => {
      for (const org of organisations) await upsertOrganisation(tx, org);
      for (const client of clients) {
        const pair = keys.get(client.id);
        if (pair === undefined) throw new Error(`no key for ${client.id}`);
        await upsertClient(tx, { id: client.id, organisationCode: client.organisation, scopes: client.scopes, purposes: client.purposes, jwks: { keys: [pair.publicJwk] } });
      }
    });
    log(`ingest: preloading ${options.patients} synthetic children`);
    await preloadChildren(hubDb.db, { count: options.patients, sourceOrg: PRELOAD_ORG, now: new Date(), signal, log });
  } finally {
    await hubDb.close();
  }
}

interface FormatPlan {
  format: IngestFormat;
  template: RawRequest;
  /** Lines about the data and the server, for the report. */
  setting: readonly string[];
  hub: HubProcess;
  control: pg.Client;
  clients: readonly pg.Client[];
  values: FreshValues;
  fetchToken: () => Promise<string>;
  context: BenchContext;
}

/** Figures per request → figures per message (unit): a CSV file of n rows is n messages. */
function perMessage(figures: LoadFigures, units: number): LoadFigures {
  return { ...figures, completed: figures.completed * units, perSecond: figures.perSecond * units };
}

async function measureFormat(plan: FormatPlan): Promise<FormatResult & { report: string[] }> {
  const { format, template, hub, control, values, context } = plan;
  const { options, signal, log } = context;
  const units = format.unitsPerRequest;
  // Fetched before each scenario run (beforeRun).
  let token = '';
  const perRequest = rowsPerRequest(template);
  const headers = (): Record<string, string> => ({ authorization: `Bearer ${token}`, 'content-type': format.contentType, accept: 'application/fhir+json' });

  // What each side did since the last beforeRun (warm-up and measurement): checked in afterRun.
  let replayed = 0;
  let sent = 0;
  let answered = 0;
  let stored = 0;
  let marks: Counts | undefined;
  let rawMark = 0;
  // The hub process's CPU per message in the last scenario run (warm-up or measured); kept per measured run in afterRun.
  let lastHubCpuMs: number | undefined;
  const hubCpuMs: (number | undefined)[] = [];

  const baseline: LoadSide = {
    label: 'raw pg',
    unit: 'msg/s',
    run: async (seconds, runSignal) => {
      const figures = await drivePgClients(
        plan.clients,
        async (client) => {
          // Not `replayed += await …`: that reads the counter before the await and loses the other clients' counts.
          const written = await replayRequest(client, template, values);
          replayed += written;
        },
        seconds,
        runSignal,
      );
      return perMessage(figures, units);
    },
  };
  const scenario: LoadSide = {
    label: 'hub POST',
    unit: 'msg/s',
    run: async (seconds, runSignal) => {
      const cpuBefore = processCpuMs(hub.pid);
      const figures = await runHttpLoad({
        url: hub.baseUrl,
        connections: CONNECTIONS,
        seconds,
        headers: headers(),
        path: () => format.path,
        body: () => {
          sent += 1;
          return format.next();
        },
        signal: runSignal,
      });
      answered += figures.completed;
      const cpuAfter = processCpuMs(hub.pid);
      const messages = figures.completed * units;
      lastHubCpuMs = cpuBefore === undefined || cpuAfter === undefined || messages === 0 ? undefined : (cpuAfter - cpuBefore) / messages;
      return perMessage(figures, units);
    },
  };

  const beforeRun = async (side: SideName): Promise<void> => {
    await drainAuditQueue(control, signal);
    // BENCH.md rule 4: no run pays for dirty pages the one before left behind.
    await control.query('checkpoint');
    replayed = 0;
    sent = 0;
    answered = 0;
    if (side === 'baseline') {
      rawMark = await rawReceiptCount(control);
    } else {
      marks = await counts(control, format.event);
      // Access tokens live five minutes: each scenario run gets a fresh one, the real way.
      token = await plan.fetchToken();
    }
  };
  const afterRun = async (side: SideName): Promise<void> => {
    if (side === 'baseline') {
      const written = (await rawReceiptCount(control)) - rawMark;
      if (written !== replayed) throw new Error(`the baseline committed ${replayed} transactions but ${written} receipts are stored`);
      return;
    }
    if (marks === undefined) throw new Error('afterRun before beforeRun');
    // Requests cut off at the end of the run may still be committing: wait until nothing moves.
    await settle(control, format, marks, signal);
    const now = await counts(control, format.event);
    stored += checkRun(format, perRequest, marks, now, { sent, answered });
    hubCpuMs.push(lastHubCpuMs);
    log(`    checked: ${answered} requests answered 200, ${now.receipts - marks.receipts} messages stored (${sent} requests sent), every resource counted; hub CPU ${cpuFigure(lastHubCpuMs)} ms per message`);
  };

  log(`ingest: ${format.name}: ${options.pairs} pairs of ${options.seconds} s runs after ${options.warmupSeconds} s warm-ups`);
  const pairs = await runPairs({
    pairs: options.pairs,
    seconds: options.seconds,
    warmupSeconds: options.warmupSeconds,
    baseline,
    scenario,
    beforeRun,
    afterRun,
    ourPids: () => ourPids(control, hub, options.adminUrl),
    signal,
    log,
  });
  const per = units === 1 ? 'per message' : `per file of ${units} rows`;
  const report = formatPairReport({
    title: `ingest, ${format.title}: new messages stored over HTTP against the raw limit of the same rows`,
    setting: [
      ...plan.setting,
      `messages: templated from test/fixtures/${format.fixture}, each with its own message key, NHS numbers (valid check digit, none preloaded) and identifiers; sent by ${format.clientId}`,
      `scenario: the hub in its own process (request log at info to the null device), autocannon ${CONNECTIONS} connections, loopback, ${units} message(s) per request`,
      `baseline: node-postgres, ${CONNECTIONS} clients, per message one transaction of the rows the hub wrote for a probe message:`,
      `  receipt insert ON CONFLICT DO NOTHING, then as the hub wrote them:`,
      ...describeRequest(template).map((line) => `  ${line}`),
      `  (fresh ids and index values per transaction, into tables LIKE the hub's holding a copy of its rows: children and earlier messages)`,
      `runs: ${options.pairs} pairs (baseline first), ${options.seconds} s measured after ${options.warmupSeconds} s warm-up, CHECKPOINT and drained audit queue before each`,
      `figures: msg/s counts messages (CSV rows); p50/p99 are ${per} (an HTTP request, or the baseline's transactions for it)`,
      `hub CPU: the hub process's user + system time over the measured run (from /proc), ÷ the messages answered in it`,
      `checks: every response 200; after each hub run, stored messages and resources by type counted against what was sent (${stored} messages stored in ${options.pairs} runs and their warm-ups)`,
    ],
    baselineLabel: baseline.label,
    baselineUnit: baseline.unit,
    scenarioLabel: scenario.label,
    scenarioUnit: scenario.unit,
    pairs,
  });
  report.push(`hub process CPU per message (user + system, ms; messages answered in the measured run): ${hubCpuMs.map(cpuFigure).join(', ')} by pair`);
  return { format, pairs, stored, hubCpuMs, report };
}

/** Sends PROBES new messages through the hub and reads back what it stored for the last one. */
async function probe(hub: HubProcess, format: IngestFormat, token: string, control: pg.Client): Promise<RawRequest> {
  let keys: string[] = [];
  for (let i = 0; i < PROBES; i += 1) {
    const body = format.next();
    keys = format.messageKeys(body);
    if (keys.length !== format.unitsPerRequest) throw new Error(`${format.name}: a request holds ${keys.length} messages, not ${format.unitsPerRequest}`);
    const res = await fetch(`${hub.baseUrl}${format.path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': format.contentType, accept: 'application/fhir+json' },
      body,
      signal: AbortSignal.timeout(30_000),
    });
    const answer = await res.text();
    if (res.status !== 200) throw new Error(`${format.name}: a probe was answered ${res.status}: ${answer.slice(0, 1000)}`);
  }
  return readStoredRequest(control, keys);
}

interface Counts {
  receipts: number;
  notStored: number;
  byType: Map<string, number>;
}

async function counts(control: pg.Client, event: string): Promise<Counts> {
  const receipts = await control.query<{ receipts: number; not_stored: number }>(
    `select count(*)::int as receipts, count(*) filter (where outcome->>'status' is distinct from 'stored')::int as not_stored
       from message_receipt where event = $1`,
    [event],
  );
  const types = await control.query<{ type: string; n: number }>('select type, count(*)::int as n from resource group by type');
  return {
    receipts: receipts.rows[0]?.receipts ?? 0,
    notStored: receipts.rows[0]?.not_stored ?? 0,
    byType: new Map(types.rows.map((r) => [r.type, r.n])),
  };
}

/**
 * Waits for requests cut off at the end of a run to finish: the hub carries
 * on with a request whose client has gone. Settled when every request begun
 * (its raw message stored by its first unit) has all its units stored and
 * nothing has moved for a second.
 */
async function settle(control: pg.Client, format: IngestFormat, before: Counts, signal: AbortSignal): Promise<void> {
  const wait = async (): Promise<void> => {
    let last = '';
    let still = 0;
    while (still < 10) {
      signal.throwIfAborted();
      const rows = await control.query<{ receipts: number; binaries: number }>(
        `select (select count(*) from message_receipt where event = $1)::int as receipts, (select count(*) from resource where type = 'Binary')::int as binaries`,
        [format.event],
      );
      const receipts = (rows.rows[0]?.receipts ?? 0) - before.receipts;
      const binaries = (rows.rows[0]?.binaries ?? 0) - (before.byType.get('Binary') ?? 0);
      const now = `${receipts}/${binaries}`;
      still = now === last && receipts === binaries * format.unitsPerRequest ? still + 1 : 0;
      last = now;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };
  await withDeadline(wait(), 60_000, 'waiting for the last messages to commit');
}

/**
 * The hub stored every message it answered 200 for, and nothing it was not
 * sent, each as new: the stored messages lie between what was answered and
 * what was sent, all stored (none a duplicate), and every resource type grew
 * by exactly what that many messages write. Returns the messages stored.
 */
function checkRun(format: IngestFormat, perRequest: ReadonlyMap<string, number>, before: Counts, after: Counts, requests: { sent: number; answered: number }): number {
  const units = format.unitsPerRequest;
  const storedUnits = after.receipts - before.receipts;
  const problems: string[] = [];
  if (after.notStored !== before.notStored) problems.push(`${after.notStored - before.notStored} messages were not stored as new (duplicate or unchanged)`);
  if (storedUnits < requests.answered * units) problems.push(`${requests.answered} requests were answered 200 but only ${storedUnits} messages are stored`);
  if (storedUnits > requests.sent * units) problems.push(`${storedUnits} messages are stored but only ${requests.sent} requests were sent`);
  if (storedUnits % units !== 0) problems.push(`${storedUnits} messages stored is not a whole number of ${units}-message requests`);
  const storedRequests = Math.floor(storedUnits / units);
  const types = new Set([...perRequest.keys(), ...after.byType.keys()]);
  for (const type of types) {
    const grew = (after.byType.get(type) ?? 0) - (before.byType.get(type) ?? 0);
    const expected = storedRequests * (perRequest.get(type) ?? 0);
    if (grew !== expected) problems.push(`${type} grew by ${grew}, expected ${expected}`);
  }
  if (problems.length > 0) throw new Error(`${format.name}: the stored counts do not match what was sent: ${problems.join('; ')}`);
  return storedUnits;
}

function summary(results: readonly FormatResult[], setting: readonly string[], chain: { events: string; logged: string } | undefined): string[] {
  const header = ['format', 'raw pg msg/s', 'hub msg/s', 'ratio median', 'min–max', 'hub CPU ms/msg', 'flagged pairs'];
  const rows = results.map(({ format, pairs, hubCpuMs }) => {
    const cpu = hubCpuMs.filter((v): v is number => v !== undefined);
    const ratios = pairs.map((p) => p.ratio);
    const flagged = pairs.filter((p) => [p.baseline.othersShare, p.scenario.othersShare].some((v) => v !== undefined && v > 0.1)).map((p) => p.pair);
    return [
      format.name,
      median(pairs.map((p) => p.baseline.figures.perSecond)).toFixed(1),
      median(pairs.map((p) => p.scenario.figures.perSecond)).toFixed(1),
      median(ratios).toFixed(3),
      `${Math.min(...ratios).toFixed(3)}–${Math.max(...ratios).toFixed(3)}`,
      cpu.length === 0 ? 'n/a' : cpuFigure(median(cpu)),
      flagged.length === 0 ? '-' : flagged.join(', '),
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
  const stored = results.reduce((sum, r) => sum + r.stored, 0);
  return [
    '',
    'ingest summary: new messages stored per second, hub over HTTP against raw pg inserts of the same rows (medians of the pairs above)',
    ...setting.map((l) => `  ${l}`),
    `  ${stored} messages stored by the hub in measured runs and warm-ups, each checked; audit: ${chain?.events ?? '?'} AuditEvents, ${chain?.logged ?? '?'} in the hash-chained log`,
    '',
    line(header),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...rows.map(line),
    '',
    'ratio = hub ÷ raw pg throughput per pair; hub CPU ms/msg = median over the measured runs of the hub process\'s CPU time ÷ messages answered; flagged pairs: other processes took > 10 % of the CPU',
  ];
}

/** BENCH_INGEST_FORMATS=fhir-message,caf: only those formats (to profile one, say); every format when unset. */
function pickFormats(formats: IngestFormat[], wanted: readonly string[] | undefined): IngestFormat[] {
  if (wanted === undefined || wanted.length === 0) return formats;
  const unknown = wanted.filter((n) => !formats.some((f) => f.name === n));
  if (unknown.length > 0) throw new Error(`BENCH_INGEST_FORMATS: unknown ${unknown.join(', ')} (known: ${formats.map((f) => f.name).join(', ')})`);
  return formats.filter((f) => wanted.includes(f.name));
}

function cpuFigure(ms: number | undefined): string {
  return ms === undefined ? 'n/a' : ms.toFixed(2);
}

export const ingestBenchmark: Benchmark = {
  summary: 'new messages stored over HTTP (FHIR message, HL7 v2, CSV row, CAF) against raw pg inserts of the same rows',
  // Creating, migrating, preloading, copying into the baseline tables and vacuuming:
  // about a minute per 100k children on a quiet machine here; the budget leaves room for a busy one.
  setupSeconds: 1200,
  series: 4,
  run: benchIngest,
};
