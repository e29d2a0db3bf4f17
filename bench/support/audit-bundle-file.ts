import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { finished, pipeline } from 'node:stream/promises';
import { BUNDLE_TYPE } from '../../src/audit/bundle.js';
import { canonicalJson } from '../../src/audit/canonical-json.js';
import { CompactRange } from '../../src/audit/merkle-tree.js';
import { signCheckpoint, signReceipts, verifierKeyOf, type LogKey } from '../../src/audit/signed-note.js';
import { decisionEventSource } from './audit-events.js';
import { elapsedSeconds } from './time.js';

// Writes audit bundles (src/audit/bundle.ts) of synthetic decision events as
// `hub audit export` writes them (src/cli/audit-bundle.ts): a header line,
// the signed checkpoints, then one line per entry with its index, stored
// leaf hash, receipt and event. The log is built here as the hub builds it:
// each entry's leaf hash over its event's RFC 8785 canonical JSON, a receipt
// signed with the log key per entry, an RFC 6962 tree with a checkpoint
// signed every `checkpointEvery` entries (the hub's default policy).
//
// Each event is written as its canonical JSON, as the export writes it (the
// verifier hashes those bytes as they stand). Checkpoint lines come before the entries but are known only once
// the entries are, so the entries go to a scratch file first and are copied
// after the header and checkpoints.

export interface BundleFile {
  path: string;
  bytes: number;
  entries: number;
  checkpoints: number;
}

export interface GeneratedBundles {
  /** Every entry, a checkpoint every checkpointEvery. */
  main: BundleFile;
  /** The first `receiptEntries` entries with no checkpoint: every receipt is checked. */
  receipts: BundleFile;
  /** Entries per sequencing pass the receipts were signed in. */
  pass: number;
  /** UTF-8 bytes of the events' canonical JSON. */
  eventBytes: { min: number; mean: number; max: number };
  seconds: number;
}

export interface BundlePlan {
  dir: string;
  entries: number;
  receiptEntries: number;
  checkpointEvery: number;
  /** Entries per sequencing pass: the sequencer signs each pass's receipts in runs of up to 64. */
  pass: number;
  key: LogKey;
  seed: number;
  start: Date;
  signal: AbortSignal;
  log: (line: string) => void;
}

const CHUNK_CHARS = 4 << 20;
const ZERO = Uint8Array.of(0);

function headerLine(key: LogKey, to: number, exported: Date): string {
  const header = { type: BUNDLE_TYPE, version: 1, origin: key.name, verifierKey: verifierKeyOf(key), from: 0, to, exported: exported.toISOString(), frontier: [] };
  return `${JSON.stringify(header)}\n`;
}

/** Buffers lines and writes them in large chunks, honouring back-pressure. */
class ChunkWriter {
  private chunk = '';

  constructor(readonly stream: WriteStream) {}

  async add(line: string): Promise<void> {
    this.chunk += line;
    if (this.chunk.length >= CHUNK_CHARS) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.chunk === '') return;
    const ok = this.stream.write(this.chunk);
    this.chunk = '';
    if (!ok) await once(this.stream, 'drain');
  }

  async close(): Promise<void> {
    await this.flush();
    this.stream.end();
    await finished(this.stream);
  }
}

export async function writeBenchBundles(plan: BundlePlan): Promise<GeneratedBundles> {
  const started = process.hrtime.bigint();
  const next = decisionEventSource(plan.seed, plan.start);
  const scratchPath = path.join(plan.dir, 'entries.scratch');
  const mainPath = path.join(plan.dir, 'bundle-checkpoints.jsonl');
  const receiptsPath = path.join(plan.dir, 'bundle-receipts.jsonl');
  const scratch = new ChunkWriter(createWriteStream(scratchPath));
  const receipts = new ChunkWriter(createWriteStream(receiptsPath));
  const receiptEntries = Math.min(plan.receiptEntries, plan.entries);
  await receipts.add(headerLine(plan.key, receiptEntries, plan.start));

  const range = new CompactRange();
  const checkpoints: string[] = [];
  const sizes = { min: Number.POSITIVE_INFINITY, sum: 0, max: 0 };
  let lastRecorded = plan.start;
  // One pass's entries, written once their receipts are signed.
  let pass: { index: number; leaf: Buffer; canonical: string }[] = [];
  const writePass = async (): Promise<void> => {
    const signed = signReceipts(plan.key, pass[0]?.index ?? 0, pass.map((e) => e.leaf));
    for (const [at, { index, leaf, canonical }] of pass.entries()) {
      const line = `{"type":"entry","index":${index},"leafHash":"${leaf.toString('hex')}","receipt":"${signed[at] ?? ''}","event":${canonical}}\n`;
      await scratch.add(line);
      if (index < receiptEntries) await receipts.add(line);
    }
    pass = [];
  };
  for (let index = 0; index < plan.entries; index += 1) {
    if (index % 10_000 === 0) {
      plan.signal.throwIfAborted();
      if (index % 100_000 === 0 && index > 0) plan.log(`  generated ${index} entries (${elapsedSeconds(started).toFixed(0)} s)`);
    }
    const event = next();
    const canonical = canonicalJson(event);
    // leafHashBytes (src/audit/log-hash.ts) over the canonical text made once here; the verifier recomputes it from the event.
    const leaf = createHash('sha256').update(ZERO).update(canonical, 'utf8').digest();
    pass.push({ index, leaf, canonical });
    if (pass.length === plan.pass) await writePass();
    range.append(leaf);
    lastRecorded = new Date(event.recorded);
    if (range.size % plan.checkpointEvery === 0) {
      // Signed a moment after the entry that completed it, as the sequencer's afterPass does.
      const time = new Date(lastRecorded.getTime() + 1_000);
      checkpoints.push(signCheckpoint({ origin: plan.key.name, treeSize: range.size, rootHash: range.root(), time }, plan.key));
    }
    const bytes = Buffer.byteLength(canonical, 'utf8');
    sizes.min = Math.min(sizes.min, bytes);
    sizes.max = Math.max(sizes.max, bytes);
    sizes.sum += bytes;
  }
  if (pass.length > 0) await writePass();
  await scratch.close();
  await receipts.close();

  plan.log(`  writing the bundle: header, ${checkpoints.length} checkpoints, then the ${plan.entries} entries`);
  const main = new ChunkWriter(createWriteStream(mainPath));
  await main.add(headerLine(plan.key, plan.entries, new Date(lastRecorded.getTime() + 60_000)));
  for (const note of checkpoints) await main.add(`${JSON.stringify({ type: 'checkpoint', note })}\n`);
  await main.close();
  await pipeline(createReadStream(scratchPath), createWriteStream(mainPath, { flags: 'a' }));
  await rm(scratchPath);

  return {
    main: { path: mainPath, bytes: (await stat(mainPath)).size, entries: plan.entries, checkpoints: checkpoints.length },
    receipts: { path: receiptsPath, bytes: (await stat(receiptsPath)).size, entries: receiptEntries, checkpoints: 0 },
    pass: plan.pass,
    eventBytes: { min: sizes.min, mean: sizes.sum / plan.entries, max: sizes.max },
    seconds: elapsedSeconds(started),
  };
}
