import pg from 'pg';
import { generateClientKeyPair, type ClientKeyPair } from '../src/auth/client-assertion.js';
import { inTransaction, openDatabase } from '../src/db/database.js';
import { upsertClient, upsertOrganisation } from '../src/db/registry-queries.js';
import { demoClients, demoOrganisations, type ClientRecord } from '../src/demo/world.js';
import { SYSTEMS } from '../src/fhir/systems.js';
import { withBenchDatabase, type BenchDatabase } from './support/bench-database.js';
import type { Benchmark, BenchContext } from './support/benchmark.js';
import { clientBackends, describeSetting, drainAuditQueue, ourPids } from './support/hub-db.js';
import { startHubProcess } from './support/hub-process.js';
import { runHttpLoad } from './support/http-load.js';
import { ingestFormats, UniqueValues } from './support/ingest-formats.js';
import { median } from './support/load.js';
import { runPairs, type LoadSide, type PairResult } from './support/pairs.js';
import { messageAsTransaction, peerFromEnv, peerHeaders, preloadPeer, type PeerOperation, type PeerServer } from './support/peer-server.js';
import { preloadChildren } from './support/preload.js';
import { cpuRatio, formatPairReport, knownMedianText, serverCpuText, table } from './support/report.js';
import { nhsNumbers, seededRandom, syntheticChild } from './support/synthetic.js';
import { requestAccessToken } from './support/token.js';

// `npm run bench -- peer`: the hub against a FHIR server partners already know,
// already running at PEER_URL, doing the same operations over HTTP, in
// interleaved pairs (the peer first, then the hub) of one run:
//   create  POST Patient (a new child)
//   read    GET Patient/<id> of a preloaded child
//   search  GET Patient?identifier=<NHS number of a preloaded child>
//   ingest  the hub's POST /fhir/$process-message of a pregnancy notification
//           against the peer's transaction creating the same six resources
// Both hold the same number of preloaded children (BENCH_PATIENTS) under the
// same NHS numbers. The hub decides and audits every one of its answers in the
// same transaction; what the peer does is its own configuration's business,
// and the report says what was asked of it, not what it promised.

const CONNECTIONS = 8;
const ORGANISATION = { code: 'BENCH-GP', system: SYSTEMS.localOrg, type: 'gp' as const, name: 'Benchmark organisation', catchment: [] };
const PURPOSE = 'direct-care';
const CLIENT: ClientRecord = { id: 'bench-peer', organisation: ORGANISATION.code, scopes: ['system/Patient.crs'], purposes: [PURPOSE] };
/** The demo maternity unit sends the pregnancy notifications. */
const MATERNITY = 'northgate-maternity';

interface Side {
  /** Where the requests go and with which headers. */
  origin: string;
  basePath: string;
  headers: () => Record<string, string>;
}

