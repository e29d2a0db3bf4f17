import pg from 'pg';
import { generateClientKeyPair } from '../src/auth/client-assertion.js';
import { inTransaction, openDatabase } from '../src/db/database.js';
import { registerMllpSender } from '../src/db/mllp-sender-queries.js';
import { upsertClient, upsertOrganisation } from '../src/db/registry-queries.js';
import { demoClients, demoOrganisations } from '../src/demo/world.js';
import { withBenchDatabase } from './support/bench-database.js';
import type { Benchmark, BenchContext } from './support/benchmark.js';
import { othersShare, sampleCpu } from './support/cpu.js';
import { auditTotals, describeSetting, drainAuditQueue, ourPids } from './support/hub-db.js';
import { startHubProcess } from './support/hub-process.js';
import { runHttpLoad } from './support/http-load.js';
import { createRawTables, describeRequest, FreshValues, rawTableNames, readStoredRequest, replayRequest, seedHubTables } from './support/ingest-baseline.js';
import { ingestFormats, UniqueValues } from './support/ingest-formats.js';
import { median, type LoadFigures } from './support/load.js';
import { runMllpLoad } from './support/mllp-load.js';
import { drivePgClients, openPgClients } from './support/pg-load.js';
import { preloadChildren } from './support/preload.js';
import { share, table } from './support/report.js';
import { requestAccessToken } from './support/token.js';

// `npm run bench -- mllp`: HL7 v2 VXU messages stored per second over MLLP
// against the same messages over HTTP (POST /ingest/hl7v2) and against raw
// inserts of the rows the hub writes for one, in one run: raw, HTTP, MLLP,
// interleaved, repeated (BENCH.md rule 1 with three sides). Both hub sides are
// the same hub process and the same ingest path; MLLP has no token to check
// and no HTTP parsing, but answers each message before the next is sent on
// its connection (interface engines wait for the ACK).

const CONNECTIONS = 8;
const SENDER = 'limehouse-gp';
const PRELOAD_ORG = 'Y90001';
const SEED_PER_PATIENT = 0.1;

type Side = 'raw' | 'http' | 'mllp';
const SIDES: readonly Side[] = ['raw', 'http', 'mllp'];

interface Measured {
  figures: LoadFigures;
  others: number | undefined;
}

export async function benchMllp(context: BenchContext): Promise<void> {
  const { options, signal, log, out } = context;
  await withBenchDatabase(context, 'mllp', async (database, cleanup) => {
    const client = demoClients.find((c) => c.id === SENDER);
    if (client === undefined) throw new Error(`no demo client ${SENDER}`);
    const keys = await generateClientKeyPair('ES384');
    const hubDb = await openDatabase({ kind: 'postgres', url: database.url, poolSize: 2 });
    try {
      await hubDb.migrate();
      await inTransaction(hubDb.db, async (tx) => {
        for (const org of demoOrganisations.filter((o) => o.code === PRELOAD_ORG)) await upsertOrganisation(tx, org);
        await upsertClient(tx, { id: client.id, organisationCode: client.organisation, scopes: client.scopes, purposes: client.purposes, jwks: { keys: [keys.publicJwk] } });
        // The weaker option, on loopback: the benchmark measures the listener, not a TLS handshake (made once per connection).
        await registerMllpSender(tx, { clientId: client.id, kind: 'address', value: '127.0.0.1' });
      });
      log(`mllp: preloading ${options.patients} synthetic children`);
      await preloadChildren(hubDb.db, { count: options.patients, sourceOrg: PRELOAD_ORG, now: new Date(), signal, log });
    } finally {
      await hubDb.close();
    }

    const control = new pg.Client({ connectionString: database.url, application_name: 'hubbench-control', statement_timeout: 600_000 });
    await control.connect();
    cleanup.defer('close control connection', () => control.end());
    const setting = await describeSetting(control, options.patients);

    log('mllp: starting the hub with its MLLP listener');
    const hub = await startHubProcess(database.url, signal, 120_000, { mllp: true });
    cleanup.defer('stop hub process', () => hub.stop());
    const mllpPort = hub.mllpPort;
    if (mllpPort === undefined) throw new Error('the hub process did not start its MLLP listener');

    const format = (await ingestFormats(new UniqueValues(options.patients))).find((f) => f.name === 'hl7v2');
    if (format === undefined) throw new Error('no hl7v2 ingest format');
    const fetchToken = (): Promise<string> =>
      requestAccessToken({ baseUrl: hub.baseUrl, clientId: client.id, privateJwk: keys.privateJwk, scope: client.scopes.join(' '), purpose: format.purpose });

    // Two probes over HTTP: what the hub stored for the last one is the baseline's payload.
    let probeKeys: string[] = [];
    const probeToken = await fetchToken();
    for (let i = 0; i < 2; i += 1) {
      const body = format.next();
      probeKeys = format.messageKeys(body);
      const res = await fetch(`${hub.baseUrl}${format.path}`, { method: 'POST', headers: { authorization: `Bearer ${probeToken}`, 'content-type': format.contentType }, body, signal: AbortSignal.timeout(30_000) });
      if (res.status !== 200) throw new Error(`a probe was answered ${res.status}: ${(await res.text()).slice(0, 500)}`);
    }
    const template = await readStoredRequest(control, probeKeys);
    const values = new FreshValues();
    const seedRequests = Math.round(options.patients * SEED_PER_PATIENT);
    log(`mllp: writing ${seedRequests} earlier messages into the hub's tables`);
    await seedHubTables(control, template, seedRequests, values, signal);
    await createRawTables(control);
    await control.query(`vacuum (analyze) resource, resource_history, resource_token, resource_reference, message_receipt, ${rawTableNames().join(', ')}`);
    const raw = await openPgClients(database.url, CONNECTIONS, 'hubbench-baseline');
    cleanup.defer('close baseline connections', () => raw.close());

    let token = '';
    const run = async (side: Side, seconds: number): Promise<LoadFigures> => {
      switch (side) {
        case 'raw':
          return drivePgClients(raw.clients, async (c) => { await replayRequest(c, template, values); }, seconds, signal);
        case 'http':
          return runHttpLoad({
            url: hub.baseUrl, connections: CONNECTIONS, seconds, signal, path: () => format.path, body: () => format.next(),
            headers: { authorization: `Bearer ${token}`, 'content-type': format.contentType, accept: 'application/fhir+json' },
          });
        case 'mllp':
          return runMllpLoad({ port: mllpPort, connections: CONNECTIONS, seconds, signal, next: () => format.next() });
      }
    };
    const receipts = async (): Promise<number> => Number((await control.query<{ n: string }>("select count(*) as n from message_receipt where event = 'vxu-v04'")).rows[0]?.n ?? 0);

    const triples: Record<Side, Measured>[] = [];
    for (let n = 1; n <= options.pairs; n += 1) {
      const triple: Partial<Record<Side, Measured>> = {};
      for (const side of SIDES) {
        await drainAuditQueue(control, signal);
        await control.query('checkpoint');
        if (side === 'http') token = await fetchToken();
        const before = await receipts();
        if (options.warmupSeconds > 0) await run(side, options.warmupSeconds);
        const cpu = sampleCpu();
        const figures = await run(side, options.seconds);
        const others = othersShare(cpu, sampleCpu(), await ourPids(control, hub, options.adminUrl));
        // Every message answered AA (MLLP) or 200 (HTTP) was stored: receipts grew by at least as many.
        if (side !== 'raw' && (await receipts()) - before < figures.completed) throw new Error(`${side}: fewer receipts stored than messages acknowledged`);
        log(`  round ${n} ${side}: ${figures.perSecond.toFixed(1)} msg/s, p50 ${figures.p50Ms.toFixed(2)} ms, p99 ${figures.p99Ms.toFixed(2)} ms, other CPU ${share(others)}`);
        triple[side] = { figures, others };
      }
      triples.push(triple as Record<Side, Measured>);
    }

    for (const line of report(triples, setting, describeRequest(template), options)) out(line);
    const chain = await auditTotals(control, signal);
    out(`  audit: ${chain?.events ?? '?'} AuditEvents, ${chain?.logged ?? '?'} in the hash-chained log`);
  });
}

