import { RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';

// A rate limit's count taken from the shared store a block of places at a
// time. Every request has a place in its key's window: the store's count
// after an atomic increment names the places the increment took, so no two
// requests anywhere share one, and the request at place `points + 1` is the
// first refused, exactly once across instances (the one audited). With a
// block of 1 that is the store's own count, request by request; a block of n
// serves the next n requests of this instance from memory, with one store
// statement (on PostgreSQL a round trip and a commit) instead of n.
//
// What a block costs: places an instance took and did not use before the
// window ended count as used, so when several instances share a client's
// traffic, a client can be refused up to (instances - 1) x block requests
// before its limit; never after it. Blocks start at 1 in each window and
// double, up to one hundredth of the limit (64 at most): a limit of 100 or
// less is always counted request by request.

/** A limit's place for one request, and when its window ends. */
export interface Place {
  /** 1 for the window's first request; above `points`, refused. */
  position: number;
  msBeforeNext: number;
}

interface Lease {
  /** The next place this instance gives out, and the last it holds. */
  next: number;
  last: number;
  /** When the store's window for the key ends (ms since the epoch). */
  endsAt: number;
  /** The size of the last block taken. */
  block: number;
}

const MAX_BLOCK = 64;
const MAX_KEYS = 10_000;

export class LeasedLimit {
  private readonly leases = new Map<string, Lease>();
  /** A block being taken per key: requests that find no place wait for it rather than take their own. */
  private readonly taking = new Map<string, Promise<void>>();
  private readonly maxBlock: number;

  constructor(
    private readonly store: RateLimiterAbstract,
    points: number,
    private readonly clock: () => number = Date.now,
  ) {
    this.maxBlock = Math.max(1, Math.min(MAX_BLOCK, Math.floor(points / 100)));
  }

  async place(key: string): Promise<Place> {
    for (;;) {
      const lease = this.leases.get(key);
      const now = this.clock();
      if (lease !== undefined && lease.endsAt > now && lease.next <= lease.last) {
        const position = lease.next;
        lease.next += 1;
        return { position, msBeforeNext: lease.endsAt - now };
      }
      const pending = this.taking.get(key);
      if (pending !== undefined) {
        await pending;
        continue;
      }
      const taken = this.take(key, lease !== undefined && lease.endsAt > now ? lease.block : 0).finally(() => {
        this.taking.delete(key);
      });
      this.taking.set(key, taken);
      await taken;
    }
  }

  /** Takes the next block from the store: double the last one in this window, or 1 in a new window. */
  private async take(key: string, lastBlock: number): Promise<void> {
    const block = Math.min(this.maxBlock, Math.max(1, lastBlock * 2));
    let res: RateLimiterRes;
    try {
      res = await this.store.consume(key, block);
    } catch (err) {
      // Over the limit the store still counts the block, and says where the count now stands.
      if (!(err instanceof RateLimiterRes)) throw err;
      res = err;
    }
    const endsAt = this.clock() + res.msBeforeNext;
    const first = res.consumedPoints - block + 1;
    this.leases.delete(key);
    this.leases.set(key, { next: first, last: res.consumedPoints, endsAt, block });
    if (this.leases.size > MAX_KEYS) {
      const oldest = this.leases.keys().next();
      if (oldest.done !== true) this.leases.delete(oldest.value);
    }
  }
}
