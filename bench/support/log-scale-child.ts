import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { verifyInclusion } from '../../src/audit/merkle.js';
import { openDatabase } from '../../src/db/database.js';
import { createHub } from '../../src/hub.js';
import { loadProtocols, prepareDemoPolicies } from '../../src/services/protocol-store.js';

// One hub instance for `bench log-scale`, in a fresh process (run with
// --expose-gc): opens the database, wires the hub as main.ts does (the
// sequencer running, tiles caught up), then signs a checkpoint over the whole
// log and proves an entry a third of the way in from tiles. Prints one JSON
// line: start-up and first-proof times, RSS and heap after a full GC.

const url = process.argv[2];
if (url === undefined) throw new Error('usage: log-scale-child.ts <database url>');

const dataDir = await mkdtemp(path.join(tmpdir(), 'eyhub-bench-'));
const protocols = await loadProtocols(await prepareDemoPolicies(path.resolve(import.meta.dirname, '..', '..', 'policies'), dataDir));
await rm(dataDir, { recursive: true, force: true });

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with --expose-gc');
gc();
const before = process.memoryUsage();

const t0 = performance.now();
const database = await openDatabase({ kind: 'postgres', url, poolSize: 4 });
const hub = await createHub({ database, baseUrl: 'http://127.0.0.1:1', logger: pino({ level: 'silent' }), protocols, checkpoints: { everyEntries: 1e9, everyMs: 3_600_000 } });
const startMs = performance.now() - t0;

const t1 = performance.now();
const cp = await hub.auditLog.issueCheckpoint({ drain: true });
if (cp === undefined) throw new Error('no checkpoint signed');
const index = Math.floor(cp.treeSize / 3);
const proof = await hub.auditLog.inclusion(index, cp.treeSize);
const proofMs = performance.now() - t1;
const verified =
  proof !== undefined &&
  verifyInclusion(Buffer.from(proof.leafHash, 'base64'), index, cp.treeSize, proof.auditPath.map((p) => Buffer.from(p, 'base64')), Buffer.from(cp.rootHash, 'hex'));

gc();
const after = process.memoryUsage();
await hub.close();
await database.close();
console.log(
  JSON.stringify({
    treeSize: cp.treeSize,
    startMs,
    proofMs,
    verified,
    rss: after.rss,
    heapUsed: after.heapUsed,
    rssBeforeOpen: before.rss,
    heapBeforeOpen: before.heapUsed,
  }),
);
process.exit(0);
