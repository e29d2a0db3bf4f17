import { fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { openDatabase } from '../src/db/database.js';
import type { Benchmark, BenchContext } from './support/benchmark.js';
import { createBenchDatabase, withBenchDatabase } from './support/bench-database.js';
import { median } from './support/load.js';
import { table } from './support/report.js';
import { isEntryPoint, runAlone } from './support/runner.js';
import { preloadLog, TAIL } from './support/tile-preload.js';
import { withDeadline } from './support/time.js';

// `npm run bench -- log-scale`: does a hub's memory and start-up stay flat as
// the verifiable log grows? Two databases on the same PostgreSQL, one with
// BENCH_LOG_ENTRIES entries (10 million) and one with 10 thousand, preloaded
// as tile-preload.ts says (every tile of the tree, the right edge of the log
// rows). Interleaved pairs, each instance a fresh process: start-up (open the
// database, wire the hub, catch the tiles up, start the sequencer), then the
// first signed checkpoint over the whole log and an inclusion proof from
// tiles; RSS and heap after a full GC. Ratios large / small, per BENCH.md.

const BASELINE_ENTRIES = 10_000;
const childFile = fileURLToPath(new URL('./support/log-scale-child.ts', import.meta.url));

const childResult = z.object({
  treeSize: z.number(),
  startMs: z.number(),
  proofMs: z.number(),
  verified: z.boolean(),
  rss: z.number(),
  heapUsed: z.number(),
  rssBeforeOpen: z.number(),
  heapBeforeOpen: z.number(),
});
type ChildResult = z.infer<typeof childResult>;

async function measureInstance(url: string, signal: AbortSignal): Promise<ChildResult> {
  const child = fork(childFile, [url], { execArgv: [...process.execArgv, '--expose-gc'], stdio: ['ignore', 'pipe', 'inherit', 'ipc'], signal });
  let out = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    out += chunk.toString('utf8');
  });
  const [code] = (await withDeadline(once(child, 'exit'), 300_000, 'hub instance run')) as [number | null];
  if (code !== 0) throw new Error(`the measured hub instance exited with ${String(code)}`);
  const line = out.trim().split('\n').at(-1) ?? '';
  return childResult.parse(JSON.parse(line));
}

const mb = (bytes: number): string => (bytes / 2 ** 20).toFixed(1);
const ms = (value: number): string => value.toFixed(0);
const ratio = (a: number, b: number): string => (a / b).toFixed(2);

function spread(values: readonly number[]): string {
  return `${median(values).toFixed(2)} (${Math.min(...values).toFixed(2)}–${Math.max(...values).toFixed(2)})`;
}

async function run(context: BenchContext): Promise<void> {
  const { options, signal, log, out } = context;
  const entries = options.logEntries;
  await withBenchDatabase(context, 'log-scale', async (large, cleanup) => {
    const small = await createBenchDatabase(options.adminUrl);
    cleanup.defer(`drop database ${small.name}`, async () => {
      await small.drop();
    });
    for (const [db, n] of [[small, BASELINE_ENTRIES], [large, entries]] as const) {
      const database = await openDatabase({ kind: 'postgres', url: db.url });
      await database.migrate();
      await database.close();
      const t0 = performance.now();
      await preloadLog(db.url, n, log, signal);
      log(`log-scale: preloaded ${n} entries into ${db.name} in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    }
    const rows: string[][] = [];
    const pairs: { small: ChildResult; large: ChildResult }[] = [];
    for (let p = 0; p < options.pairs; p += 1) {
      signal.throwIfAborted();
      const s = await measureInstance(small.url, signal);
      const l = await measureInstance(large.url, signal);
      if (!s.verified || !l.verified) throw new Error('an inclusion proof built from tiles did not verify');
      pairs.push({ small: s, large: l });
      for (const [name, r] of [['10k', s], ['large', l]] as const) {
        rows.push([String(p + 1), name, String(r.treeSize), ms(r.startMs), ms(r.proofMs), mb(r.rss), mb(r.heapUsed), mb(r.rss - r.rssBeforeOpen)]);
      }
      log(`log-scale: pair ${p + 1}: ${JSON.stringify(pairs.at(-1))}`);
    }
    out(`log-scale: ${entries} entries against ${BASELINE_ENTRIES}, PostgreSQL, each instance a fresh process`);
    out(`preloaded: every full tile of the tree (${entries} synthetic leaf hashes), and the last ${TAIL} entries as audit_log/audit_event rows`);
    for (const line of table(['pair', 'log', 'tree size', 'start ms', 'checkpoint+proof ms', 'RSS MB', 'heap MB', 'RSS growth MB'], rows)) out(line);
    out(`start-up time, large / 10k: ${spread(pairs.map((x) => x.large.startMs / x.small.startMs))}`);
    out(`first checkpoint + proof, large / 10k: ${spread(pairs.map((x) => x.large.proofMs / x.small.proofMs))}`);
    out(`RSS after start, large / 10k: ${spread(pairs.map((x) => x.large.rss / x.small.rss))}`);
    out(`heap used after start, large / 10k: ${spread(pairs.map((x) => x.large.heapUsed / x.small.heapUsed))}`);
    const last = pairs.at(-1);
    if (last !== undefined) out(`(last pair: RSS ${mb(last.large.rss)} vs ${mb(last.small.rss)} MB = ${ratio(last.large.rss, last.small.rss)})`);
  });
}

export const logScaleBenchmark: Benchmark = {
  summary: 'hub memory and start-up with a 10M-entry log (tlog-tiles) against a 10k one',
  setupSeconds: 3600,
  runSlackSeconds: 120,
  run,
};

if (isEntryPoint(import.meta.url)) await runAlone('log-scale', logScaleBenchmark);
