import type { AuditEvent, Bundle, Patient } from 'fhir/r4.js';
import { randomUUID } from 'node:crypto';
import { availableParallelism } from 'node:os';
import pg from 'pg';
import { generateClientKeyPair, type ClientKeyPair } from '../src/auth/client-assertion.js';
import { inTransaction, openDatabase } from '../src/db/database.js';
import { upsertClient, upsertOrganisation } from '../src/db/registry-queries.js';
import { demoClients, demoOrganisations } from '../src/demo/world.js';
import { withBenchDatabase, type BenchDatabase } from './support/bench-database.js';
import type { Benchmark, BenchContext } from './support/benchmark.js';
import { coresUsed, sampleCpu } from './support/cpu.js';
import { preloadFamilies, type FamilyPreload } from './support/family-preload.js';
import { auditTotals, describeSetting, drainAuditQueue, ourPids, queueLength } from './support/hub-db.js';
import { startHubProcess, type HubProcess } from './support/hub-process.js';
import { median, percentile, type LoadFigures } from './support/load.js';
import { inPgTransaction, openPgClients } from './support/pg-load.js';
import { runPairs, type LoadSide, type SideName } from './support/pairs.js';
import { formatPairReport } from './support/report.js';
import { isEntryPoint, runAlone } from './support/runner.js';
import { elapsedSeconds } from './support/time.js';
import { requestAccessToken } from './support/token.js';

// `npm run bench -- disclose` (or `npx tsx bench/disclose.ts`): a children's
// centre pulling its registrations over HTTP, with every candidate record
// filtered through the disclosure decision, what is permitted redacted to the
// flow's data items, and one AuthZ-Consent AuditEvent written per record
// considered. Ocean Children's Centre (catchment E1, E1W) asks, as ocean-cc
// with purpose early-years-registration, for GET /fhir/Patient?_count=100 and
// follows the next links to the end. The hub holds BENCH_PATIENTS families
// with a born baby and some 15,000 booked mothers (family-preload.ts):
// exactly PERMITTED of them are Ocean's to see.
//
// One pull is split across PULLERS concurrent clients (BENCH.md rule 2: the
// 8-client figure is the one to gate on), each paging through its own slice
// of lastUpdated (ge/lt bounds at the eighths of all Patients), as
// a centre's nightly sync might share its work. A run is whole pulls,
// repeated until BENCH_SECONDS have passed (a pull of the hub takes longer
// than that, so a scenario run is one pull); every pull must return exactly
// the permitted mothers, each redacted, or the benchmark fails. The warm-up
// is pulling for BENCH_WARMUP_SECONDS, abandoned where it stands.
//
// Baseline, the raw disclosure transaction of BENCH.md: the same permitted
// rows read from PostgreSQL by node-postgres, PULLERS clients over the same
// slices, per page of PAGE ids one transaction that reads them
// (id = any($1)) and inserts one audit row per row read, each the size of
// the hub's permit AuditEvent. rows/s against registrations/s.

const PULLERS = 8;
const PAGE = 100;
const PERMITTED = 5_000;
const CLIENT_ID = 'ocean-cc';
const PURPOSE = 'early-years-registration';
const SCOPE = 'system/Patient.rs';
const RAW_AUDIT_TABLE = 'bench_raw_audit';
/** Per HTTP page: a page scans up to 5,000 candidates and audits each in its transaction. */
const PAGE_TIMEOUT_MS = 180_000;
/** Access tokens live five minutes: a puller refreshes one older than this. */
const TOKEN_MAX_AGE_MS = 240_000;
/** What a redacted registration may carry: mother-contact's elements, and what every resource has. */
const ALLOWED_ELEMENTS = new Set(['resourceType', 'id', 'meta', 'name', 'address', 'telecom', 'birthDate', 'communication']);

interface Slice {
  /** Inclusive lower bound, exclusive upper bound, as sent in _lastUpdated. */
  from: Date;
  to: Date;
  /** The permitted mothers in it. */
  expected: string[];
}

