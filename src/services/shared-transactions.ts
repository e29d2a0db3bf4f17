import type { Tx } from '../db/database.js';

// Reads that arrive while others are running share one transaction, as a
// database's group commit shares one WAL flush: each request's record is still
// read, decided and audited in a transaction that commits its AuditEvents or
// does not answer, but the transaction's BEGIN, COMMIT and audit insert, and
// the socket writes and wake-ups that carry them, are paid once per batch and
// not once per request. On this kind of machine those, more than any
// statement's own work, were the cost of a read.
//
// A request never waits for a batch to fill: when a slot is free its work
// starts at once, alone if nothing else is waiting. Only work that queues while
// every slot is busy is gathered, and it goes out together when a slot frees.
//
// Writes share the same way (AuditRecorder.sharedWrite), each naming the
// identity it locks first (lockIdentity's key). Two works of one identity never
// share a batch: the lock is the transaction's, so it would not keep them
// apart. A batch runs its works in the order of their keys, so each takes its
// lock in that order, as every other writer takes several (ingest-service.ts),
// and two batches never wait on each other's locks.
//
// One request's failure is not another's. When any work of a batch fails, the
// batch's transaction rolls back (none of its reads answers and none of its
// AuditEvents is kept) and each work runs again alone, so each answers, or
// fails, as it would have without the batch.

/** How many batches run at once, and the most work one batch takes. */
export interface BatchLimits {
  slots: number;
  max: number;
}

/** Two batches at once: one is read and decided by the hub while the other is with the database. */
export const DEFAULT_BATCH_LIMITS: BatchLimits = { slots: 2, max: 32 };

/** Runs work in a transaction of its own, audited (AuditRecorder.transaction over the hub's database). */
export type RunAlone = <T>(work: (tx: Tx) => Promise<T>) => Promise<T>;

interface Waiting {
  work: (tx: Tx) => Promise<unknown>;
  /** The identity the work locks first, if any: no two works of one batch name the same. */
  key: string | undefined;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

/** Raised inside a shared transaction when one of its works failed: the transaction rolls back. */
class WorkFailed extends Error {}

export class SharedTransactions {
  private readonly waiting: Waiting[] = [];
  private running = 0;

  constructor(
    private readonly alone: RunAlone,
    private readonly limits: BatchLimits = DEFAULT_BATCH_LIMITS,
  ) {
    if (!(limits.slots >= 1 && limits.max >= 1)) throw new Error('a batch needs at least one slot and one work');
  }

  /** Work waiting for a slot. */
  get queued(): number {
    return this.waiting.length;
  }

  /**
   * The work's result, from a transaction it may share with other work that
   * came while it waited. `key`: the identity the work locks first, if any.
   */
  run<T>(work: (tx: Tx) => Promise<T>, key?: string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.waiting.push({ work, key, resolve: resolve as (value: unknown) => void, reject });
      this.start();
    });
  }

  private start(): void {
    while (this.running < this.limits.slots && this.waiting.length > 0) {
      const batch = this.nextBatch();
      this.running += 1;
      void this.runBatch(batch).finally(() => {
        this.running -= 1;
        this.start();
      });
    }
  }

  /**
   * The waiting work in order of arrival, up to `max`, but for work whose key
   * one already taken names: that waits for a later batch, still first in
   * line. The batch runs in the order of the keys (work without one first).
   */
  private nextBatch(): Waiting[] {
    const taken: Waiting[] = [];
    const left: Waiting[] = [];
    const keys = new Set<string>();
    for (const w of this.waiting) {
      if (taken.length < this.limits.max && (w.key === undefined || !keys.has(w.key))) {
        taken.push(w);
        if (w.key !== undefined) keys.add(w.key);
      } else {
        left.push(w);
      }
    }
    this.waiting.splice(0, this.waiting.length, ...left);
    return taken.sort(byKey);
  }

  private async runBatch(batch: readonly Waiting[]): Promise<void> {
    const [only] = batch;
    if (only !== undefined && batch.length === 1) {
      await this.alone(only.work).then(only.resolve, only.reject);
      return;
    }
    const values = await this.alone(async (tx) => {
      const settled = await Promise.allSettled(batch.map((w) => w.work(tx)));
      if (settled.some((s) => s.status === 'rejected')) throw new WorkFailed('a work of a shared transaction failed');
      return settled.map((s) => (s.status === 'fulfilled' ? s.value : undefined));
    }).catch(() => undefined);
    if (values !== undefined) {
      batch.forEach((w, i) => {
        w.resolve(values[i]);
      });
      return;
    }
    // Each again, alone: a work that failed only because another aborted the transaction answers, and the one at fault fails with its own error.
    await Promise.all(batch.map((w) => this.alone(w.work).then(w.resolve, w.reject)));
  }
}

/** Work without a key first, then in the order of the keys (a stable sort keeps arrival order among equals). */
function byKey(a: Waiting, b: Waiting): number {
  if (a.key === b.key) return 0;
  if (a.key === undefined) return -1;
  if (b.key === undefined) return 1;
  return a.key < b.key ? -1 : 1;
}