export async function benchPeer(context: BenchContext): Promise<void> {
  const { options, signal, log, out } = context;
  const env = peerFromEnv(process.env);
  if (!env.ok) throw new Error(`the peer benchmark needs a FHIR server already running: ${env.message}`);
  const peer = env.peer;
  await withBenchDatabase(context, 'peer', async (database, cleanup) => {
    const maternity = demoClients.find((c) => c.id === MATERNITY);
    if (maternity === undefined) throw new Error(`no demo client ${MATERNITY}`);
    const keys = new Map<string, ClientKeyPair>();
    for (const client of [CLIENT, maternity]) keys.set(client.id, await generateClientKeyPair('ES384'));
    const hubIds = await prepareHub(database, keys, maternity, context);
    const numbers: string[] = [];
    for (const n of nhsNumbers()) {
      if (numbers.length === options.patients) break;
      numbers.push(n);
    }

    log(`peer: preloading ${options.patients} children into ${peer.name}`);
    const peerIds = (await preloadPeer(peer, options.patients, signal, log)).ids;
    if (peer.database !== undefined) await analyzePeer(database.url, peer.database, log);

    const control = new pg.Client({ connectionString: database.url, application_name: 'hubbench-control', statement_timeout: 600_000 });
    await control.connect();
    cleanup.defer('close control connection', () => control.end());
    await control.query('vacuum (analyze) resource, resource_history, resource_token');
    const setting = await describeSetting(control, options.patients);

    log('peer: starting the hub');
    const hub = await startHubProcess(database.url, signal);
    cleanup.defer('stop hub process', () => hub.stop());
    const token = async (client: ClientRecord, purpose: string): Promise<string> => {
      const pair = keys.get(client.id);
      if (pair === undefined) throw new Error(`no key for ${client.id}`);
      return requestAccessToken({ baseUrl: hub.baseUrl, clientId: client.id, privateJwk: pair.privateJwk, scope: client.scopes.join(' '), purpose });
    };
    let readerToken = await token(CLIENT, PURPOSE);
    let maternityToken = await token(maternity, 'direct-care');
    const hubSide = (contentType?: string, bearer: () => string = () => readerToken): Side => ({
      origin: hub.baseUrl,
      basePath: '/fhir',
      headers: () => ({ authorization: `Bearer ${bearer()}`, accept: 'application/fhir+json', ...(contentType === undefined ? {} : { 'content-type': contentType }) }),
    });
    const peerSide = (contentType?: string): Side => ({ origin: peer.origin, basePath: peer.basePath, headers: () => peerHeaders(peer, contentType) });

    // New children for create: NHS numbers after the preloaded ones, each used once per server.
    const fresh = { hub: new UniqueValues(options.patients), peer: new UniqueValues(options.patients) };
    const random = seededRandom(7);
    const newChild = (values: UniqueValues): string => JSON.stringify(syntheticChild(values.serial(), values.nhsNumber(), random, new Date()));
    const pick = (n: number): number => Math.floor(Math.random() * n);
    // Formats use their own NHS numbers, past the create side's.
    const message = (await ingestFormats(new UniqueValues(options.patients + 500_000))).find((f) => f.name === 'fhir-message');
    if (message === undefined) throw new Error('no fhir-message ingest format');
    const resourcesPerMessage = messageAsTransaction(message.next()).resources;

    const plans: Record<PeerOperation, { title: string; hub: OperationSide; peer: OperationSide }> = {
      create: {
        title: 'create Patient (POST Patient)',
        hub: { side: hubSide('application/fhir+json'), path: () => '/Patient', body: () => newChild(fresh.hub) },
        peer: { side: peerSide('application/fhir+json'), path: () => '/Patient', body: () => newChild(fresh.peer) },
      },
      read: {
        title: 'read by id (GET Patient/<id>)',
        hub: { side: hubSide(), path: () => `/Patient/${hubIds[pick(hubIds.length)] ?? ''}` },
        peer: { side: peerSide(), path: () => `/Patient/${peerIds[pick(peerIds.length)] ?? ''}` },
      },
      search: {
        title: 'search by identifier (GET Patient?identifier=<NHS number>)',
        hub: { side: hubSide(), path: () => identifierSearch(numbers[pick(numbers.length)] ?? '') },
        peer: { side: peerSide(), path: () => identifierSearch(numbers[pick(numbers.length)] ?? '') },
      },
      ingest: {
        title: `ingest: the hub's $process-message of a pregnancy notification against the peer's ${resourcesPerMessage}-resource transaction`,
        hub: { side: hubSide(message.contentType, () => maternityToken), path: () => '/$process-message', body: () => message.next() },
        peer: { side: peerSide('application/fhir+json'), path: () => '', body: () => messageAsTransaction(message.next()).body },
      },
    };

    const results: { operation: PeerOperation; title: string; pairs: PairResult[] }[] = [];
    for (const operation of peer.operations) {
      const plan = plans[operation];
      log(`peer: ${operation}: ${options.pairs} pairs of ${options.seconds} s runs after ${options.warmupSeconds} s warm-ups`);
      const pairs = await runPairs({
        pairs: options.pairs,
        seconds: options.seconds,
        warmupSeconds: options.warmupSeconds,
        baseline: loadSide(peer.name, plan.peer),
        scenario: loadSide('hub', plan.hub),
        beforeRun: async (side) => {
          await drainAuditQueue(control, signal);
          await control.query('checkpoint');
          if (side === 'scenario') {
            readerToken = await token(CLIENT, PURPOSE);
            maternityToken = await token(maternity, 'direct-care');
          }
        },
        afterRun: (side, figures) => {
          // A side with nothing done in its window has no rate to compare: longer runs, not an infinite ratio.
          if (figures.completed === 0) throw new Error(`${side === 'baseline' ? peer.name : 'the hub'} completed no ${operation} in ${options.seconds} s: raise BENCH_SECONDS`);
          return Promise.resolve();
        },
        ourPids: async () => [...(await ourPids(control, hub, options.adminUrl)), ...(await peerPids(control, peer))],
        scenarioPid: hub.pid,
        driverPid: process.pid,
        servers: {
          scenario: async () => ({ process: [hub.pid], database: await clientBackends(control) }),
          baseline: async () => ({ process: peer.pids, database: peer.database === undefined ? [] : await clientBackends(control, { database: peer.database }) }),
        },
        signal,
        log,
      });
      results.push({ operation, title: plan.title, pairs });
      const report = formatPairReport({
        title: `peer: ${plan.title}: the hub against ${peer.name}`,
        setting: [],
        baselineLabel: peer.name,
        baselineUnit: 'req/s',
        scenarioLabel: 'hub',
        scenarioUnit: 'req/s',
        pairs,
        baselineIsLimit: false,
      });
      for (const line of report) out(line);
    }

    out('');
    out(`peer: the hub against ${peer.name} at ${peer.origin}${peer.basePath}, ${CONNECTIONS} connections each, interleaved pairs`);
    for (const line of [
      ...setting,
      `both servers: ${options.patients} preloaded children under the same NHS numbers; ${peer.database === undefined ? "run ANALYZE on the peer's database after its preload" : `ANALYZE on the peer's database ${peer.database} after its preload`}`,
      `the hub decides every answer under the demo protocol and commits its AuditEvent in the same transaction`,
    ]) {
      out(`  ${line}`);
    }
    out('');
    const rows = results.map(({ title, pairs }) => {
      const ratios = pairs.map((p) => p.ratio);
      return [
        title,
        median(pairs.map((p) => p.scenario.figures.perSecond)).toFixed(1),
        median(pairs.map((p) => p.baseline.figures.perSecond)).toFixed(1),
        `${median(ratios).toFixed(2)} (${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)})`,
        serverCpuText(pairs.map((p) => p.scenario.server)),
        serverCpuText(pairs.map((p) => p.baseline.server)),
        `${knownMedianText(pairs.map((p) => p.scenario.driverMsPerOp))} / ${knownMedianText(pairs.map((p) => p.baseline.driverMsPerOp))} ms`,
        knownMedianText(pairs.map(cpuRatio)),
      ];
    });
    const header = [
      'operation',
      'hub req/s',
      `${peer.name} req/s`,
      `hub ÷ ${peer.name} (min–max)`,
      'hub CPU/op',
      `${peer.name} CPU/op`,
      'load CPU/op (hub / peer)',
      'CPU ratio',
    ];
    for (const line of table(header, rows)) out(line);
    out('');
    out(`CPU/op: median over the pairs of the server's own processes + the PostgreSQL backends serving its database, in ms per answered request (/proc utime+stime)`);
    out(`  the hub: its process; ${peer.name}: the processes PEER_PIDS names (${peer.pids.length === 0 ? 'none given' : peer.pids.join(', ')})${peer.database === undefined ? ", its database's backends not counted (no PEER_DATABASE)" : ''}`);
    out(`load CPU/op: this process, which drives both servers from the same machine, in ms per answered request of each side: its cost is in both rates`);
    out(`CPU ratio: ${peer.name}'s side's CPU per answered request (server + database + load) ÷ the hub's side's, median over the pairs: the throughput ratio of a machine whose cores are the limit`);
  });
}