interface PullOutcome {
  ids: string[];
  pages: number;
  latenciesMs: number[];
  complete: boolean;
}

interface Counters {
  pulls: number;
  pages: number;
  decisions: number;
  permits: number;
  seconds: number;
  /** Cores busy during the run: the hub process, the PostgreSQL processes, this process. */
  hubCores: number | undefined;
  pgCores: number | undefined;
  benchCores: number | undefined;
}

export async function benchDisclose(context: BenchContext): Promise<void> {
  const { options, signal, log, out } = context;
  await withBenchDatabase(context, 'disclose', async (database, cleanup) => {
    const keys = await generateClientKeyPair('ES384');
    await prepareRegistry(database, keys);

    const control = new pg.Client({ connectionString: database.url, application_name: 'hubbench-control', statement_timeout: 900_000 });
    await control.connect();
    cleanup.defer('close control connection', () => control.end());
    log(`disclose: preloading ${options.patients} families with a born baby, and booked mothers (${PERMITTED} of them Ocean's to see)`);
    const world = await preloadFamilies(control, { children: options.patients, permitted: PERMITTED, now: new Date(), signal, log });
    // A long-lived database has statistics and set hint bits; without this the
    // first runs would pay for writing hint bits that later runs do not.
    await control.query('vacuum (analyze) resource, resource_history, resource_token, resource_reference, subject_fact, consent_fact, carry_fact');
    const setting = await describeSetting(control, world.patients);
    const slices = await slicePatients(control, world);
    await control.query(`create table ${RAW_AUDIT_TABLE} (seq bigserial primary key, event jsonb not null)`);

    log('disclose: starting the hub');
    const hub = await startHubProcess(database.url, signal);
    cleanup.defer('stop hub process', () => hub.stop());
    const tokens = new TokenSource(() =>
      requestAccessToken({ baseUrl: hub.baseUrl, clientId: CLIENT_ID, privateJwk: keys.privateJwk, scope: SCOPE, purpose: PURPOSE }),
    );
    const template = await auditTemplate(control, hub, await tokens.get());
    const auditBytes = Buffer.byteLength(JSON.stringify(template));

    const raw = await openPgClients(database.url, PULLERS, 'hubbench-baseline');
    cleanup.defer('close baseline connections', () => raw.close());

    let warmingUp = false;
    const hubTotals: Counters[] = [];
    const scenario: LoadSide = {
      label: 'hub pull',
      unit: 'reg/s',
      run: async (seconds, runSignal) => {
        const warm = warmingUp;
        warmingUp = false;
        if (warm) {
          const partial = await pullOnce(hub, slices, tokens, runSignal, process.hrtime.bigint() + BigInt(seconds * 1e9));
          checkPull(partial, world, false);
          return figuresOf(partial.ids.length, seconds, partial.latenciesMs);
        }
        const mark = await maxAuditSeq(control);
        const cpuBefore = sampleCpu();
        const started = process.hrtime.bigint();
        const latencies: number[] = [];
        let pulls = 0;
        let pages = 0;
        do {
          const pull = await pullOnce(hub, slices, tokens, runSignal, undefined);
          checkPull(pull, world, true);
          latencies.push(...pull.latenciesMs);
          pages += pull.pages;
          pulls += 1;
        } while (elapsedSeconds(started) < seconds);
        const elapsed = elapsedSeconds(started);
        const cpuAfter = sampleCpu();
        const audit = await auditCounts(control, mark);
        // One AuthZ-Consent event per record considered, in the page's transaction (a permit exactly once per
        // registration shown), and one search event per page.
        if (audit.permits !== PERMITTED * pulls) throw new Error(`${pulls} pull(s) showed ${PERMITTED * pulls} registrations but ${audit.permits} permit decisions were audited`);
        if (audit.searches !== pages) throw new Error(`${pages} pages were answered but ${audit.searches} search AuditEvents written`);
        // Where the time went: is the hub's one thread busy, or waiting for the database?
        const database = (await ourPids(control, hub, options.adminUrl)).filter((pid) => pid !== process.pid && pid !== hub.pid);
        const cpus = availableParallelism();
        const counters: Counters = {
          pulls,
          pages,
          decisions: audit.decisions,
          permits: audit.permits,
          seconds: elapsed,
          hubCores: coresUsed(cpuBefore, cpuAfter, [hub.pid], cpus),
          pgCores: database.length === 0 ? undefined : coresUsed(cpuBefore, cpuAfter, database, cpus),
          benchCores: coresUsed(cpuBefore, cpuAfter, [process.pid], cpus),
        };
        hubTotals.push(counters);
        log(
          `    checked: ${pulls} pull(s) of exactly the ${PERMITTED} permitted mothers, redacted, in ${pages} pages; ` +
            `${audit.decisions} AuthZ-Consent events (${(audit.decisions / pulls).toFixed(0)} decisions per pull, ${(audit.decisions / elapsed).toFixed(0)}/s); ` +
            `CPU: hub ${cores(counters.hubCores)}, PostgreSQL ${cores(counters.pgCores)}, pullers ${cores(counters.benchCores)} of ${cpus} cores`,
        );
        return figuresOf(PERMITTED * pulls, elapsed, latencies);
      },
    };

    let rawMark = 0;
    let rawRows = 0;
    const baseline: LoadSide = {
      label: 'raw pg',
      unit: 'rows/s',
      run: async (seconds, runSignal) => {
        const started = process.hrtime.bigint();
        const latencies: number[] = [];
        let rows = 0;
        do {
          rows += await rawPull(raw.clients, slices, template, latencies, runSignal);
        } while (elapsedSeconds(started) < seconds);
        const elapsed = elapsedSeconds(started);
        rawRows += rows;
        return figuresOf(rows, elapsed, latencies);
      },
    };

    const beforeRun = async (side: SideName): Promise<void> => {
      await drainAuditQueue(control, signal);
      // BENCH.md rule 4: no run pays for dirty pages the one before left behind.
      await control.query('checkpoint');
      warmingUp = options.warmupSeconds > 0;
      if (side === 'scenario') await tokens.refresh();
      else {
        rawMark = await rawAuditCount(control);
        rawRows = 0;
      }
    };
    const afterRun = async (side: SideName): Promise<void> => {
      if (side === 'baseline') {
        const written = (await rawAuditCount(control)) - rawMark;
        if (written !== rawRows) throw new Error(`the baseline read ${rawRows} rows but wrote ${written} audit rows`);
        return;
      }
      log(`    audit: ${await queueLength(control)} events waiting for the sequencer at the end of the run`);
    };

    log(`disclose: ${options.pairs} pairs of runs of whole pulls lasting at least ${options.seconds} s, after ${options.warmupSeconds} s warm-ups`);
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

    const totals = await auditTotals(control, signal);
    const perPull = median(hubTotals.map((t) => t.decisions / t.pulls));
    const decisionsPerSecond = median(hubTotals.map((t) => t.decisions / t.seconds));
    const pullSeconds = median(hubTotals.map((t) => t.seconds / t.pulls));
    const rawRate = median(pairs.map((p) => p.baseline.figures.perSecond));
    const medianCores = (pick: (c: Counters) => number | undefined): string => {
      const values = hubTotals.map(pick).filter((v): v is number => v !== undefined);
      return values.length === 0 ? 'n/a' : cores(median(values));
    };
    const lines = formatPairReport({
      title: `disclose: a children's centre pulling its ${PERMITTED} registrations over HTTP (filter, redact, audit) against the raw limit`,
      setting: [
        ...setting,
        `families: ${options.patients} with a born baby (mother, baby, booking Consent, pregnancy episode, EDD; 10 % with a GP dose record) and ${world.patients - 2 * options.patients} booked mothers; ` +
          `${world.resources} resources (${[...world.byType].map(([t, n]) => `${t} ${n}`).join(', ')}), written as writeVersion writes them`,
        `who may see what: Ocean (CC-OCEAN, E1/E1W) may see exactly ${PERMITTED} booked mothers; the other ${world.patients - PERMITTED} Patients must be denied ` +
          `(${world.inOcean - PERMITTED} of them in E1/E1W: consent refused, rejected, withdrawn or naming another centre, a pregnancy loss, a restricted record; the rest outside the catchment)`,
        `scenario: the hub in its own process; ${PULLERS} pullers as ${CLIENT_ID} (purpose ${PURPOSE}), each GET /fhir/Patient?_count=${PAGE}&_lastUpdated=ge…&_lastUpdated=lt… over its eighth of the Patients by lastUpdated, following next links to the end`,
        `  every pull checked: exactly the ${PERMITTED} permitted mothers, once each, each carrying only ${[...ALLOWED_ELEMENTS].join(', ')} and labelled REDACTED; permit AuditEvents = ${PERMITTED} per pull`,
        `  a pull took ${pullSeconds.toFixed(1)} s (median) and decided ${perPull.toFixed(0)} records (${(perPull / PERMITTED).toFixed(1)} per registration shown): ${decisionsPerSecond.toFixed(0)} decisions/s, each with its AuditEvent`,
        `  CPU during the pulls (median, in cores of ${availableParallelism()}): hub process ${medianCores((c) => c.hubCores)}, PostgreSQL ${medianCores((c) => c.pgCores)}, the pullers ${medianCores((c) => c.benchCores)}`,
        `baseline: node-postgres, ${PULLERS} clients over the same slices; per page of ${PAGE} permitted ids: begin; select content where type = 'Patient' and id = any($1); ` +
          `insert ${PAGE} ${auditBytes}-byte jsonb audit rows (one multi-row insert); commit`,
        `  i.e. the hub decides and audits ${(decisionsPerSecond / rawRate).toFixed(3)}× as many records per second as the raw limit reads and audits`,
        `runs: ${options.pairs} pairs (baseline first): whole pulls until ≥ ${options.seconds} s after ${options.warmupSeconds} s warm-up, CHECKPOINT and drained audit queue before each; p50/p99 are per HTTP page (hub) or per transaction (raw)`,
        `audit: ${totals?.events ?? '?'} AuditEvents written by the hub, ${totals?.logged ?? '?'} in its hash-chained log`,
      ],
      baselineLabel: baseline.label,
      baselineUnit: baseline.unit,
      scenarioLabel: scenario.label,
      scenarioUnit: scenario.unit,
      pairs,
    });
    for (const line of lines) out(line);
  });
}

