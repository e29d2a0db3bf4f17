import { verifyReceipt, verifyReceiptAsync, type LogVerifier } from './signed-note.js';
import type { ReceiptCheck } from './log-verifier.js';

// Receipts the verifier will check for certain, checked ahead on libuv's
// thread pool while the rest of the bundle is read. An Ed25519 check costs
// several times what reading and hashing an entry does, and the entries no
// checkpoint covers (those past the last one) have every receipt checked: on
// one thread that is the verifier's whole time. Here they run on every core.
//
// The verifier still asks for each receipt in its order and names the first
// bad one; `check` answers from a result computed ahead only for the very
// same index, leaf and receipt, else checks on the spot.

/** Receipts checked at once: enough to keep the pool's threads busy, few enough to bound what waits. */
const IN_FLIGHT = 64;

interface Ahead {
  leaf: Uint8Array;
  receipt: string;
  ok: boolean | undefined;
}

export class ReceiptPrefetch {
  private readonly ahead = new Map<number, Ahead>();
  private readonly queue: Promise<void>[] = [];

  constructor(private readonly verifier: LogVerifier) {}

  /** Starts checking a receipt; waits first while IN_FLIGHT are under way. */
  async start(index: number, leaf: Uint8Array, receipt: string): Promise<void> {
    if (this.queue.length >= IN_FLIGHT) await this.queue.shift();
    const entry: Ahead = { leaf, receipt, ok: undefined };
    this.ahead.set(index, entry);
    this.queue.push(
      verifyReceiptAsync(this.verifier, index, leaf, receipt).then((ok) => {
        entry.ok = ok;
      }),
    );
  }

  /** Waits for every check under way. */
  async settle(): Promise<void> {
    await Promise.all(this.queue.splice(0));
  }

  readonly check: ReceiptCheck = (index, leaf, receipt) => {
    const entry = this.ahead.get(index);
    if (entry?.ok !== undefined && entry.leaf === leaf && entry.receipt === receipt) return entry.ok;
    return verifyReceipt(this.verifier, index, leaf, receipt);
  };
}