interface OperationSide {
  side: Side;
  path: () => string;
  body?: () => string;
}

function loadSide(label: string, operation: OperationSide): LoadSide {
  const { side, path, body } = operation;
  return {
    label,
    unit: 'req/s',
    run: (seconds, signal) =>
      runHttpLoad({
        url: side.origin,
        connections: CONNECTIONS,
        seconds,
        headers: side.headers(),
        path: () => `${side.basePath}${path()}`,
        ...(body === undefined ? {} : { body }),
        signal,
      }),
  };
}

function identifierSearch(nhsNumber: string): string {
  return `/Patient?identifier=${encodeURIComponent(`${SYSTEMS.nhsNumber}|${nhsNumber}`)}`;
}

/** The peer's processes: the pids given, and the PostgreSQL backends serving its database. */
async function peerPids(control: pg.Client, peer: PeerServer): Promise<number[]> {
  if (peer.database === undefined) return [...peer.pids];
  const rows = await control.query<{ pid: number }>('select pid from pg_stat_activity where datname = $1', [peer.database]);
  return [...peer.pids, ...rows.rows.map((r) => r.pid)];
}

/** Migrates, registers the bench reader and the maternity sender, preloads children. Returns their ids. */
/** Statistics for the peer's planner after its preload, as the hub's database gets them (its database on the same server). */
async function analyzePeer(benchUrl: string, peerDatabase: string, log: (line: string) => void): Promise<void> {
  const url = new URL(benchUrl);
  url.pathname = `/${encodeURIComponent(peerDatabase)}`;
  const client = new pg.Client({ connectionString: url.toString(), application_name: 'hubbench-peer-analyze', statement_timeout: 600_000 });
  await client.connect();
  try {
    log(`peer: ANALYZE on the peer's database ${peerDatabase}`);
    await client.query('analyze');
  } finally {
    await client.end();
  }
}

async function prepareHub(database: BenchDatabase, keys: ReadonlyMap<string, ClientKeyPair>, maternity: ClientRecord, context: BenchContext): Promise<string[]> {
  const { options, signal, log } = context;
  const hubDb = await openDatabase({ kind: 'postgres', url: database.url, poolSize: 2 });
  try {
    await hubDb.migrate();
    await inTransaction(hubDb.db, async (tx) => {
      await upsertOrganisation(tx, ORGANISATION);
      for (const org of demoOrganisations.filter((o) => o.code === maternity.organisation)) await upsertOrganisation(tx, org);
      for (const client of [CLIENT, maternity]) {
        const pair = keys.get(client.id);
        if (pair === undefined) throw new Error(`no key for ${client.id}`);
        await upsertClient(tx, { id: client.id, organisationCode: client.organisation, scopes: client.scopes, purposes: client.purposes, jwks: { keys: [pair.publicJwk] } });
      }
    });
    log(`peer: preloading ${options.patients} synthetic children into the hub`);
    return await preloadChildren(hubDb.db, { count: options.patients, sourceOrg: ORGANISATION.code, now: new Date(), signal, log });
  } finally {
    await hubDb.close();
  }
}

export const peerBenchmark: Benchmark = {
  summary: 'the hub against a FHIR server already running at PEER_URL (PEER_TOKEN): create, read, search, ingest',
  setupSeconds: 1_800,
  series: 4,
  run: benchPeer,
};
