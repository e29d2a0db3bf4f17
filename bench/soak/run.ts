import { rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { readDemoKeys } from '../../src/demo/seed.js';
import { demoClients } from '../../src/demo/world.js';
import { startHub, stopHub, untilReady, type HubInstance } from '../faults/hub-instance.js';
import { auditVerify, connectedClient } from '../faults/postgres.js';
import { startTemporaryPostgres } from '../faults/temporary-postgres.js';
import { ingestFormats, UniqueValues, type FormatName } from '../support/ingest-formats.js';
import { requireHaproxy, startBalancer } from './haproxy.js';
import { kindLines, phaseLines, type Phase } from './report.js';
import { runTraffic, type Kind, type Partner } from './traffic.js';

// `npm run soak -- [--minutes N] [--rate R]`: three hub instances (one
// DATA_DIR, so one log key) behind HAProxy, round robin, health checked on
// /readyz, over one database on a PostgreSQL server of the run's own (initdb'd
// in a temporary directory, on a free loopback port, deleted at the end);
// mixed traffic from every partner at a fixed rate, loopback only. At a
// quarter of the run one instance is killed (-9) and started again a sixth of
// the run later (at most 20 s); at two thirds (or once the instance is back)
// that server is stopped for 2 s and started again.

const args = process.argv.slice(2);
const option = (name: string, fallback: number): number => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) || fallback : fallback);
const minutes = option('--minutes', 10);
const rate = option('--rate', 8);
const base = 18_700 + (process.pid % 40) * 10;
// A start on a busy machine (three at once on 2 vCPUs shared with other work) can take minutes: waits are generous.
const START_WAIT_MS = 300_000;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function partner(dataDir: string, clientId: string, purpose: string): Promise<Partner> {
  const client = demoClients.find((c) => c.id === clientId);
  if (client === undefined) throw new Error(`no ${clientId} in the demo world`);
  return { clientId, privateJwk: (await readDemoKeys(dataDir, clientId)).privateJwk, scope: client.scopes.join(' '), purpose };
}

/** Writes from the GP (HL7 v2), maternity (FHIR message) and early help (CAF); reads from Ocean and the health visitors. */
async function kinds(dataDir: string): Promise<Kind[]> {
  const formats = await ingestFormats(new UniqueValues(0));
  const write = async (name: FormatName): Promise<Kind> => {
    const format = formats.find((f) => f.name === name);
    if (format === undefined) throw new Error(`no ${name} format`);
    const from = await partner(dataDir, format.clientId, format.purpose);
    return {
      name: `${format.clientId} ${format.path}`,
      partner: from,
      method: 'POST',
      next: () => {
        const body = format.next();
        return { path: format.path, contentType: format.contentType, body, keys: format.messageKeys(body) };
      },
    };
  };
  const read = async (clientId: string, purpose: string, query: string): Promise<Kind> => ({
    name: `${clientId} GET /fhir/Patient?${query}`,
    partner: await partner(dataDir, clientId, purpose),
    method: 'GET',
    next: () => ({ path: `/fhir/Patient?${query}`, keys: [] }),
  });
  const gp = await write('hl7v2');
  const maternity = await write('fhir-message');
  const earlyHelp = await write('caf');
  const ocean = await read('ocean-cc', 'early-years-registration', '_lastUpdated=gt2026-01-01&_count=20');
  const visitors = await read('eastside-hv', 'direct-care', '_count=20');
  return [gp, maternity, ocean, gp, visitors, earlyHelp];
}

/** Resources of one type sharing one identifier list: a message stored twice. */
const DUPLICATES = `select count(*) as n from (select type, content->'identifier' as ids from resource
  where content ? 'identifier' group by 1, 2 having count(*) > 1) d`;