/** Migrates; registers the demo organisations (the decision reads their types and catchments) and ocean-cc with a fresh key. */
async function prepareRegistry(database: BenchDatabase, keys: ClientKeyPair): Promise<void> {
  const client = demoClients.find((c) => c.id === CLIENT_ID);
  if (client === undefined) throw new Error(`no demo client ${CLIENT_ID}`);
  const hubDb = await openDatabase({ kind: 'postgres', url: database.url, poolSize: 2 });
  try {
    await hubDb.migrate();
    await inTransaction(hubDb.db, async (tx) => {
      for (const org of demoOrganisations) await upsertOrganisation(tx, org);
      await upsertClient(tx, { id: client.id, organisationCode: client.organisation, scopes: client.scopes, purposes: client.purposes, jwks: { keys: [keys.publicJwk] } });
    });
  } finally {
    await hubDb.close();
  }
}

/**
 * PULLERS slices of lastUpdated, each holding an equal share of the Patients
 * (all written by maternity; versions spread evenly over the year, so the
 * hub's candidates and the permitted mothers spread evenly too), and the
 * permitted mothers in each.
 */
async function slicePatients(control: pg.Client, world: FamilyPreload): Promise<Slice[]> {
  const tiles = await control.query<{ lo: Date; hi: Date }>(
    `select min(last_updated) as lo, max(last_updated) as hi
       from (select last_updated, ntile(${PULLERS}) over (order by last_updated, id) as tile from resource where type = 'Patient') t
      group by tile order by tile`,
  );
  const lows = tiles.rows.map((r) => r.lo.getTime());
  const last = tiles.rows.at(-1);
  if (last === undefined) throw new Error('no Patients to pull');
  const bounds = [...new Set([...lows, last.hi.getTime() + 1])].sort((a, b) => a - b);
  const slices: Slice[] = [];
  for (let i = 0; i + 1 < bounds.length; i += 1) {
    const from = bounds[i] ?? 0;
    const to = bounds[i + 1] ?? 0;
    const expected = [...world.permitted].filter(([, at]) => at >= from && at < to).map(([id]) => id);
    slices.push({ from: new Date(from), to: new Date(to), expected });
  }
  const covered = slices.reduce((n, s) => n + s.expected.length, 0);
  if (covered !== world.permitted.size) throw new Error(`the slices hold ${covered} of the ${world.permitted.size} permitted mothers`);
  return slices;
}

