import { leafHashBytes } from './log-hash.js';
import { CompactRange } from './merkle-tree.js';
import { openCheckpoint, verifyReceipt, type Checkpoint, type LogVerifier } from './signed-note.js';

// Verifies a stretch of the audit log against the hub's signed checkpoints,
// needing nothing but the entries, the checkpoints and the public key: the
// same code checks a bundle offline (`hub audit verify --bundle`) and the live
// database (`POST /audit/verify`).
//
// Fast path: recompute every leaf hash from its event's canonical JSON, fold
// them into the tree, and compare the root at each checkpoint's size. Only
// when a root disagrees are the per-entry receipts of that stretch checked,
// to name the exact entry; entries past the last checkpoint have only their
// receipts, so those are always checked.

export type LogProblem =
  | 'bad-checkpoint' // a checkpoint's signature or format fails
  | 'fork' // two signed checkpoints of one size with different roots
  | 'index-gap' // an index missing or out of order
  | 'event-changed' // an event no longer hashes to its stored leaf hash
  | 'receipt-mismatch' // the entry at this index is not the one the hub sequenced there
  | 'root-mismatch' // the entries do not make the signed root (no receipt says which)
  | 'truncated' // the log ends before a signed checkpoint's size
  | 'unverifiable'; // the saved checkpoint lies before the bundle's start

export interface LogFinding {
  problem: LogProblem;
  /** The first bad index (for a fork or a truncation: the first index the signed tree and the log disagree on, or are missing). */
  index?: number | undefined;
  treeSize?: number | undefined;
  detail: string;
}

export interface LogVerdict {
  ok: boolean;
  /** Entries read and the log size reached. */
  entries: number;
  treeSize: number;
  checkpointsChecked: number;
  /** The largest checkpoint the log was found to match. */
  latest?: { treeSize: number; time: string } | undefined;
  finding?: LogFinding | undefined;
  warnings: string[];
}

export interface LogEntryInput {
  index: number;
  /** Not read when `leaf` is given. */
  event: unknown;
  /**
   * The leaf hash already computed over the event's exact canonical bytes
   * (a bundle line whose event bytes hashed to its stored leaf hash): it goes
   * into the tree and is checked against the roots and receipts like any.
   */
  leaf?: Uint8Array | undefined;
  /** The leaf hash stored beside the event (hex), when the source has one. */
  leafHash?: string | null | undefined;
  receipt?: string | null | undefined;
}

/** Checks one entry's receipt. By default on the spot; a caller may have checked some ahead (bundle.ts, on the thread pool). */
export type ReceiptCheck = (index: number, leaf: Uint8Array, receipt: string) => boolean;

interface Pending {
  index: number;
  leaf: Uint8Array;
  receipt: string | null | undefined;
}

export class AuditLogVerifier {
  private readonly range: CompactRange;
  private readonly checkpoints = new Map<number, Checkpoint>();
  private readonly pending: Pending[] = [];
  private finding: LogFinding | undefined;
  private entries = 0;
  private checked = 0;
  private latest: Checkpoint | undefined;
  private lastMatched: number;
  private unsignedEntries = 0;
  readonly warnings: string[] = [];
  private readonly checkReceipt: ReceiptCheck;

  constructor(
    private readonly verifier: LogVerifier,
    start: { size: number; frontier: readonly Uint8Array[] } = { size: 0, frontier: [] },
    options: { checkReceipt?: ReceiptCheck | undefined } = {},
  ) {
    this.range = CompactRange.from(start.size, start.frontier);
    this.lastMatched = start.size;
    this.checkReceipt = options.checkReceipt ?? ((index, leaf, receipt) => verifyReceipt(this.verifier, index, leaf, receipt));
  }

  get failed(): boolean {
    return this.finding !== undefined;
  }

  /** One past the last entry a checkpoint covers: the receipts of the entries from here on are all checked by finish(). */
  get checkpointedSize(): number {
    let size = this.lastMatched;
    for (const n of this.checkpoints.keys()) if (n > size) size = n;
    return size;
  }

  /** Adds a signed checkpoint the entries must match (call before the entries). */
  addCheckpoint(note: string, label = 'a checkpoint'): boolean {
    if (this.finding !== undefined) return false;
    const opened = openCheckpoint(note, this.verifier);
    if (!opened.ok) {
      this.finding = { problem: 'bad-checkpoint', detail: `${label} is not validly signed by ${this.verifier.name}: ${opened.reason}` };
      return false;
    }
    const cp = opened.value;
    const same = this.checkpoints.get(cp.treeSize);
    if (same !== undefined && !equal(same.rootHash, cp.rootHash)) {
      this.finding = {
        problem: 'fork',
        treeSize: cp.treeSize,
        detail: `${label} and another checkpoint are signed for tree size ${cp.treeSize} with different roots (${b64(same.rootHash)} signed ${same.time.toISOString()}, ${b64(cp.rootHash)} signed ${cp.time.toISOString()}): the log was rewritten and re-signed, so the first ${cp.treeSize} entries are in doubt`,
      };
      return false;
    }
    if (cp.treeSize < this.range.size) {
      this.warnings.push(`${label} (size ${cp.treeSize}) lies before this stretch of the log and cannot be checked here`);
      return true;
    }
    this.checkpoints.set(cp.treeSize, cp);
    if (cp.treeSize === this.range.size && this.entries === 0) this.compareRoot(cp);
    return this.finding === undefined;
  }

