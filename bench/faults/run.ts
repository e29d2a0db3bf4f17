import { rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type pg from 'pg';
import { readDemoKeys } from '../../src/demo/seed.js';
import { demoClients } from '../../src/demo/world.js';
import { ingestFormats, UniqueValues } from '../support/ingest-formats.js';
import { startHub, stopHub, untilReady, type HubInstance } from './hub-instance.js';
import { runLoad, type LoadTally, type Sender } from './load.js';
import { auditVerify, connectedClient } from './postgres.js';
import { startTemporaryPostgres, type TemporaryPostgres } from './temporary-postgres.js';

// `npm run faults [-- --repeat N] [--only databaseRestart,…]`: the fault suite of issue 13,
// on a PostgreSQL server of its own (initdb'd in a temporary directory, on a
// free loopback port, deleted at the end), so that terminating backends and
// stopping the server disrupt nothing else. Each scenario runs real hub
// processes under load and prints sent / acknowledged / stored / duplicated /
// lost. Not part of `npm test`.

const args = process.argv.slice(2);
const repeat = args.includes('--repeat') ? Number(args[args.indexOf('--repeat') + 1]) || 2 : 2;
// --only <scenario function name>[,…]: e.g. --only databaseRestart
const only = args.includes('--only') ? (args[args.indexOf('--only') + 1] ?? '').split(',') : undefined;
const LOAD_MS = 6_000;
let nextPort = 18_400 + (process.pid % 50) * 10;

interface Context {
  server: TemporaryPostgres;
  url: string;
  dataDir: string;
  control: pg.Client;
  sender: Sender;
  next: () => { body: string; key: string };
}

interface Row {
  scenario: string;
  tally: LoadTally;
  stored: number;
  duplicated: number;
  lost: number;
  note: string;
  passed: boolean;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function hub(context: Context, name: string, env: Record<string, string> = {}): HubInstance {
  nextPort += 1;
  // Each instance its own MLLP port: two demo instances on one host would both take the demo's 2575.
  return startHub(name, nextPort, { DATABASE_URL: context.url, DATA_DIR: context.dataDir, SHUTDOWN_DEADLINE_MS: '8000', MLLP_PORT: String(nextPort + 500), ...env });
}

/** Stored: receipts of the keys sent. Duplicated: Immunizations stored more than once for one message. Lost: acknowledged, not stored. */
async function count(context: Context, tally: LoadTally): Promise<Pick<Row, 'stored' | 'duplicated' | 'lost'>> {
  // The hub keys a receipt by the sender's organisation too: "<org>|<message key>".
  const stored = await context.control.query<{ message_key: string }>(
    "select substr(message_key, strpos(message_key, '|') + 1) as message_key from message_receipt where substr(message_key, strpos(message_key, '|') + 1) = any($1) and outcome->>'status' = 'stored'",
    [tally.keys],
  );
  const have = new Set(stored.rows.map((r) => r.message_key));
  const dup = await context.control.query<{ n: string }>(`
    select count(*) as n from (
      select v from (select jsonb_path_query(content, '$.identifier[*].value') #>> '{}' as v from resource where type = 'Immunization') s
      where v like 'Y90001-IMM-B%' group by v having count(*) > 1) d`);
  return { stored: have.size, duplicated: Number(dup.rows[0]?.n ?? 0), lost: tally.ackedKeys.filter((k) => !have.has(k)).length };
}

async function backendsOf(context: Context): Promise<number[]> {
  const rows = await context.control.query<{ pid: number }>('select pid from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()');
  return rows.rows.map((r) => r.pid);
}

async function terminateUnderLoad(context: Context): Promise<Row> {
  const a = hub(context, 'a');
  await untilReady(a);
  const load = runLoad({ hubs: () => [a.baseUrl], sender: context.sender, next: context.next, workers: 6, durationMs: LOAD_MS, patienceMs: 30_000 });
  let terminated = 0;
  for (const at of [1_500, 3_000, 4_500]) {
    await sleep(at === 1_500 ? at : 1_500);
    for (const pid of await backendsOf(context)) terminated += (await context.control.query('select pg_terminate_backend($1)', [pid])).rowCount ?? 0;
  }
  const tally = await load;
  const stayedUp = a.alive();
  await untilReady(a, 20_000).catch(() => undefined);
  const ready = a.alive() && (await fetch(`${a.baseUrl}/readyz`).then((r) => r.status)) === 200;
  await stopHub(a);
  const counts = await count(context, tally);
  return { scenario: 'backends terminated', tally, ...counts, note: `${terminated} backends terminated; hub ${stayedUp ? 'stayed up' : 'EXITED'}; ready after: ${ready}`, passed: stayedUp && ready && counts.lost === 0 && counts.duplicated === 0 };
}

async function databaseRestart(context: Context): Promise<Row> {
  const a = hub(context, 'a');
  await untilReady(a);
  const load = runLoad({ hubs: () => [a.baseUrl], sender: context.sender, next: context.next, workers: 4, durationMs: LOAD_MS, patienceMs: 40_000 });
  await sleep(1_500);
  const outage = await context.server.restart(2_000);
  const tally = await load;
  await context.control.end().catch(() => undefined);
  context.control = connectedClient(context.url);
  await context.control.connect();
  const stayedUp = a.alive();
  await untilReady(a, 30_000).catch(() => undefined);
  const ready = a.alive() && (await fetch(`${a.baseUrl}/readyz`).then((r) => r.status)) === 200;
  await stopHub(a);
  const counts = await count(context, tally);
  return { scenario: 'database stopped+started', tally, ...counts, note: `outage ${outage} ms; hub ${stayedUp ? 'stayed up' : 'EXITED'}; ready after: ${ready}`, passed: stayedUp && ready && counts.lost === 0 && counts.duplicated === 0 };
}

async function killMidIngest(context: Context): Promise<Row> {
  let a = hub(context, 'a');
  await untilReady(a);
  let current = a.baseUrl;
  const load = runLoad({ hubs: () => [current], sender: context.sender, next: context.next, workers: 6, durationMs: LOAD_MS, patienceMs: 60_000 });
  await sleep(2_000);
  a.signal('SIGKILL');
  await a.exited;
  a = hub(context, 'a-again');
  current = a.baseUrl;
  await untilReady(a);
  const tally = await load;
  await stopHub(a);
  const counts = await count(context, tally);
  return { scenario: 'kill -9 mid-ingest', tally, ...counts, note: 'restarted on the same DATA_DIR', passed: counts.lost === 0 && counts.duplicated === 0 };
}

async function sigtermUnderLoad(context: Context): Promise<Row> {
  const a = hub(context, 'a');
  const b = hub(context, 'b');
  await Promise.all([untilReady(a), untilReady(b)]);
  const load = runLoad({ hubs: () => [a.baseUrl, b.baseUrl], sender: context.sender, next: context.next, workers: 8, durationMs: LOAD_MS, patienceMs: 30_000 });
  await sleep(2_500);
  const signalled = Date.now();
  a.signal('SIGTERM');
  const code = await a.exited;
  const stopMs = Date.now() - signalled;
  const tally = await load;
  await stopHub(b);
  const counts = await count(context, tally);
  return { scenario: 'SIGTERM under load', tally, ...counts, note: `exit ${String(code)} after ${stopMs} ms; connections reset: ${tally.reset}`, passed: code === 0 && tally.reset === 0 && counts.lost === 0 && counts.duplicated === 0 };
}

async function twoInstancesOneKilled(context: Context): Promise<Row> {
  const a = hub(context, 'a');
  const b = hub(context, 'b');
  await Promise.all([untilReady(a), untilReady(b)]);
  const load = runLoad({ hubs: () => [a.baseUrl, b.baseUrl], sender: context.sender, next: context.next, workers: 8, durationMs: LOAD_MS, patienceMs: 30_000 });
  await sleep(2_500);
  a.signal('SIGKILL');
  const tally = await load;
  const bUp = b.alive();
  await stopHub(b);
  const counts = await count(context, tally);
  return { scenario: 'two instances, one killed', tally, ...counts, note: `the other ${bUp ? 'stayed up' : 'EXITED'}`, passed: bUp && counts.lost === 0 && counts.duplicated === 0 };
}

async function otherOriginRefused(context: Context): Promise<Row> {
  const other = await mkdtemp(path.join(tmpdir(), 'hub-faults-other-'));
  try {
    const c = hub(context, 'c', { DATA_DIR: other, AUDIT_LOG_ORIGIN: 'second-instance.example/audit-log' });
    const code = await Promise.race([c.exited, sleep(90_000).then(() => 'timeout' as const)]);
    if (code === 'timeout') await stopHub(c);
    const line = c.output.find((l) => l.includes('refusing to start')) ?? '';
    const reason = (JSON.parse(line || '{}') as { msg?: string }).msg ?? '(no refusal logged)';
    const empty: LoadTally = { sent: 0, acknowledged: 0, ackedKeys: [], keys: [], unavailable503: 0, other5xx: 0, refused: 0, reset: 0, tokenErrors: [] };
    return { scenario: 'other origin refused', tally: empty, stored: 0, duplicated: 0, lost: 0, note: `exit ${String(code)}: ${reason.slice(0, 160)}…`, passed: code !== 0 && code !== 'timeout' && line !== '' };
  } finally {
    await rm(other, { recursive: true, force: true });
  }
}

/** A scenario under load passes only if the load got through at all. */
function sound(row: Row): Row {
  return row.scenario === 'other origin refused' || row.tally.acknowledged > 0 ? row : { ...row, passed: false, note: `${row.note}; nothing acknowledged` };
}

function print(row: Row): void {
  const t = row.tally;
  console.log(
    `${row.passed ? 'PASS' : 'FAIL'}  ${row.scenario.padEnd(26)} sent ${t.sent}  acknowledged ${t.acknowledged}  stored ${row.stored}  duplicated ${row.duplicated}  lost ${row.lost}` +
      `  | 503s ${t.unavailable503}  other 5xx ${t.other5xx}  refused ${t.refused}  reset ${t.reset}  | ${row.note}`,
  );
}

async function main(): Promise<number> {
  const server = await startTemporaryPostgres();
  const rows: Row[] = [];
  let dataDir: string | undefined;
  let control: pg.Client | undefined;
  try {
    const admin = connectedClient(server.url);
    await admin.connect();
    await admin.query('create database hubfaults');
    await admin.end();
    const url = new URL(server.url);
    url.pathname = '/hubfaults';
    dataDir = await mkdtemp(path.join(tmpdir(), 'hub-faults-'));
    const made = dataDir;
    // Removed on any exit, a signal's included (temporary-postgres.ts exits the process on one).
    process.on('exit', () => {
      rmSync(made, { recursive: true, force: true });
    });
    control = connectedClient(url.toString());
    await control.connect();
    // The first start makes the log key and the demo client keys every later instance shares.
    const first = startHub('setup', (nextPort += 1), { DATABASE_URL: url.toString(), DATA_DIR: dataDir });
    await untilReady(first);
    await stopHub(first);
    const gp = demoClients.find((c) => c.id === 'limehouse-gp');
    if (gp === undefined) throw new Error('no limehouse-gp in the demo world');
    const format = (await ingestFormats(new UniqueValues(0))).find((f) => f.name === 'hl7v2');
    if (format === undefined) throw new Error('no hl7v2 format');
    const context: Context = {
      server,
      url: url.toString(),
      dataDir,
      control,
      sender: { clientId: gp.id, privateJwk: (await readDemoKeys(dataDir, gp.id)).privateJwk, scope: gp.scopes.join(' ') },
      next: () => {
        const body = format.next();
        return { body, key: format.messageKeys(body)[0] ?? '' };
      },
    };
    const scenarios = [terminateUnderLoad, databaseRestart, killMidIngest, sigtermUnderLoad, twoInstancesOneKilled].filter(
      (s) => only === undefined || only.includes(s.name),
    );
    for (const scenario of scenarios) {
      for (let i = 0; i < (scenario === databaseRestart ? 1 : repeat); i += 1) {
        const row = sound(await scenario(context));
        print(row);
        rows.push(row);
      }
    }
    if (only === undefined || only.includes(otherOriginRefused.name)) {
      const refused = await otherOriginRefused(context);
      print(refused);
      rows.push(refused);
    }
    control = context.control;
    const verified = await auditVerify(context.url, context.dataDir);
    console.log(verified.line);
    if (!verified.passed) return 1;
  } finally {
    await control?.end().catch(() => undefined);
    await server.stop();
    if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true });
  }
  return rows.every((r) => r.passed) ? 0 : 1;
}

process.exit(await main());