/** Hands out a valid access token; refreshed before each scenario run and whenever one gets old. */
class TokenSource {
  private token: Promise<{ value: string; at: number }> | undefined;

  constructor(private readonly fetchToken: () => Promise<string>) {}

  async refresh(): Promise<string> {
    const next = this.fetchToken().then((value) => ({ value, at: Date.now() }));
    this.token = next;
    return (await next).value;
  }

  async get(): Promise<string> {
    const current = await this.token;
    if (current === undefined || Date.now() - current.at > TOKEN_MAX_AGE_MS) return this.refresh();
    return current.value;
  }
}

function firstUrl(slice: Slice): string {
  const params = new URLSearchParams([
    ['_count', String(PAGE)],
    ['_lastUpdated', `ge${slice.from.toISOString()}`],
    ['_lastUpdated', `lt${slice.to.toISOString()}`],
  ]);
  return `/fhir/Patient?${params.toString()}`;
}

/** One pull: every slice paged through by its own puller. With a deadline, pullers stop where they are when it passes. */
async function pullOnce(hub: HubProcess, slices: readonly Slice[], tokens: TokenSource, signal: AbortSignal, deadline: bigint | undefined): Promise<PullOutcome> {
  const outcomes = await Promise.all(slices.map((slice) => pullSlice(hub, slice, tokens, signal, deadline)));
  return {
    ids: outcomes.flatMap((o) => o.ids),
    pages: outcomes.reduce((n, o) => n + o.pages, 0),
    latenciesMs: outcomes.flatMap((o) => o.latenciesMs),
    complete: outcomes.every((o) => o.complete),
  };
}