  /**
   * The checkpoint the reader saved when she last looked (call before the
   * entries): the log must have grown from it, and match it where it was.
   */
  addSaved(note: string): boolean {
    if (this.finding !== undefined) return false;
    const opened = openCheckpoint(note, this.verifier);
    if (opened.ok && opened.value.treeSize < this.range.size) {
      this.finding = {
        problem: 'unverifiable',
        treeSize: opened.value.treeSize,
        detail: `the saved checkpoint (tree size ${opened.value.treeSize}) lies before this bundle, which starts at index ${this.range.size}: export from ${opened.value.treeSize} or earlier`,
      };
      return false;
    }
    return this.addCheckpoint(note, 'the saved checkpoint');
  }

  /** Feeds the next entry, in index order. Returns false once a problem is found. */
  push(entry: LogEntryInput): boolean {
    if (this.finding !== undefined) return false;
    const expected = this.range.size;
    if (entry.index !== expected) {
      this.finding = { problem: 'index-gap', index: expected, detail: `expected index ${expected}, found ${entry.index}: an entry was removed, inserted or moved` };
      return false;
    }
    if (entry.leaf === undefined && (entry.event === null || entry.event === undefined)) {
      this.finding = { problem: 'event-changed', index: expected, detail: 'the audit event of this entry is gone' };
      return false;
    }
    const leaf = entry.leaf ?? hashedEvent(entry.event);
    if (leaf instanceof TypeError) {
      // No event the hub logged fails canonical JSON (a number JSON cannot carry, such as 1e999, or a lone surrogate).
      this.finding = { problem: 'event-changed', index: expected, detail: `the event cannot be hashed (${leaf.message}): the event was edited` };
      return false;
    }
    if (entry.leafHash !== undefined && entry.leafHash !== null && entry.leafHash !== Buffer.from(leaf).toString('hex')) {
      this.finding = { problem: 'event-changed', index: expected, detail: 'the event no longer hashes to the leaf hash stored beside it: the event was edited' };
      return false;
    }
    if (entry.receipt === undefined || entry.receipt === null) this.unsignedEntries += 1;
    this.range.append(leaf);
    this.pending.push({ index: expected, leaf, receipt: entry.receipt });
    this.entries += 1;
    const cp = this.checkpoints.get(this.range.size);
    if (cp !== undefined) this.compareRoot(cp);
    return this.finding === undefined;
  }

  /**
   * The verdict, after a last look: checkpoints beyond the end (truncation,
   * the saved checkpoint's included) and the receipts of entries no
   * checkpoint covers.
   */
  finish(): LogVerdict {
    const size = this.range.size;
    if (this.finding === undefined) {
      const beyond = [...this.checkpoints.values()].filter((c) => c.treeSize > size).sort((a, b) => a.treeSize - b.treeSize)[0];
      if (beyond !== undefined) {
        this.finding = { problem: 'truncated', index: size, treeSize: beyond.treeSize, detail: `a checkpoint was signed at tree size ${beyond.treeSize} but the log ends at ${size}: entries from index ${size} are missing` };
      }
    }
    if (this.finding === undefined && this.pending.length > 0) {
      const bad = this.firstBadReceipt();
      if (bad !== undefined) this.finding = bad;
      else if (this.pending.some((p) => p.receipt === undefined || p.receipt === null)) {
        this.warnings.push(`entries ${this.lastMatched}..${size - 1} are covered by no checkpoint and some have no receipt`);
      }
    }
    if (this.unsignedEntries > 0) this.warnings.push(`${this.unsignedEntries} entries carry no receipt (sequenced before receipts existed)`);
    return {
      ok: this.finding === undefined,
      entries: this.entries,
      treeSize: size,
      checkpointsChecked: this.checked,
      latest: this.latest === undefined ? undefined : { treeSize: this.latest.treeSize, time: this.latest.time.toISOString() },
      finding: this.finding,
      warnings: this.warnings,
    };
  }

  private compareRoot(cp: Checkpoint): void {
    const root = this.range.root();
    if (equal(root, cp.rootHash)) {
      this.checked += 1;
      this.latest = cp;
      this.lastMatched = cp.treeSize;
      this.pending.length = 0;
      return;
    }
    const bad = this.firstBadReceipt();
    this.finding = bad ?? {
      problem: 'root-mismatch',
      index: this.lastMatched,
      treeSize: cp.treeSize,
      detail: `the entries do not make the root signed at tree size ${cp.treeSize}: an entry from index ${this.lastMatched} to ${cp.treeSize - 1} was changed, added or removed (no receipt names which)`,
    };
  }

  /** The first pending entry whose receipt fails: it is not what the hub sequenced at that index. */
  private firstBadReceipt(): LogFinding | undefined {
    for (const p of this.pending) {
      if (p.receipt === undefined || p.receipt === null) continue;
      if (!this.checkReceipt(p.index, p.leaf, p.receipt)) {
        return {
          problem: 'receipt-mismatch',
          index: p.index,
          detail: `the entry at index ${p.index} is not the one the hub signed for that place: it was edited, moved, or stands where a removed entry stood`,
        };
      }
    }
    return undefined;
  }
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

function b64(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64');
}

/** The leaf hash of a parsed event, or the reason it has none: an event with a value canonical JSON refuses. */
function hashedEvent(event: unknown): Uint8Array | TypeError {
  try {
    return leafHashBytes(event);
  } catch (err) {
    if (err instanceof TypeError && err.message.startsWith('RFC 8785:')) return err;
    throw err;
  }
}