function report(triples: readonly Record<Side, Measured>[], setting: readonly string[], rows: readonly string[], options: BenchContext['options']): string[] {
  const ratio = (a: Side, b: Side): number[] => triples.map((t) => t[a].figures.perSecond / t[b].figures.perSecond);
  const spread = (values: number[]): [string, string] => [median(values).toFixed(3), `${Math.min(...values).toFixed(3)}–${Math.max(...values).toFixed(3)}`];
  const perRound = triples.map((t, i) => [
    String(i + 1),
    ...SIDES.map((s) => `${t[s].figures.perSecond.toFixed(1)} (p50 ${t[s].figures.p50Ms.toFixed(1)} ms)`),
    (t.mllp.figures.perSecond / t.http.figures.perSecond).toFixed(3),
    (t.mllp.figures.perSecond / t.raw.figures.perSecond).toFixed(3),
    SIDES.some((s) => (t[s].others ?? 0) > 0.1) ? 'flagged' : '-',
  ]);
  return [
    '',
    'mllp: HL7 v2 VXU^V04 stored per second over MLLP, against the same messages over HTTP and raw pg inserts of the same rows',
    ...setting.map((l) => `  ${l}`),
    `  messages: templated from test/fixtures/hl7v2/catch-up-cp.hl7, each new (control id, NHS number, order number), sent by ${SENDER}`,
    `  mllp: ${CONNECTIONS} plain MLLP connections on loopback (address allow-list), each sending the next message when the ACK (AA) arrives`,
    `  http: autocannon ${CONNECTIONS} connections, POST /ingest/hl7v2 with a bearer token, one message per request`,
    `  raw: node-postgres ${CONNECTIONS} clients, per message one transaction of the rows the hub wrote for a probe message:`,
    ...rows.map((l) => `    ${l}`),
    `  rounds: ${options.pairs} × (raw, http, mllp), ${options.seconds} s measured after ${options.warmupSeconds} s warm-up, CHECKPOINT and drained audit queue before each`,
    '',
    ...table(['round', 'raw pg msg/s', 'http msg/s', 'mllp msg/s', 'mllp÷http', 'mllp÷raw', 'other CPU'], perRound),
    '',
    ...table(['ratio', 'median', 'min–max'], [
      ['mllp ÷ http', ...spread(ratio('mllp', 'http'))],
      ['mllp ÷ raw pg', ...spread(ratio('mllp', 'raw'))],
      ['http ÷ raw pg', ...spread(ratio('http', 'raw'))],
    ]),
    '',
    'flagged: other processes took > 10 % of the CPU during a side of that round',
  ];
}

export const mllpBenchmark: Benchmark = {
  summary: 'HL7 v2 messages stored per second over MLLP against the same over HTTP and raw pg inserts of the same rows',
  setupSeconds: 900,
  // Three sides per round: 1.5 series of pairs.
  series: 2,
  run: benchMllp,
};