async function pullSlice(hub: HubProcess, slice: Slice, tokens: TokenSource, signal: AbortSignal, deadline: bigint | undefined): Promise<PullOutcome> {
  const ids: string[] = [];
  const latenciesMs: number[] = [];
  let next: string | undefined = `${hub.baseUrl}${firstUrl(slice)}`;
  while (next !== undefined) {
    signal.throwIfAborted();
    if (deadline !== undefined && process.hrtime.bigint() >= deadline) return { ids, pages: latenciesMs.length, latenciesMs, complete: false };
    const token = await tokens.get();
    const started = process.hrtime.bigint();
    const res = await fetch(next, {
      headers: { authorization: `Bearer ${token}`, accept: 'application/fhir+json' },
      signal: AbortSignal.any([signal, AbortSignal.timeout(PAGE_TIMEOUT_MS)]),
    });
    const text = await res.text();
    latenciesMs.push(Number(process.hrtime.bigint() - started) / 1e6);
    if (res.status !== 200) throw new Error(`GET ${next.slice(hub.baseUrl.length)} answered ${res.status}: ${text.slice(0, 500)}`);
    const bundle = JSON.parse(text) as Bundle;
    if (bundle.resourceType !== 'Bundle' || bundle.type !== 'searchset') throw new Error(`a page was not a searchset Bundle: ${text.slice(0, 200)}`);
    for (const entry of bundle.entry ?? []) {
      const patient = entry.resource as Patient | undefined;
      if (patient?.resourceType !== 'Patient' || patient.id === undefined) throw new Error(`a page held a ${patient?.resourceType ?? 'missing'} resource`);
      checkRedacted(patient);
      ids.push(patient.id);
    }
    next = bundle.link?.find((l) => l.relation === 'next')?.url;
  }
  return { ids, pages: latenciesMs.length, latenciesMs, complete: true };
}

