import { createHash, generateKeyPairSync, hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { sql } from 'drizzle-orm';
import pg from 'pg';
import { pino } from 'pino';
import { z } from 'zod';
import { bundleEntry, verifyBundle, type BundleReport } from '../src/audit/bundle.js';
import { canonicalJson } from '../src/audit/canonical-json.js';
import { splitEntryLine } from '../src/audit/bundle-entry-line.js';
import { leafHashBytes, leafHashInPlace } from '../src/audit/log-hash.js';
import { CompactRange } from '../src/audit/merkle-tree.js';
import { logKeyFromJwk, parseVerifierKey, verifierKeyOf, verifyReceipt, type LogKey } from '../src/audit/signed-note.js';
import { bundleLines } from '../src/cli/bundle-lines.js';
import { appendAuditEvent, drainAuditQueue, sequenceAuditEvents } from '../src/db/audit-queries.js';
import { inTransaction, openDatabase, rawRows, type Database } from '../src/db/database.js';
import { AuditLogService, DEFAULT_CHECKPOINT_POLICY } from '../src/services/audit-log-service.js';
import { decisionEventSource, type StoredAuditEvent } from './support/audit-events.js';
import { writeBenchBundles, type BundleFile, type GeneratedBundles } from './support/audit-bundle-file.js';
import { createBenchDatabase, withBenchDatabase } from './support/bench-database.js';
import type { Benchmark, BenchContext } from './support/benchmark.js';
import { Cleanup } from './support/cleanup.js';
import { othersShare, sampleCpu } from './support/cpu.js';
import { postgresPids } from './support/postgres-pids.js';
import { redact } from './support/hub-db.js';
import { median } from './support/load.js';
import { OTHERS_FLAG, share, table } from './support/report.js';
import { isEntryPoint, runAlone } from './support/runner.js';
import { seededRandom } from './support/synthetic.js';
import { elapsedSeconds, withDeadline } from './support/time.js';

// `npm run bench -- audit` (or `npx tsx bench/audit.ts`): what the verifiable
// audit log costs, in two parts.
//
// 1. Offline verification. A bundle of BENCH_AUDIT_ENTRIES (1,000,000)
//    synthetic disclosure decision events (support/audit-events.ts: the hub's
//    own decisionAuditEvent, deterministic from a seed), a receipt per entry
//    signed as the sequencer signs them (BENCH_AUDIT_PASS entries a pass, 40:
//    a busy hub's, about 800 audited requests a second with the sequencer's
//    50 ms gap; runs of up to 64 entries under one signature) and a checkpoint
//    every 1,000 entries, signed with a fresh Ed25519 log key,
//    is written to a temporary directory (support/audit-bundle-file.ts; not
//    timed) and deleted at the end. Scenario: verifyBundle over the file's
//    lines as bytes (bundleLines), as `hub audit verify --bundle` does
//    (auditVerifyBundle in src/cli/audit-bundle.ts), with the verifier key
//    pinned. Baseline: the same file through the same bundleLines, each line
//    (one entry's exact bytes) hashed with SHA-256 (crypto.hash, one thread).
//    entries/s ÷ entries/s, and the CPU time of this process (all threads:
//    the verifier checks receipts on libuv's pool) ÷ CPU time. Then the path
//    that names a bad entry: a bundle of the first BENCH_AUDIT_RECEIPT_ENTRIES
//    (50,000) entries with no checkpoint, so every receipt is checked, against
//    the same per-line SHA-256 of that file. Pairs are whole passes, baseline
//    first, each after BENCH_WARMUP_SECONDS of a pass cut short. The earlier
//    baseline (readline's strings) is measured once, for comparison.
//
// 2. What the log adds per disclosure. Two databases of the bench's own
//    (PostgreSQL on DATABASE_URL's server, as the other benchmarks; or
//    in-process PGlite with BENCH_AUDIT_DATABASE=pglite), one per side. Per run,
//    BENCH_AUDIT_LOG_EVENTS (10,000) decision events are appended by 8
//    concurrent writers in transactions of 1–3 events (appendAuditEvent, as a
//    request writes them), then sequenced: in batches of 500 (the sequencer's),
//    baseline with no key (the hash chain alone), scenario with the log key
//    (receipts signed in runs) and AuditLogService.afterSequenced after each batch
//    (the in-memory Merkle tree, a checkpoint every 1,000 entries), as the
//    hub's AuditSequencer runs them. Sequencing entries/s ÷ entries/s, and the
//    µs per entry the log adds.
//
// BENCH_AUDIT_PARTS=verify or log runs one part only.

const auditEnvSchema = z.object({
  BENCH_AUDIT_ENTRIES: z.coerce.number().int().min(2_000).max(5_000_000).default(1_000_000),
  BENCH_AUDIT_RECEIPT_ENTRIES: z.coerce.number().int().min(1_000).max(1_000_000).default(50_000),
  BENCH_AUDIT_PASS: z.coerce.number().int().min(1).max(500).default(40),
  BENCH_AUDIT_LOG_EVENTS: z.coerce.number().int().min(1_000).max(1_000_000).default(10_000),
  BENCH_AUDIT_DATABASE: z.enum(['postgres', 'pglite']).default('postgres'),
  BENCH_AUDIT_PARTS: z.enum(['all', 'verify', 'log']).default('all'),
});
type AuditOptions = z.infer<typeof auditEnvSchema>;

/** The hub's default checkpoint policy: a checkpoint every 1,000 entries. */
const CHECKPOINT_EVERY = DEFAULT_CHECKPOINT_POLICY.everyEntries;
/** Entries whose verification is taken apart stage by stage, once. */
const BREAKDOWN_ENTRIES = 10_000;
/** A disclosure read writes two entries: its AuthZ-Consent decision and its REST read (FhirService.readOne). */
const ENTRIES_PER_DISCLOSURE = 2;
const APPENDERS = 8;
const SEQUENCE_BATCH = 500;
const LOG_WARMUP_EVENTS = 1_000;
const EVENT_SEED = 20_261_122;
const START = new Date('2026-09-01T07:00:00Z');
const PASS_MS = 900_000;
const LOG_STEP_MS = 600_000;
const MB = 1e6;

// ---------------------------------------------------------------- part 1: offline verification

interface PassFigures {
  seconds: number;
  /** This process's CPU time over the pass, all its threads. */
  cpuSeconds: number;
  entriesPerSecond: number;
  mbPerSecond: number;
  othersShare: number | undefined;
}

interface FilePair {
  pair: number;
  baseline: PassFigures;
  scenario: PassFigures;
  ratio: number;
}

/**
 * One pass over the file's lines, as auditVerifyBundle reads them (bundleLines:
 * bytes, cut at line feeds in 4 MB chunks): the whole file, or (warm-up)
 * until stopMs have passed. Stops early on abort and after PASS_MS.
 */
async function pass<T>(file: string, stopMs: number | undefined, signal: AbortSignal, work: (lines: AsyncIterable<Buffer>) => Promise<T>): Promise<{ result: T; seconds: number; cpuSeconds: number }> {
  const stopper = new AbortController();
  let expired = false;
  const stop = (): void => {
    stopper.abort();
  };
  signal.addEventListener('abort', stop, { once: true });
  const cut = stopMs === undefined ? undefined : setTimeout(stop, stopMs);
  const deadline = setTimeout(() => {
    expired = true;
    stop();
  }, PASS_MS);
  try {
    const cpu = process.cpuUsage();
    const started = process.hrtime.bigint();
    const result = await work(bundleLines(file, { stop: stopper.signal }));
    const seconds = elapsedSeconds(started);
    const used = process.cpuUsage(cpu);
    signal.throwIfAborted();
    if (expired) throw new Error(`a pass over ${file} did not finish within ${PASS_MS / 1000} s`);
    return { result, seconds, cpuSeconds: (used.user + used.system) / 1e6 };
  } finally {
    clearTimeout(cut);
    clearTimeout(deadline);
    signal.removeEventListener('abort', stop);
  }
}

/**
 * Baseline: SHA-256 of every line's bytes, one-shot (crypto.hash, as the
 * verifier hashes); returns the lines hashed (and a digest byte, so the work is used).
 */
async function hashLines(lines: AsyncIterable<Buffer | string>): Promise<{ lines: number; sink: number }> {
  let count = 0;
  let sink = 0;
  for await (const line of lines) {
    sink ^= hash('sha256', line, 'buffer')[0] ?? 0;
    count += 1;
  }
  return { lines: count, sink };
}

/** The earlier baseline, for comparison with earlier runs: the same per-line SHA-256 over readline's decoded strings. */
async function hashLinesReadline(file: BundleFile, signal: AbortSignal): Promise<number> {
  const input = createReadStream(file.path, { encoding: 'utf8' });
  const lines = createInterface({ input, crlfDelay: Infinity });
  const stop = (): void => {
    lines.close();
  };
  signal.addEventListener('abort', stop, { once: true });
  try {
    const started = process.hrtime.bigint();
    const hashed = await hashLines(lines);
    const seconds = elapsedSeconds(started);
    signal.throwIfAborted();
    if (hashed.lines !== 1 + file.checkpoints + file.entries) throw new Error(`readline gave ${hashed.lines} lines of ${file.path}`);
    return file.entries / seconds;
  } finally {
    signal.removeEventListener('abort', stop);
    lines.close();
    input.destroy();
  }
}

function checkVerdict(report: BundleReport, file: BundleFile): void {
  const problems = [
    ...(report.ok ? [] : [`failed: ${report.finding?.problem ?? '?'}: ${report.finding?.detail ?? ''}`]),
    ...(report.entries === file.entries && report.treeSize === file.entries ? [] : [`verified ${report.entries} entries to tree size ${report.treeSize}, not ${file.entries}`]),
    ...(report.checkpointsChecked === file.checkpoints ? [] : [`matched ${report.checkpointsChecked} checkpoints, not ${file.checkpoints}`]),
    ...(report.keySource === 'pinned' ? [] : ['did not use the pinned key']),
  ];
  if (problems.length > 0) throw new Error(`verifying ${file.path}: ${problems.join('; ')}`);
}

async function measurePass(
  context: BenchContext,
  file: BundleFile,
  side: 'baseline' | 'scenario',
  pinnedKey: string,
  pair: number,
): Promise<PassFigures> {
  const { options, signal, log } = context;
  const expected = 1 + file.checkpoints + file.entries;
  // Each side returns the check of its full pass (a warm-up's, cut short, is not made).
  const work =
    side === 'baseline'
      ? async (lines: AsyncIterable<Buffer>): Promise<() => void> => {
          const hashed = await hashLines(lines);
          return () => {
            if (hashed.lines !== expected) throw new Error(`the baseline hashed ${hashed.lines} lines of ${file.path}, not ${expected}`);
          };
        }
      : async (lines: AsyncIterable<Buffer>): Promise<() => void> => {
          const report = await verifyBundle(lines, { pinnedKey });
          return () => {
            checkVerdict(report, file);
          };
        };
  if (options.warmupSeconds > 0) await pass(file.path, options.warmupSeconds * 1000, signal, work);
  const before = sampleCpu();
  const { result: check, seconds, cpuSeconds } = await pass(file.path, undefined, signal, work);
  const after = sampleCpu();
  check();
  const figures: PassFigures = {
    seconds,
    cpuSeconds,
    entriesPerSecond: file.entries / seconds,
    mbPerSecond: file.bytes / MB / seconds,
    othersShare: othersShare(before, after, [process.pid]),
  };
  log(
    `  pair ${pair} ${side === 'baseline' ? 'sha256 per line' : 'verifyBundle'}: ${seconds.toFixed(2)} s, ${figures.entriesPerSecond.toFixed(0)} entries/s, ` +
      `${figures.mbPerSecond.toFixed(1)} MB/s, CPU ${cpuSeconds.toFixed(2)} s, other CPU ${share(figures.othersShare)}`,
  );
  return figures;
}

async function filePairs(context: BenchContext, file: BundleFile, pinnedKey: string): Promise<FilePair[]> {
  const pairs: FilePair[] = [];
  for (let pair = 1; pair <= context.options.pairs; pair += 1) {
    const baseline = await measurePass(context, file, 'baseline', pinnedKey, pair);
    const scenario = await measurePass(context, file, 'scenario', pinnedKey, pair);
    pairs.push({ pair, baseline, scenario, ratio: scenario.entriesPerSecond / baseline.entriesPerSecond });
  }
  return pairs;
}

/** SHA-256 of the whole file as one byte stream (no lines): the raw hashing rate, for context. */
async function hashWholeFile(file: BundleFile, signal: AbortSignal): Promise<number> {
  const whole = createHash('sha256');
  const started = process.hrtime.bigint();
  const stream = createReadStream(file.path, { highWaterMark: 1 << 20 });
  const stop = (): void => {
    stream.destroy();
  };
  signal.addEventListener('abort', stop, { once: true });
  try {
    for await (const chunk of stream) whole.update(chunk as Buffer);
  } finally {
    signal.removeEventListener('abort', stop);
  }
  signal.throwIfAborted();
  whole.digest();
  return file.bytes / MB / elapsedSeconds(started);
}

interface Breakdown {
  entries: number;
  /** µs per entry of each stage of verifyBundle's per-entry work: the exact bytes' path, then the full parse's. */
  split: number;
  exactLeaf: number;
  parse: number;
  schema: number;
  canonical: number;
  leaf: number;
  tree: number;
  receipt: number;
  lineSha: number;
}

/** Times each stage of the verifier's per-entry work over the first entries of a bundle, once, in memory. */
async function breakdown(file: BundleFile, pinnedKey: string, signal: AbortSignal): Promise<Breakdown> {
  const parsedKey = parseVerifierKey(pinnedKey);
  if (!parsedKey.ok) throw new Error(parsedKey.reason);
  const { result: raw } = await pass(file.path, undefined, signal, async (lines) => {
    const kept: Buffer[] = [];
    for await (const line of lines) {
      if (kept.length > BREAKDOWN_ENTRIES) break;
      kept.push(Buffer.from(line));
    }
    return kept.slice(1 + file.checkpoints);
  });
  const n = raw.length;
  // Entry by entry, as the verifier goes, each stage lapped with the clock; a
  // first round warms up and is not counted.
  const totals = { split: 0, exactLeaf: 0, parse: 0, schema: 0, canonical: 0, leaf: 0, tree: 0, receipt: 0, lineSha: 0 };
  let sink = 0;
  for (let round = 0; round < 2; round += 1) {
    const range = new CompactRange();
    for (const line of raw) {
      let at = process.hrtime.bigint();
      const lap = (): number => {
        const now = process.hrtime.bigint();
        const ns = Number(now - at);
        at = now;
        return ns;
      };
      const parts = splitEntryLine(line);
      if (parts === undefined) throw new Error('an entry line not in the export\'s layout');
      const split = lap();
      const exact = leafHashInPlace(line, parts.eventStart, line.length - 1);
      const exactLeaf = lap();
      const json = JSON.parse(line.toString('utf8')) as unknown;
      const parse = lap();
      const entry = bundleEntry.parse(json);
      const schema = lap();
      sink += canonicalJson(entry.event).length;
      const canonical = lap();
      const leaf = leafHashBytes(entry.event);
      const leafNs = lap();
      if (!exact.equals(leaf)) throw new Error(`entry ${entry.index}: its bytes and its parsed event hash differently`);
      range.append(leaf);
      if (range.size % CHECKPOINT_EVERY === 0) sink += range.root()[0] ?? 0;
      const tree = lap();
      if (entry.receipt === null || !verifyReceipt(parsedKey.value, entry.index, leaf, entry.receipt)) throw new Error(`the receipt of entry ${entry.index} does not verify`);
      const receipt = lap();
      sink ^= hash('sha256', line, 'buffer')[0] ?? 0;
      const lineSha = lap();
      if (round === 1) {
        totals.split += split;
        totals.exactLeaf += exactLeaf;
        totals.parse += parse;
        totals.schema += schema;
        totals.canonical += canonical;
        totals.leaf += leafNs;
        totals.tree += tree;
        totals.receipt += receipt;
        totals.lineSha += lineSha;
      }
    }
  }
  if (sink === Number.MIN_SAFE_INTEGER) throw new Error('unreachable');
  const us = (ns: number): number => ns / 1e3 / n;
  return {
    entries: n,
    split: us(totals.split),
    exactLeaf: us(totals.exactLeaf),
    parse: us(totals.parse),
    schema: us(totals.schema),
    canonical: us(totals.canonical),
    leaf: us(totals.leaf),
    tree: us(totals.tree),
    receipt: us(totals.receipt),
    lineSha: us(totals.lineSha),
  };
}

interface VerifyResults {
  bundles: GeneratedBundles;
  main: FilePair[];
  receipts: FilePair[];
  rawMbPerSecond: number;
  /** The earlier baseline (readline), once per bundle, for comparison with earlier runs. */
  readline: { main: number; receipts: number };
  stages: Breakdown;
}

async function runVerifyPart(context: BenchContext, auditOptions: AuditOptions): Promise<VerifyResults> {
  const { signal, log } = context;
  const dir = await mkdtemp(path.join(tmpdir(), 'hubbench-audit-'));
  try {
    const key = benchLogKey();
    const pinnedKey = verifierKeyOf(key);
    log(`audit: writing a bundle of ${auditOptions.BENCH_AUDIT_ENTRIES} entries (a receipt each, signed in passes of ${auditOptions.BENCH_AUDIT_PASS}; a checkpoint every ${CHECKPOINT_EVERY}) to ${dir}; not timed`);
    const bundles = await writeBenchBundles({
      dir,
      entries: auditOptions.BENCH_AUDIT_ENTRIES,
      receiptEntries: auditOptions.BENCH_AUDIT_RECEIPT_ENTRIES,
      checkpointEvery: CHECKPOINT_EVERY,
      pass: auditOptions.BENCH_AUDIT_PASS,
      key,
      seed: EVENT_SEED,
      start: START,
      signal,
      log,
    });
    log(`audit: generated in ${bundles.seconds.toFixed(1)} s: ${(bundles.main.bytes / MB).toFixed(0)} MB (${bundles.main.checkpoints} checkpoints), and ${(bundles.receipts.bytes / MB).toFixed(0)} MB without checkpoints`);
    log(`audit: ${context.options.pairs} pairs over the ${bundles.main.entries}-entry bundle (baseline: SHA-256 per line; scenario: verifyBundle)`);
    const main = await filePairs(context, bundles.main, pinnedKey);
    log(`audit: ${context.options.pairs} pairs over the ${bundles.receipts.entries}-entry bundle with no checkpoint (every receipt checked)`);
    const receipts = await filePairs(context, bundles.receipts, pinnedKey);
    log('audit: raw SHA-256 of a whole file, and the per-entry stages, once');
    const rawMbPerSecond = await hashWholeFile(bundles.receipts, signal);
    const readline = { main: await hashLinesReadline(bundles.main, signal), receipts: await hashLinesReadline(bundles.receipts, signal) };
    const stages = await breakdown(bundles.receipts, pinnedKey, signal);
    return { bundles, main, receipts, rawMbPerSecond, readline, stages };
  } finally {
    await rm(dir, { recursive: true, force: true });
    log(`audit: removed ${dir}`);
  }
}

function benchLogKey(): LogKey {
  return logKeyFromJwk('bench.eastside.example/audit-log', generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' }));
}

function ratioSummary(ratios: readonly number[]): string {
  return `median ${median(ratios).toFixed(3)} (min–max ${Math.min(...ratios).toFixed(3)}–${Math.max(...ratios).toFixed(3)}, ${ratios.length} pairs)`;
}

function flaggedLine(flagged: readonly number[]): string {
  return flagged.length === 0
    ? `other processes' CPU ≤ ${OTHERS_FLAG * 100} % in every run`
    : `! other processes' CPU > ${OTHERS_FLAG * 100} % in pair(s) ${flagged.join(', ')}: treat those ratios with care`;
}

function filePairLines(pairs: readonly FilePair[], readline: number): string[] {
  const flagged = pairs.filter((p) => [p.baseline.othersShare, p.scenario.othersShare].some((v) => v !== undefined && v > OTHERS_FLAG)).map((p) => p.pair);
  const cpuRatio = (p: FilePair): number => p.baseline.cpuSeconds / p.scenario.cpuSeconds;
  const verifyRate = median(pairs.map((p) => p.scenario.entriesPerSecond));
  return [
    ...table(
      ['pair', 'sha256 s', 'CPU s', 'entries/s', 'MB/s', 'other CPU', 'verify s', 'CPU s', 'entries/s', 'MB/s', 'other CPU', 'ratio', 'CPU ratio'],
      pairs.map((p) => [
        String(p.pair),
        p.baseline.seconds.toFixed(2),
        p.baseline.cpuSeconds.toFixed(2),
        p.baseline.entriesPerSecond.toFixed(0),
        p.baseline.mbPerSecond.toFixed(1),
        share(p.baseline.othersShare),
        p.scenario.seconds.toFixed(2),
        p.scenario.cpuSeconds.toFixed(2),
        p.scenario.entriesPerSecond.toFixed(0),
        p.scenario.mbPerSecond.toFixed(1),
        share(p.scenario.othersShare),
        p.ratio.toFixed(3),
        cpuRatio(p).toFixed(3),
      ]),
    ),
    '',
    `median: verify ${verifyRate.toFixed(0)} entries/s, sha256 per line ${median(pairs.map((p) => p.baseline.entriesPerSecond)).toFixed(0)} entries/s`,
    `ratio = verify ÷ sha256 entries/s (wall time): ${ratioSummary(pairs.map((p) => p.ratio))}`,
    `CPU ratio = sha256 ÷ verify CPU seconds of this process, all threads (per core used): ${ratioSummary(pairs.map(cpuRatio))}`,
    `  against the earlier baseline (SHA-256 per line over readline's strings, ${readline.toFixed(0)} entries/s, once): ${(verifyRate / readline).toFixed(3)}`,
    `  i.e. hashing the same bytes is ${(1 / median(pairs.map((p) => p.ratio))).toFixed(1)}× as fast as verifying them`,
    flaggedLine(flagged),
  ];
}

function verifyReport(results: VerifyResults, context: BenchContext): string[] {
  const { bundles, stages } = results;
  const { main, receipts } = bundles;
  const ev = bundles.eventBytes;
  const slowest = Math.max(...results.main.map((p) => p.scenario.seconds));
  const us = (v: number): string => v.toFixed(1);
  return [
    '',
    `audit part 1: offline verification of a ${main.entries}-entry bundle (hub audit verify --bundle) against SHA-256 of the same bytes`,
    `  bundle: ${(main.bytes / MB).toFixed(0)} MB of JSON Lines: a header, ${main.checkpoints} Ed25519-signed checkpoints (every ${CHECKPOINT_EVERY} entries), ${main.entries} entries each with its leaf hash and receipt (signed in sequencing passes of ${bundles.pass}: one Ed25519 signature per run of up to 64); ` +
      `events: disclosure decisions built with decisionAuditEvent (1–3 patients, 1–4 records, a Consent, a protocol flow, 3 agents), ${ev.min}–${ev.max} bytes of canonical JSON (mean ${ev.mean.toFixed(0)}); ` +
      `generated in ${bundles.seconds.toFixed(0)} s (not timed) in ${tmpdir()}, deleted afterwards`,
    `  scenario: verifyBundle over bundleLines (the file's lines as bytes, 4 MB reads), key pinned, as auditVerifyBundle runs it: per entry the export's layout taken apart (splitEntryLine), SHA-256 leaf over the event's canonical bytes as they stand, ` +
      `compared with the stored leaf hash (else the full parse: JSON.parse, zod, RFC 8785 canonical JSON), compact-range append; the root compared at each checkpoint after its signature is checked`,
    `  baseline: the same bundleLines over the same file, SHA-256 of each line (each entry's own bytes, hashed once); entries/s = ${main.entries} entries ÷ the pass's time (header and checkpoint lines included on both sides); both sides on one thread unless said`,
    `  runs: ${context.options.pairs} pairs of whole passes (baseline first), each after ${context.options.warmupSeconds} s of a pass cut short; the file is in the page cache after generation; other CPU = other processes' share of the machine`,
    ...(slowest > 30 ? [`  note: a full verify pass took up to ${slowest.toFixed(0)} s (> 30 s); ${context.options.pairs} pairs were still run`] : []),
    '',
    ...filePairLines(results.main, results.readline.main),
    `raw SHA-256 of a bundle as one byte stream (no lines; the ${receipts.entries}-entry file), once: ${results.rawMbPerSecond.toFixed(0)} MB/s (${((results.rawMbPerSecond * MB) / (main.bytes / main.entries)).toFixed(0)} entries/s)`,
    `per entry, over ${stages.entries} entries in memory, entry by entry (a second round, once): the exact bytes' path: layout ${us(stages.split)} µs, leaf hash of the event's bytes ${us(stages.exactLeaf)} µs; ` +
      `the full parse (a line in another layout): JSON.parse ${us(stages.parse)} µs, zod ${us(stages.schema)} µs, ` +
      `leaf hash ${us(stages.leaf)} µs (canonical JSON alone ${us(stages.canonical)} µs, then SHA-256), tree ${us(stages.tree)} µs: ` +
      `${us(stages.parse + stages.schema + stages.leaf + stages.tree)} µs of verifying; a receipt check ${us(stages.receipt)} µs (its run's Ed25519 signature checked once per run); SHA-256 of the line ${us(stages.lineSha)} µs`,
    '',
    `audit part 1b: every receipt checked (a bundle of the first ${receipts.entries} entries with no checkpoint: the path that names a changed entry)`,
    `  bundle: ${(receipts.bytes / MB).toFixed(0)} MB; scenario and baseline as above (verifyBundle checks all ${receipts.entries} receipts in finish())`,
    '',
    ...filePairLines(results.receipts, results.readline.receipts),
  ];
}

// ---------------------------------------------------------------- part 2: what the log adds per disclosure

interface LogTarget {
  label: string;
  database: Database;
  /** With the log key: a receipt per entry. */
  key: LogKey | undefined;
  /** The Merkle tree and checkpoints (the scenario only). */
  service: AuditLogService | undefined;
  next: () => StoredAuditEvent;
  txSize: () => number;
  checkpoint(): Promise<void>;
  pids(): Promise<number[]>;
}

interface LogRun {
  events: number;
  transactions: number;
  appendSeconds: number;
  sequenceSeconds: number;
  receipts: number;
  checkpoints: number;
  othersShare: number | undefined;
}

interface LogPair {
  pair: number;
  baseline: LogRun;
  scenario: LogRun;
}

const clock = (): Date => new Date();

async function appendEvents(target: LogTarget, count: number, signal: AbortSignal): Promise<number> {
  let remaining = count;
  let transactions = 0;
  await Promise.all(
    Array.from({ length: APPENDERS }, async () => {
      while (remaining > 0) {
        signal.throwIfAborted();
        const size = Math.min(remaining, target.txSize());
        remaining -= size;
        const events = Array.from({ length: size }, () => target.next());
        await inTransaction(target.database.db, async (tx) => {
          for (const event of events) await appendAuditEvent(tx, event);
        });
        transactions += 1;
      }
    }),
  );
  return transactions;
}

/** Sequences the queue as the hub's AuditSequencer does, with or without the verifiable log. */
async function sequenceAll(target: LogTarget, signal: AbortSignal): Promise<number> {
  let total = 0;
  for (;;) {
    signal.throwIfAborted();
    const n = await sequenceAuditEvents(target.database.db, clock, target.key, SEQUENCE_BATCH);
    if (n === 0) return total;
    total += n;
    await target.service?.afterSequenced();
  }
}

async function logCounts(target: LogTarget): Promise<{ size: number; receipts: number; checkpoints: number }> {
  const rows = await rawRows<{ size: number; receipts: number; checkpoints: number }>(
    target.database.db,
    sql`select (select count(*)::int from audit_log) as size, (select count(receipt)::int from audit_log) as receipts, (select count(*)::int from audit_checkpoint) as checkpoints`,
  );
  const row = rows[0];
  if (row === undefined) throw new Error('no log counts');
  return row;
}

async function logRun(target: LogTarget, events: number, signal: AbortSignal): Promise<LogRun> {
  const before = await logCounts(target);
  const appendStarted = process.hrtime.bigint();
  const transactions = await withDeadline(appendEvents(target, events, signal), LOG_STEP_MS, `appending ${events} audit events`);
  const appendSeconds = elapsedSeconds(appendStarted);
  const cpuBefore = sampleCpu();
  const started = process.hrtime.bigint();
  const sequenced = await withDeadline(sequenceAll(target, signal), LOG_STEP_MS, `sequencing ${events} audit events`);
  const sequenceSeconds = elapsedSeconds(started);
  const cpuAfter = sampleCpu();
  const after = await logCounts(target);
  if (sequenced !== events || after.size - before.size !== events) throw new Error(`${target.label}: sequenced ${sequenced} of ${events} events (log grew by ${after.size - before.size})`);
  const receipts = after.receipts - before.receipts;
  if (receipts !== (target.key === undefined ? 0 : events)) throw new Error(`${target.label}: ${receipts} receipts for ${events} entries`);
  return {
    events,
    transactions,
    appendSeconds,
    sequenceSeconds,
    receipts,
    checkpoints: after.checkpoints - before.checkpoints,
    othersShare: othersShare(cpuBefore, cpuAfter, await target.pids()),
  };
}

async function measureLogSide(target: LogTarget, events: number, context: BenchContext, pair: number, side: 'baseline' | 'scenario'): Promise<LogRun> {
  const { signal, log, options } = context;
  if (options.warmupSeconds > 0) await logRun(target, LOG_WARMUP_EVENTS, signal);
  await target.checkpoint();
  const run = await logRun(target, events, signal);
  log(
    `  pair ${pair} ${side} (${target.label}): append ${perEntryUs(run.appendSeconds, run.events).toFixed(1)} µs/entry (${run.transactions} transactions), ` +
      `sequence ${perEntryUs(run.sequenceSeconds, run.events).toFixed(1)} µs/entry (${(run.events / run.sequenceSeconds).toFixed(0)} entries/s), ` +
      `${run.receipts} receipts, ${run.checkpoints} checkpoints, other CPU ${share(run.othersShare)}`,
  );
  return run;
}

function perEntryUs(seconds: number, entries: number): number {
  return (seconds * 1e6) / entries;
}

function newTarget(label: string, database: Database, key: LogKey | undefined, hooks: Pick<LogTarget, 'checkpoint' | 'pids'>): LogTarget {
  const txRandom = seededRandom(EVENT_SEED + 1);
  const service =
    key === undefined
      ? undefined
      : new AuditLogService({ db: database.db, key, clock, logger: pino({ level: 'silent' }), drain: () => drainAuditQueue(database.db, clock, key) });
  return {
    label,
    database,
    key,
    service,
    next: decisionEventSource(EVENT_SEED, START),
    txSize: () => 1 + Math.floor(txRandom() * 3),
    ...hooks,
  };
}

/** The two sides, each on a database of its own: PostgreSQL (the admin URL's server) or PGlite in this process. */
async function withLogTargets(context: BenchContext, engine: AuditOptions['BENCH_AUDIT_DATABASE'], body: (without: LogTarget, withLog: LogTarget, setting: string) => Promise<void>): Promise<void> {
  const key = benchLogKey();
  if (engine === 'postgres') {
    await withBenchDatabase(context, 'audit', async (first, cleanup) => {
      const second = await createBenchDatabase(context.options.adminUrl);
      cleanup.defer(`drop database ${second.name}`, async () => {
        await second.drop();
        context.log(`audit: dropped database ${second.name}`);
      });
      context.log(`audit: database ${second.name}`);
      const open = async (url: string, label: string, sideKey: LogKey | undefined): Promise<{ target: LogTarget; control: pg.Client }> => {
        const database = await openDatabase({ kind: 'postgres', url, poolSize: APPENDERS });
        cleanup.defer(`close ${label} pool`, () => database.close());
        await database.migrate();
        const control = new pg.Client({ connectionString: url, application_name: 'hubbench-control', statement_timeout: 300_000 });
        await control.connect();
        cleanup.defer(`close ${label} control connection`, () => control.end());
        const target = newTarget(label, database, sideKey, {
          checkpoint: async () => {
            await control.query('checkpoint');
          },
          pids: () => benchPids(control, context.options.adminUrl, [first.name, second.name]),
        });
        return { target, control };
      };
      const without = await open(first.url, 'hash chain only', undefined);
      const withLog = await open(second.url, 'verifiable log', key);
      const settings = await without.control.query<{ version: string; sync: string; fsync: string }>(
        `select current_setting('server_version') as version, current_setting('synchronous_commit') as sync, current_setting('fsync') as fsync`,
      );
      const s = settings.rows[0];
      if (s?.sync !== 'on') throw new Error(`synchronous_commit is ${s?.sync ?? '?'}; BENCH.md requires on`);
      await body(without.target, withLog.target, `PostgreSQL ${s.version} on ${redact(context.options.adminUrl)} (databases ${first.name}, ${second.name}), synchronous_commit=${s.sync}, fsync=${s.fsync}; pools of ${APPENDERS}`);
    });
    return;
  }
  const cleanup = new Cleanup(context.log);
  let failed: Error | undefined;
  try {
    const dir = await mkdtemp(path.join(tmpdir(), 'hubbench-audit-pglite-'));
    cleanup.defer(`remove ${dir}`, () => rm(dir, { recursive: true, force: true }));
    const open = async (name: string, label: string, sideKey: LogKey | undefined): Promise<LogTarget> => {
      const database = await openDatabase({ kind: 'pglite', dataDir: path.join(dir, name) });
      cleanup.defer(`close ${label} PGlite`, () => database.close());
      await database.migrate();
      return newTarget(label, database, sideKey, {
        checkpoint: async () => {
          await database.db.execute(sql`checkpoint`);
        },
        pids: () => Promise.resolve([process.pid]),
      });
    };
    const without = await open('without', 'hash chain only', undefined);
    const withLog = await open('with', 'verifiable log', key);
    const version = await rawRows<{ version: string }>(without.database.db, sql`select current_setting('server_version') as version`);
    await body(without, withLog, `PGlite (PostgreSQL ${version[0]?.version ?? '?'}) in this process, data directories in ${dir}, removed afterwards (PGlite runs with fsync off: not durable)`);
  } catch (err) {
    failed = err instanceof Error ? err : new Error(String(err));
  } finally {
    const cleaned = await cleanup.runAll();
    if (failed === undefined && !cleaned) failed = new Error('cleanup failed (see above)');
  }
  if (failed !== undefined) throw failed;
}

/** This process, the backends serving the bench databases, the background processes and the postmaster (a local server only). */
async function benchPids(control: pg.Client, adminUrl: string, databases: readonly string[]): Promise<number[]> {
  return [process.pid, ...(await postgresPids(control, adminUrl, databases))];
}

interface LogResults {
  setting: string;
  events: number;
  pairs: LogPair[];
}

async function runLogPart(context: BenchContext, auditOptions: AuditOptions): Promise<LogResults> {
  const events = auditOptions.BENCH_AUDIT_LOG_EVENTS;
  let results: LogResults | undefined;
  await withLogTargets(context, auditOptions.BENCH_AUDIT_DATABASE, async (without, withLog, setting) => {
    context.log(`audit: ${context.options.pairs} pairs of ${events} events appended then sequenced (baseline: ${without.label}; scenario: ${withLog.label})`);
    const pairs: LogPair[] = [];
    for (let pair = 1; pair <= context.options.pairs; pair += 1) {
      const baseline = await measureLogSide(without, events, context, pair, 'baseline');
      const scenario = await measureLogSide(withLog, events, context, pair, 'scenario');
      pairs.push({ pair, baseline, scenario });
    }
    results = { setting, events, pairs };
  });
  if (results === undefined) throw new Error('the log part produced no results');
  return results;
}

interface LogFigures {
  withoutUs: number;
  withUs: number;
  addedUs: number[];
  ratios: number[];
  wholeRatios: number[];
  appendUs: number;
}

function logFigures(pairs: readonly LogPair[]): LogFigures {
  const seqUs = (r: LogRun): number => perEntryUs(r.sequenceSeconds, r.events);
  return {
    withoutUs: median(pairs.map((p) => seqUs(p.baseline))),
    withUs: median(pairs.map((p) => seqUs(p.scenario))),
    addedUs: pairs.map((p) => seqUs(p.scenario) - seqUs(p.baseline)),
    ratios: pairs.map((p) => p.baseline.sequenceSeconds / p.scenario.sequenceSeconds),
    wholeRatios: pairs.map((p) => (p.baseline.appendSeconds + p.baseline.sequenceSeconds) / (p.scenario.appendSeconds + p.scenario.sequenceSeconds)),
    appendUs: median(pairs.flatMap((p) => [perEntryUs(p.baseline.appendSeconds, p.baseline.events), perEntryUs(p.scenario.appendSeconds, p.scenario.events)])),
  };
}

function logReport(results: LogResults, context: BenchContext): string[] {
  const { pairs, events } = results;
  const f = logFigures(pairs);
  const seqUs = (r: LogRun): string => perEntryUs(r.sequenceSeconds, r.events).toFixed(1);
  const added = median(f.addedUs);
  const flagged = pairs.filter((p) => [p.baseline.othersShare, p.scenario.othersShare].some((v) => v !== undefined && v > OTHERS_FLAG)).map((p) => p.pair);
  const txs = median(pairs.map((p) => p.baseline.transactions));
  return [
    '',
    'audit part 2: what the verifiable log adds to each audit entry (and disclosure), against the hash chain alone',
    `  database: ${results.setting}; one database per side, growing by the same entries`,
    `  per run: ${events} decision events (as in part 1) appended by ${APPENDERS} concurrent writers in transactions of 1–3 (appendAuditEvent; ${txs} transactions), then sequenced in batches of ${SEQUENCE_BATCH}`,
    '  baseline: sequenceAuditEvents without a key: the gap-free index and the hash chain only (no receipts, no tree, no checkpoints)',
    `  scenario: sequenceAuditEvents with the log key (a receipt per entry, one Ed25519 signature per run of up to 64) and AuditLogService.afterSequenced after each batch (Merkle tree caught up from the log, a checkpoint signed every ${CHECKPOINT_EVERY} entries)`,
    `  runs: ${context.options.pairs} pairs (baseline first), each after ${context.options.warmupSeconds > 0 ? `${LOG_WARMUP_EVENTS} warm-up events` : 'no warm-up'} and a CHECKPOINT; ` +
      `µs/entry = the phase's wall time ÷ entries; other CPU measured over the sequencing phase`,
    '',
    ...table(
      ['pair', 'append µs', 'chain-only seq µs', 'entries/s', 'other CPU', 'append µs', 'log seq µs', 'entries/s', 'receipts', 'checkpoints', 'other CPU', 'added µs', 'ratio'],
      pairs.map((p) => [
        String(p.pair),
        perEntryUs(p.baseline.appendSeconds, p.baseline.events).toFixed(1),
        seqUs(p.baseline),
        (p.baseline.events / p.baseline.sequenceSeconds).toFixed(0),
        share(p.baseline.othersShare),
        perEntryUs(p.scenario.appendSeconds, p.scenario.events).toFixed(1),
        seqUs(p.scenario),
        (p.scenario.events / p.scenario.sequenceSeconds).toFixed(0),
        String(p.scenario.receipts),
        String(p.scenario.checkpoints),
        share(p.scenario.othersShare),
        (perEntryUs(p.scenario.sequenceSeconds, p.scenario.events) - perEntryUs(p.baseline.sequenceSeconds, p.baseline.events)).toFixed(1),
        (p.baseline.sequenceSeconds / p.scenario.sequenceSeconds).toFixed(3),
      ]),
    ),
    '',
    `sequencing: chain only ${f.withoutUs.toFixed(1)} µs/entry, with the verifiable log ${f.withUs.toFixed(1)} µs/entry (medians)`,
    `ratio = with ÷ without sequencing throughput: ${ratioSummary(f.ratios)}`,
    `  append + sequence together: ${ratioSummary(f.wholeRatios)}`,
    `added by the verifiable log: ${added.toFixed(1)} µs per entry (median of per-pair differences, min–max ${Math.min(...f.addedUs).toFixed(1)}–${Math.max(...f.addedUs).toFixed(1)}); ` +
      `${(added * ENTRIES_PER_DISCLOSURE).toFixed(1)} µs per disclosure read (${ENTRIES_PER_DISCLOSURE} entries: its AuthZ-Consent decision and its REST read event)`,
    `  against appending those ${ENTRIES_PER_DISCLOSURE} entries in this run (${(f.appendUs * ENTRIES_PER_DISCLOSURE).toFixed(1)} µs of wall time with ${APPENDERS} writers): +${((100 * added) / f.appendUs).toFixed(1)} %; ` +
      `sequencing runs in the background after the commit, so a request does not wait for it`,
    flaggedLine(flagged),
  ];
}

// ---------------------------------------------------------------- the benchmark

export async function benchAudit(context: BenchContext): Promise<void> {
  const { out, log } = context;
  const parsed = auditEnvSchema.safeParse(process.env);
  if (!parsed.success) throw new Error(`invalid environment: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  const auditOptions = parsed.data;
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  out(`audit: the verifiable audit log's costs; node ${process.version} on ${process.platform}/${process.arch}, ${availableParallelism()} vCPU (${cpu}), started ${new Date().toISOString()}`);

  const verify = auditOptions.BENCH_AUDIT_PARTS === 'log' ? undefined : await runVerifyPart(context, auditOptions);
  if (verify !== undefined) for (const line of verifyReport(verify, context)) out(line);
  const logged = auditOptions.BENCH_AUDIT_PARTS === 'verify' ? undefined : await runLogPart(context, auditOptions);
  if (logged !== undefined) for (const line of logReport(logged, context)) out(line);

  const summary: string[] = [];
  if (verify !== undefined) {
    const v = verify.main;
    summary.push(
      `verify ${verify.bundles.main.entries} entries at ${median(v.map((p) => p.scenario.entriesPerSecond)).toFixed(0)} entries/s = ${median(v.map((p) => p.ratio)).toFixed(3)}× SHA-256 per line ` +
        `(${Math.min(...v.map((p) => p.ratio)).toFixed(3)}–${Math.max(...v.map((p) => p.ratio)).toFixed(3)})`,
      `every receipt checked ${median(verify.receipts.map((p) => p.scenario.entriesPerSecond)).toFixed(0)} entries/s = ${median(verify.receipts.map((p) => p.ratio)).toFixed(3)}×`,
    );
  }
  if (logged !== undefined) {
    const f = logFigures(logged.pairs);
    summary.push(
      `the log adds ${median(f.addedUs).toFixed(1)} µs/entry, ${(median(f.addedUs) * ENTRIES_PER_DISCLOSURE).toFixed(1)} µs/disclosure, sequencing ${median(f.ratios).toFixed(3)}× (${auditOptions.BENCH_AUDIT_DATABASE})`,
    );
  }
  out('');
  out(`audit summary: ${summary.join('; ')}`);
  log('audit: done');
}

export const auditBenchmark: Benchmark = {
  summary:
    'offline verification of a 1M-entry audit bundle against SHA-256 of its bytes; what receipts and checkpoints add to sequencing, per entry and per disclosure ' +
    '(BENCH_AUDIT_ENTRIES, BENCH_AUDIT_DATABASE=postgres|pglite, BENCH_AUDIT_PARTS=all|verify|log)',
  // Generating 1M entries (a canonical JSON, a SHA-256 and an Ed25519 signature
  // each) takes minutes on a busy 2-vCPU machine; then two databases.
  setupSeconds: 1_800,
  // The 1M bundle, the receipts bundle, the sequencing runs.
  series: 3,
  // A pass is the whole file, not BENCH_SECONDS: minutes for 1M entries.
  runSlackSeconds: 600,
  run: benchAudit,
};

if (isEntryPoint(import.meta.url)) await runAlone('audit', auditBenchmark);