async function main(): Promise<number> {
  await requireHaproxy();
  const server = await startTemporaryPostgres();
  const hubs: HubInstance[] = [];
  let balancer: Awaited<ReturnType<typeof startBalancer>> | undefined;
  let dataDir: string | undefined;
  try {
    const name = 'hubsoak';
    const admin = connectedClient(server.url);
    await admin.connect();
    await admin.query(`create database "${name}"`);
    await admin.end();
    const url = new URL(server.url);
    url.pathname = `/${name}`;
    const databaseUrl = url.toString();
    dataDir = await mkdtemp(path.join(tmpdir(), 'hub-soak-'));
    const made = dataDir;
    // Removed on any exit, a signal's included (temporary-postgres.ts exits the process on one).
    process.on('exit', () => {
      rmSync(made, { recursive: true, force: true });
    });
    const hubPorts = [base + 1, base + 2, base + 3];
    // The first start makes the log key and the demo client keys the three instances share.
    const setup = startHub('setup', base + 4, { DATABASE_URL: databaseUrl, DATA_DIR: dataDir, MLLP_PORT: String(base + 8) });
    await untilReady(setup, START_WAIT_MS);
    await stopHub(setup);
    balancer = await startBalancer(dataDir, base, hubPorts);
    const lb = balancer;
    // The token audience is the address partners send to: the balancer's. Demo mode's MLLP listener: one port each.
    const shared = dataDir;
    const instance = (i: number, label: string): HubInstance =>
      startHub(label, hubPorts[i] ?? 0, { DATABASE_URL: databaseUrl, DATA_DIR: shared, PUBLIC_BASE_URL: lb.baseUrl, SHUTDOWN_DEADLINE_MS: '8000', TRUST_PROXY: '127.0.0.1', MLLP_PORT: String(base + 5 + i) });
    hubs.push(instance(0, 'hub1'), instance(1, 'hub2'), instance(2, 'hub3'));
    await Promise.all(hubs.map((h) => untilReady(h, START_WAIT_MS)));
    await sleep(3_000); // two health checks a second apart: all three in rotation
    const check = connectedClient(databaseUrl);
    await check.connect();
    const duplicatesBefore = Number((await check.query<{ n: string }>(DUPLICATES)).rows[0]?.n ?? 0);
    await check.end();

    const durationMs = minutes * 60_000;
    const killAt = durationMs / 4;
    const downMs = Math.min(20_000, durationMs / 6);
    const started = Date.now();
    console.log(
      `soak: ${minutes} min at ${rate} requests/s through HAProxy ${lb.baseUrl} to 3 instances, PostgreSQL on 127.0.0.1:${server.port} (the run's own); ` +
        `faults: kill -9 at ~${(killAt / 1000).toFixed(0)} s, restarted ${(downMs / 1000).toFixed(0)} s later; database stopped for 2 s at ~${((2 * durationMs) / 3000).toFixed(0)} s or once the instance is back`,
    );
    const traffic = runTraffic({ baseUrl: lb.baseUrl, cycle: await kinds(dataDir), ratePerSecond: rate, durationMs, patienceMs: 120_000 });
    const marks: Record<string, number> = {};
    const upAgain = async (hub: HubInstance): Promise<void> => {
      await untilReady(hub, START_WAIT_MS);
      await sleep(2_000); // rise 2 at inter 1s
    };
    await sleep(killAt);
    marks['kill'] = Date.now();
    hubs[0]?.signal('SIGKILL');
    await hubs[0]?.exited;
    await sleep(downMs);
    marks['restart'] = Date.now();
    hubs[0] = instance(0, 'hub1-again');
    await upAgain(hubs[0]);
    marks['back'] = Date.now();
    await sleep(Math.max(0, started + (2 * durationMs) / 3 - Date.now()));
    marks['dbStop'] = Date.now();
    const outage = await server.restart(2_000);
    await Promise.all(hubs.map((h) => untilReady(h, START_WAIT_MS)));
    await sleep(2_000);
    marks['dbBack'] = Date.now();
    const operations = await traffic;
    const ended = Date.now();

    const phases: Phase[] = [
      { name: 'before kill', from: started, to: marks['kill'] ?? ended },
      { name: 'hub1 killed, restarting', from: marks['kill'] ?? ended, to: marks['back'] ?? ended },
      { name: 'after kill, before database restart', from: marks['back'] ?? ended, to: marks['dbStop'] ?? ended },
      { name: `database down/reconnecting (${outage} ms stop)`, from: marks['dbStop'] ?? ended, to: marks['dbBack'] ?? ended },
      { name: 'after database restart', from: marks['dbBack'] ?? ended, to: ended },
    ];
    const writes = operations.filter((o) => o.write);
    const keys = writes.flatMap((o) => o.keys);
    const count = connectedClient(databaseUrl);
    await count.connect();
    // The hub keys a receipt by the sender's organisation too: "<org>|<message key>".
    const stored = await count.query<{ message_key: string }>(
      "select substr(message_key, strpos(message_key, '|') + 1) as message_key from message_receipt where substr(message_key, strpos(message_key, '|') + 1) = any($1) and outcome->>'status' = 'stored'",
      [keys],
    );
    const duplicated = Number((await count.query<{ n: string }>(DUPLICATES)).rows[0]?.n ?? 0) - duplicatesBefore;
    await count.end();
    const have = new Set(stored.rows.map((r) => r.message_key));
    const acknowledged = writes.filter((o) => o.acknowledged);
    const lost = acknowledged.filter((o) => o.keys.some((k) => !have.has(k))).length;
    const readOps = operations.filter((o) => !o.write);

    console.log(`writes: sent ${writes.length}  acknowledged ${acknowledged.length}  stored ${have.size} (of ${keys.length} message keys)  duplicated ${duplicated}  lost ${lost}  unacknowledged ${writes.length - acknowledged.length}`);
    console.log(`reads: sent ${readOps.length}  answered ${readOps.filter((o) => o.acknowledged).length}`);
    for (const line of kindLines(operations)) console.log(line);
    for (const line of phaseLines(operations, phases)) console.log(line);
    const downUp = lb.output.filter((l) => / is (DOWN|UP)/.test(l)).map((l) => l.replace(/^.*Server /, '').replace(/,.*$/, ''));
    console.log(`haproxy: ${downUp.join('; ') || '(no server state changes logged)'}`);
    const exited = hubs.filter((h) => !h.alive()).map((h) => h.name);
    if (exited.length > 0) console.log(`instances that exited on their own: ${exited.join(', ')}`);
    const verified = await auditVerify(databaseUrl, dataDir);
    console.log(verified.line);
    const passed = lost === 0 && duplicated === 0 && acknowledged.length > 0 && exited.length === 0 && verified.passed;
    console.log(passed ? 'PASS' : 'FAIL');
    return passed ? 0 : 1;
  } finally {
    await Promise.all(hubs.map((h) => stopHub(h)));
    await balancer?.stop();
    await server.stop();
    if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true });
  }
}

process.exit(await main());