/** A registration carries mother-contact's elements only, is labelled REDACTED and names the purpose. */
function checkRedacted(patient: Patient): void {
  const extra = Object.keys(patient).filter((k) => !ALLOWED_ELEMENTS.has(k));
  const security = patient.meta?.security ?? [];
  const problems = [
    ...(extra.length > 0 ? [`carries ${extra.join(', ')}`] : []),
    ...(security.some((c) => c.code === 'REDACTED') ? [] : ['is not labelled REDACTED']),
    ...(security.some((c) => c.code === PURPOSE) ? [] : [`does not name the purpose ${PURPOSE}`]),
  ];
  if (problems.length > 0) throw new Error(`Patient/${patient.id ?? '?'} as disclosed to Ocean ${problems.join('; ')}`);
}

/** A complete pull returned exactly the permitted mothers, once each; a partial one nothing else. */
function checkPull(pull: PullOutcome, world: FamilyPreload, mustBeComplete: boolean): void {
  const seen = new Set<string>();
  const duplicates: string[] = [];
  for (const id of pull.ids) {
    if (seen.has(id)) duplicates.push(id);
    seen.add(id);
  }
  const unexpected = [...seen].filter((id) => !world.permitted.has(id));
  const missing = mustBeComplete ? [...world.permitted.keys()].filter((id) => !seen.has(id)) : [];
  if (mustBeComplete && !pull.complete) throw new Error('a measured pull stopped before its end');
  if (duplicates.length === 0 && unexpected.length === 0 && missing.length === 0) return;
  const show = (ids: readonly string[]): string =>
    ids
      .slice(0, 5)
      .map((id) => `Patient/${id} (${world.describe.get(id) ?? 'not preloaded'})`)
      .join('; ');
  throw new Error(
    `the pull returned ${pull.ids.length} registrations, not exactly the ${world.permitted.size} permitted mothers: ` +
      `${unexpected.length} not permitted [${show(unexpected)}], ${missing.length} missing [${show(missing)}], ${duplicates.length} duplicated [${show(duplicates)}]`,
  );
}

/** One raw pull: PULLERS clients, one per slice, each reading its permitted rows PAGE by PAGE with an audit row per row. */
async function rawPull(clients: readonly pg.Client[], slices: readonly Slice[], template: AuditEvent, latencies: number[], signal: AbortSignal): Promise<number> {
  const counts = await Promise.all(
    slices.map(async (slice, i) => {
      const client = clients[i % clients.length];
      if (client === undefined) throw new Error('no baseline client');
      let rows = 0;
      for (let first = 0; first < slice.expected.length; first += PAGE) {
        signal.throwIfAborted();
        const ids = slice.expected.slice(first, first + PAGE);
        const started = process.hrtime.bigint();
        await inPgTransaction(client, async () => {
          const found = await client.query<{ content: Patient }>(`select content from resource where type = 'Patient' and id = any($1)`, [ids]);
          if (found.rowCount !== ids.length) throw new Error(`the baseline read ${String(found.rowCount)} of ${ids.length} rows`);
          // A fresh id and time per row, as every AuditEvent has; the size of the hub's.
          const recorded = new Date().toISOString();
          const events = found.rows.map(() => JSON.stringify({ ...template, id: randomUUID(), recorded }));
          await client.query(`insert into ${RAW_AUDIT_TABLE} (event) select unnest($1::jsonb[])`, [events]);
        });
        latencies.push(Number(process.hrtime.bigint() - started) / 1e6);
        rows += ids.length;
      }
      return rows;
    }),
  );
  return counts.reduce((a, b) => a + b, 0);
}

