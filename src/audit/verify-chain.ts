import { auditLeafHash, chainHash, EMPTY_CHAIN } from './log-hash.js';

/** One row of the log as stored, joined with its event (null when the event row is gone). */
export interface LogRow {
  idx: number;
  leafHash: string;
  prevHash: string;
  chainHash: string;
  event: unknown;
}

export type ChainProblem =
  | 'index-gap'
  | 'event-missing'
  | 'event-changed'
  | 'hash-mismatch'
  | 'chain-broken';

export type ChainVerdict =
  | { ok: true; size: number; head: string }
  | { ok: false; index: number; problem: ChainProblem; detail: string };

/** Incremental verifier: feed rows in index order, ask for the verdict at the end. */
export class ChainVerifier {
  private expected = 0;
  private head = EMPTY_CHAIN;
  private failure: Extract<ChainVerdict, { ok: false }> | undefined;

  constructor(start?: { size: number; head: string }) {
    if (start !== undefined) {
      this.expected = start.size;
      this.head = start.head;
    }
  }

  /** Returns false once a fault is found; later rows are then ignored. */
  push(row: LogRow): boolean {
    if (this.failure !== undefined) return false;
    this.failure = this.check(row);
    if (this.failure !== undefined) return false;
    this.head = row.chainHash;
    this.expected += 1;
    return true;
  }

  verdict(): ChainVerdict {
    return this.failure ?? { ok: true, size: this.expected, head: this.head };
  }

  private check(row: LogRow): Extract<ChainVerdict, { ok: false }> | undefined {
    const index = this.expected;
    if (row.idx !== index) {
      return { ok: false, index, problem: 'index-gap', detail: `expected index ${index}, found ${row.idx}: a row was removed or inserted` };
    }
    if (row.event === null || row.event === undefined) {
      return { ok: false, index, problem: 'event-missing', detail: 'the audit event of this log entry is gone' };
    }
    if (auditLeafHash(row.event) !== row.leafHash) {
      return { ok: false, index, problem: 'event-changed', detail: 'the event no longer hashes to its leaf hash' };
    }
    if (row.prevHash !== this.head) {
      return { ok: false, index, problem: 'chain-broken', detail: 'prev does not match the previous entry: a row was inserted, removed or rewritten' };
    }
    if (chainHash(row.prevHash, row.leafHash) !== row.chainHash) {
      return { ok: false, index, problem: 'hash-mismatch', detail: 'the stored chain hash is not SHA-256(prev || leaf): a hash of this entry was rewritten' };
    }
    return undefined;
  }
}
