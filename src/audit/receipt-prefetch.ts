import { openRun, runSizeOf, sameRun, verifyReceipt, verifyReceiptAsync, verifyRunAsync, type LogVerifier, type ReceiptEntry } from './signed-note.js';
import type { ReceiptCheck } from './log-verifier.js';

// Receipts the verifier will check for certain, checked ahead on libuv's
// thread pool while the rest of the bundle is read. An Ed25519 check costs
// many times what reading and hashing an entry does, and the entries no
// checkpoint covers (those past the last one) have every receipt checked.
//
// Receipts signed in runs (signed-note.ts) arrive run by run. A whole run is
// read at once: its tree built from its leaves, each receipt compared with
// what the signer wrote for its entry, and its one signature checked. Receipts
// signed alone (logs sequenced before runs), and the receipts of a run that is
// cut by the bundle's stretch or fails, are checked one by one. The signature
// checks run on every core.
//
// The verifier still asks for each receipt in its order and names the first
// bad one; `check` answers from a result computed ahead only for the very
// same index, leaf and receipt, else checks on the spot.

/** Signature checks at once: enough to keep the pool's threads busy, few enough to bound what waits. */
const IN_FLIGHT = 64;

interface Ahead {
  leaf: Uint8Array;
  receipt: string;
  ok: boolean | undefined;
}

export class ReceiptPrefetch {
  private readonly ahead = new Map<number, Ahead>();
  private readonly queue: Promise<void>[] = [];
  /** Consecutive receipts of one run, waiting for the rest of it. */
  private run: ReceiptEntry[] = [];

  constructor(private readonly verifier: LogVerifier) {}

  /** Starts checking a receipt (with the rest of its run, once the run is whole); waits first while IN_FLIGHT are under way. */
  async start(index: number, leaf: Uint8Array, receipt: string): Promise<void> {
    const last = this.run.at(-1);
    if (last !== undefined && !(sameRun(last.receipt, receipt) && index === last.index + 1)) await this.flush();
    this.run.push({ index, leaf, receipt });
    if (this.run.length >= runSizeOf(this.run[0]?.receipt ?? '')) await this.flush();
  }

  /** Waits for every check under way. */
  async settle(): Promise<void> {
    await this.flush();
    await Promise.all(this.queue.splice(0));
  }

  readonly check: ReceiptCheck = (index, leaf, receipt) => {
    const entry = this.ahead.get(index);
    if (entry?.ok !== undefined && entry.leaf === leaf && entry.receipt === receipt) return entry.ok;
    return verifyReceipt(this.verifier, index, leaf, receipt);
  };

  /** Starts the checks of the receipts gathered: the run's one signature if they are a whole true run, else each alone. */
  private async flush(): Promise<void> {
    const entries = this.run;
    this.run = [];
    if (entries.length === 0) return;
    const opened = entries.length > 1 ? openRun(this.verifier, entries) : undefined;
    if (opened !== undefined) {
      await this.enqueue(entries, verifyRunAsync(this.verifier, opened));
      return;
    }
    for (const e of entries) await this.enqueue([e], verifyReceiptAsync(this.verifier, e.index, e.leaf, e.receipt));
  }

  private async enqueue(entries: readonly ReceiptEntry[], checking: Promise<boolean>): Promise<void> {
    if (this.queue.length >= IN_FLIGHT) await this.queue.shift();
    const ahead = entries.map((e): Ahead => ({ leaf: e.leaf, receipt: e.receipt, ok: undefined }));
    entries.forEach((e, k) => this.ahead.set(e.index, ahead[k] as Ahead));
    this.queue.push(
      checking.then((ok) => {
        for (const a of ahead) a.ok = ok;
      }),
    );
  }
}