function cores(value: number | undefined): string {
  return value === undefined ? 'n/a' : value.toFixed(2);
}

function figuresOf(completed: number, seconds: number, latenciesMs: number[]): LoadFigures {
  const sorted = [...latenciesMs].sort((a, b) => a - b);
  return { completed, seconds, perSecond: completed / seconds, p50Ms: percentile(sorted, 50), p99Ms: percentile(sorted, 99) };
}

/** A first page through the hub, and the permit AuditEvent it wrote: the baseline's payload. */
async function auditTemplate(control: pg.Client, hub: HubProcess, token: string): Promise<AuditEvent> {
  const res = await fetch(`${hub.baseUrl}/fhir/Patient?_count=1`, {
    headers: { authorization: `Bearer ${token}`, accept: 'application/fhir+json' },
    signal: AbortSignal.timeout(PAGE_TIMEOUT_MS),
  });
  if (res.status !== 200) throw new Error(`a first search answered ${res.status}: ${await res.text()}`);
  const rows = await control.query<{ event: AuditEvent }>(
    `select event from audit_event where event->'subtype'->0->>'code' = 'AuthZ-Consent' and event->>'outcome' = '0' order by seq desc limit 1`,
  );
  const event = rows.rows[0]?.event;
  if (event === undefined) throw new Error('a first search wrote no permit decision: the hub disclosed nothing to Ocean');
  return event;
}

async function maxAuditSeq(control: pg.Client): Promise<number> {
  const rows = await control.query<{ seq: string }>('select coalesce(max(seq), 0) as seq from audit_event');
  return Number(rows.rows[0]?.seq ?? 0);
}

/** The hub's AuditEvents since a mark: disclosure decisions (and the permits among them), and searches. */
async function auditCounts(control: pg.Client, after: number): Promise<{ decisions: number; permits: number; searches: number }> {
  const rows = await control.query<{ decisions: number; permits: number; searches: number }>(
    `select count(*) filter (where kind = 'AuthZ-Consent')::int as decisions,
            count(*) filter (where kind = 'AuthZ-Consent' and outcome = '0')::int as permits,
            count(*) filter (where kind = 'search-type')::int as searches
       from (select event->'subtype'->0->>'code' as kind, event->>'outcome' as outcome from audit_event where seq > $1) e`,
    [after],
  );
  const r = rows.rows[0];
  return { decisions: r?.decisions ?? 0, permits: r?.permits ?? 0, searches: r?.searches ?? 0 };
}

async function rawAuditCount(control: pg.Client): Promise<number> {
  const rows = await control.query<{ n: number }>(`select count(*)::int as n from ${RAW_AUDIT_TABLE}`);
  return rows.rows[0]?.n ?? 0;
}

export const discloseBenchmark: Benchmark = {
  summary: "a children's centre pulling its 5,000 registrations over HTTP (filter, redact, audit) against raw pg read + audit insert",
  // Creating, migrating, preloading ~4.5 rows per child and vacuuming: a few
  // minutes per 100k children on a quiet machine here; room for a busy one.
  setupSeconds: 1800,
  // A scenario run is whole pulls: one pull of the hub outlasts BENCH_SECONDS.
  runSlackSeconds: 900,
  run: benchDisclose,
};

if (isEntryPoint(import.meta.url)) await runAlone('disclose', discloseBenchmark);
