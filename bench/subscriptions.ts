import type { Bundle, FhirResource } from 'fhir/r4.js';
import { readFile, mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { sql } from 'drizzle-orm';
import { generateClientKeyPair } from '../src/auth/client-assertion.js';
import { inTransaction, openDatabase } from '../src/db/database.js';
import { upsertClient, upsertOrganisation } from '../src/db/registry-queries.js';
import { allowEndpoint } from '../src/db/subscription-queries.js';
import { demoClients, demoOrganisations } from '../src/demo/world.js';
import { BACKPORT_PROFILE } from '../src/fhir/subscription-request.js';
import { createHub } from '../src/hub.js';
import { createLogger } from '../src/logger.js';
import { loadProtocols, prepareDemoPolicies } from '../src/services/protocol-store.js';
import { withBenchDatabase } from './support/bench-database.js';
import type { Benchmark, BenchContext } from './support/benchmark.js';
import { othersShare, sampleCpu } from './support/cpu.js';
import { postgresPids } from './support/postgres-pids.js';
import { drainAuditQueue } from './support/hub-db.js';
import { median, percentile } from './support/load.js';
import { share, table } from './support/report.js';
import { isEntryPoint, runAlone } from './support/runner.js';
import { nhsNumbers } from './support/synthetic.js';
import { requestAccessToken } from './support/token.js';

// `npm run bench -- subscriptions` (or `npx tsx bench/subscriptions.ts`):
// notification latency, commit to receipt, against a loopback HTTP round trip
// in the same run. One hub in this process on a PostgreSQL database of its
// own, one Subscription of Ocean's to the registration topic (id-only), its
// endpoint a receiver on 127.0.0.1 in this process.
//
// Scenario: maternity books a mother (POST /fhir/$process-message, one at a
// time); the time from the answer (the booking has committed by then) to the
// receiver's receipt of the notification about her, which the delivery
// worker decided, numbered, audited and sent. Baseline: the same receiver
// sent a notification Bundle of the same size by a plain POST on loopback;
// the time from sending to the answer. Pairs interleaved, baseline first;
// the ratios are of the p50s and of the p99s.

const WAIT_MS = 30_000;

interface Receipts {
  url: string;
  /** Resolves when a notification naming this focus arrives. */
  waitFor(focus: string): Promise<bigint>;
  close(): Promise<void>;
}

async function receiver(): Promise<Receipts> {
  const waiting = new Map<string, (at: bigint) => void>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const at = process.hrtime.bigint();
      res.writeHead(200).end();
      const bundle = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Bundle;
      for (const e of bundle.entry?.slice(1) ?? []) {
        const focus = e.fullUrl?.split('/').slice(-2).join('/') ?? '';
        waiting.get(focus)?.(at);
        waiting.delete(focus);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/notify`,
    waitFor: (focus) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => { reject(new Error(`no notification for ${focus} within ${WAIT_MS} ms`)); }, WAIT_MS);
        waiting.set(focus, (at) => { clearTimeout(timer); resolve(at); });
      }),
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => { resolve(); }));
    },
  };
}

interface Latencies {
  ms: number[];
  seconds: number;
}

async function timed(seconds: number, signal: AbortSignal, once: () => Promise<number>): Promise<Latencies> {
  const ms: number[] = [];
  const started = process.hrtime.bigint();
  const deadline = started + BigInt(seconds * 1e9);
  while (process.hrtime.bigint() < deadline) {
    signal.throwIfAborted();
    ms.push(await once());
  }
  return { ms: ms.sort((a, b) => a - b), seconds: Number(process.hrtime.bigint() - started) / 1e9 };
}

export async function benchSubscriptions(context: BenchContext): Promise<void> {
  const { options, signal, log, out } = context;
  await withBenchDatabase(context, 'subscriptions', async (database, cleanup) => {
    const policies = path.resolve(import.meta.dirname, '..', 'policies');
    const dataDir = await mkdtemp(path.join(tmpdir(), 'eyhub-bench-'));
    const protocols = await loadProtocols(await prepareDemoPolicies(policies, dataDir));
    await rm(dataDir, { recursive: true, force: true });
    const hubDb = await openDatabase({ kind: 'postgres', url: database.url, poolSize: 8 });
    cleanup.defer('close the hub database pool', () => hubDb.close());
    await hubDb.migrate();
    const receipts = await receiver();
    cleanup.defer('close the receiver', () => receipts.close());
    const maternity = await generateClientKeyPair('ES384');
    await inTransaction(hubDb.db, async (tx) => {
      for (const org of demoOrganisations) await upsertOrganisation(tx, org);
      const client = demoClients.find((c) => c.id === 'northgate-maternity');
      if (client === undefined) throw new Error('no maternity client in the demo world');
      await upsertClient(tx, { id: client.id, organisationCode: client.organisation, scopes: [...client.scopes], purposes: [...client.purposes], jwks: { keys: [maternity.publicJwk] } });
      await allowEndpoint(tx, 'CC-OCEAN', receipts.url);
    });

    const server = http.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const hub = await createHub({ database: hubDb, baseUrl, logger: createLogger('warn'), protocols });
    server.on('request', hub.app);
    cleanup.defer('close the hub', async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => { resolve(); }));
      await hub.close();
    });

    // Ocean's Subscription, as it would make it (its handshake answered by the receiver).
    await inTransaction(hubDb.db, async (tx) => {
      const now = new Date();
      const resource = { resourceType: 'Subscription', reason: 'bench', criteria: `${baseUrl}/fhir/SubscriptionTopic/registration`, channel: { type: 'rest-hook', endpoint: receipts.url } };
      await tx.execute(
        sql`insert into subscription (id, organisation_code, client_id, purpose, topic, status, endpoint, content, resource, created_at, next_attempt_at)
          values ('bench-ocean', 'CC-OCEAN', 'ocean-cc', 'early-years-registration', 'registration', 'active', ${receipts.url}, 'id-only', ${JSON.stringify({ ...resource, meta: { profile: [BACKPORT_PROFILE] } })}::jsonb, ${now.toISOString()}::timestamptz, ${now.toISOString()}::timestamptz)`,
      );
    });

    const token = await requestAccessToken({ baseUrl, clientId: 'northgate-maternity', privateJwk: maternity.privateJwk, scope: 'system/*.c', purpose: 'direct-care' });
    const fixture = await readFile(path.resolve(import.meta.dirname, '../test/fixtures/fhir-message/pregnancy-notification.json'), 'utf8');
    const numbers = nhsNumbers();
    let booked = 0;
    // No abort signal per request (each would add a listener to the run's signal): the loop checks it between requests.
    const book = async (): Promise<number> => {
      booked += 1;
      const nhs = numbers.next().value as string;
      const bundle = JSON.parse(fixture) as Bundle<FhirResource>;
      for (const entry of bundle.entry ?? []) {
        const r = entry.resource;
        if (r?.resourceType === 'MessageHeader') r.id = `22222222-3333-4444-8555-${String(booked).padStart(12, '0')}`;
        if (r?.resourceType === 'EpisodeOfCare') r.identifier = [{ system: 'https://eastside.example/fhir/Id/northgate-pregnancy', value: `BENCH-PREG-${booked}` }];
        if (r?.resourceType === 'Patient') r.identifier = [{ system: 'https://fhir.nhs.uk/Id/nhs-number', value: nhs }];
      }
      const res = await fetch(`${baseUrl}/fhir/$process-message`, { method: 'POST', headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/fhir+json' }, body: JSON.stringify(bundle) });
      const answer = await res.text();
      const committed = process.hrtime.bigint();
      const mother = /Patient\/([0-9a-f-]{36})/.exec(answer)?.[1];
      if (res.status !== 200 || mother === undefined) throw new Error(`booking refused (${res.status}): ${answer.slice(0, 300)}`);
      const received = await receipts.waitFor(`Patient/${mother}`);
      return Number(received - committed) / 1e6;
    };
    const sample = JSON.stringify({ resourceType: 'Bundle', type: 'history', entry: [{ fullUrl: 'urn:uuid:x', resource: { resourceType: 'Parameters', parameter: [] } }] });
    const roundTrip = async (): Promise<number> => {
      const started = process.hrtime.bigint();
      const res = await fetch(receipts.url, { method: 'POST', headers: { 'Content-Type': 'application/fhir+json' }, body: sample });
      await res.arrayBuffer();
      return Number(process.hrtime.bigint() - started) / 1e6;
    };

    const control = new pg.Client({ connectionString: database.url, application_name: 'hubbench-control' });
    await control.connect();
    cleanup.defer('close the control connection', () => control.end());
    const pids = async (): Promise<number[]> => [process.pid, ...(await postgresPids(control, database.url))];

    log(`subscriptions: ${options.pairs} pairs, each side ${options.warmupSeconds} s warm-up then ${options.seconds} s, one at a time`);
    const rows: string[][] = [];
    const p50s: number[] = [];
    const p99s: number[] = [];
    for (let pair = 1; pair <= options.pairs; pair += 1) {
      const figures: { p50: number; p99: number; n: number; others: number | undefined }[] = [];
      for (const once of [roundTrip, book]) {
        await drainAuditQueue(control, signal);
        await control.query('checkpoint');
        if (options.warmupSeconds > 0) await timed(options.warmupSeconds, signal, once);
        const before = sampleCpu();
        const run = await timed(options.seconds, signal, once);
        figures.push({ p50: percentile(run.ms, 50), p99: percentile(run.ms, 99), n: run.ms.length, others: othersShare(before, sampleCpu(), await pids()) });
      }
      const [base, scen] = figures as [(typeof figures)[0], (typeof figures)[0]];
      p50s.push(scen.p50 / base.p50);
      p99s.push(scen.p99 / base.p99);
      rows.push([String(pair), String(base.n), base.p50.toFixed(2), base.p99.toFixed(2), share(base.others), String(scen.n), scen.p50.toFixed(2), scen.p99.toFixed(2), share(scen.others), (scen.p50 / base.p50).toFixed(1), (scen.p99 / base.p99).toFixed(1)]);
    }
    const range = (v: number[]): string => `${Math.min(...v).toFixed(1)}–${Math.max(...v).toFixed(1)}`;
    for (const line of [
      'subscriptions: notification latency, commit to receipt, against a loopback HTTP round trip',
      `setting: PostgreSQL (synchronous_commit on), one hub in process with default delivery settings (woken by each commit), one id-only Subscription; node ${process.version}, started ${new Date().toISOString()}`,
      'scenario: a booking answered (committed) → its notification received at the endpoint (decided, numbered, audited, POSTed)',
      'baseline: a POST of a notification-sized Bundle to the same endpoint → its answer',
      '',
      ...table(['pair', 'rtt n', 'p50 ms', 'p99 ms', 'other CPU', 'notify n', 'p50 ms', 'p99 ms', 'other CPU', 'p50 ×', 'p99 ×'], rows),
      '',
      `median ratio p50: ${median(p50s).toFixed(1)}× (range ${range(p50s)}), p99: ${median(p99s).toFixed(1)}× (range ${range(p99s)})`,
    ]) out(line);
  });
}

export const subscriptionsBenchmark: Benchmark = {
  summary: 'notification latency, commit to receipt, against a loopback HTTP round trip (p50/p99 ratios)',
  setupSeconds: 120,
  series: 2,
  runSlackSeconds: 40,
  run: benchSubscriptions,
};

if (isEntryPoint(import.meta.url)) await runAlone('subscriptions', subscriptionsBenchmark);
