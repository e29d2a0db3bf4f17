import { RateLimiterMemory } from 'rate-limiter-flexible';
import { describe, expect, it } from 'vitest';
import { LeasedLimit } from '../../src/services/leased-limit.js';

// A limit counted a block of places at a time (leased-limit.ts), over the
// in-memory store of rate-limiter-flexible standing for the shared one: two
// LeasedLimit objects on one store are two hub instances on one database.

/** The store, counting the increments asked of it. */
function countingStore(points: number, windowSeconds: number): { store: RateLimiterMemory; calls: () => number } {
  const store = new RateLimiterMemory({ points, duration: windowSeconds });
  let calls = 0;
  const consume = store.consume.bind(store);
  store.consume = (key, pointsToConsume, options) => {
    calls += 1;
    return consume(key, pointsToConsume, options);
  };
  return { store, calls: () => calls };
}

describe('a leased limit', () => {
  it('counts a limit of 100 or less request by request, exactly as the store does', async () => {
    const { store, calls } = countingStore(100, 60);
    const limit = new LeasedLimit(store, 100);
    const places = [];
    for (let i = 0; i < 103; i += 1) places.push((await limit.place('client')).position);
    expect(places).toEqual(Array.from({ length: 103 }, (_, i) => i + 1));
    expect(calls()).toBe(103);
  });

  it('serves a high limit with far fewer store statements, each request still in its own place', async () => {
    const { store, calls } = countingStore(6000, 60);
    const limit = new LeasedLimit(store, 6000);
    const places = [];
    for (let i = 0; i < 1000; i += 1) places.push((await limit.place('client')).position);
    expect(places).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
    // Blocks of 1, 2, 4, 8, 16, 32, then 60 (a hundredth of the limit).
    expect(calls()).toBeLessThanOrEqual(7 + Math.ceil((1000 - 63) / 60));
    expect(calls()).toBeLessThan(30);
  });

  it('gives concurrent requests distinct places from one block rather than a block each', async () => {
    const { store, calls } = countingStore(6000, 60);
    const limit = new LeasedLimit(store, 6000);
    for (let i = 0; i < 7; i += 1) await limit.place('client'); // blocks of 1, 2 and 4, used up
    const before = calls();
    const places = await Promise.all(Array.from({ length: 50 }, () => limit.place('client')));
    expect(new Set(places.map((p) => p.position)).size).toBe(50);
    // Blocks of 8, 16 and 32 serve the 50: three statements, not one per request.
    expect(calls() - before).toBe(3);
  });

  it('shared by two instances, never lets more than the limit through, and refuses at the limit + 1 place exactly once', async () => {
    const points = 1000;
    const { store } = countingStore(points, 60);
    const instances = [new LeasedLimit(store, points), new LeasedLimit(store, points)];
    const places: number[] = [];
    // Interleaved bursts from both, concurrently within each burst.
    for (let round = 0; round < 60; round += 1) {
      const burst = await Promise.all(Array.from({ length: 20 }, (_, i) => (instances[i % 2] as LeasedLimit).place('client')));
      places.push(...burst.map((p) => p.position));
    }
    expect(new Set(places).size).toBe(places.length);
    const permitted = places.filter((p) => p <= points).length;
    expect(permitted).toBeLessThanOrEqual(points);
    // Early by at most one block of the other instance (a hundredth of the limit).
    expect(permitted).toBeGreaterThanOrEqual(points - 10);
    expect(places.filter((p) => p === points + 1)).toHaveLength(1);
  });

  it('starts again with the store when the window ends', async () => {
    const { store } = countingStore(200, 1);
    let now = Date.now();
    const limit = new LeasedLimit(store, 200, () => now);
    for (let i = 0; i < 250; i += 1) await limit.place('client');
    expect((await limit.place('client')).position).toBeGreaterThan(200);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    now = Date.now();
    expect((await limit.place('client')).position).toBe(1);
  });

  it('keeps keys apart', async () => {
    const { store } = countingStore(500, 60);
    const limit = new LeasedLimit(store, 500);
    for (let i = 0; i < 20; i += 1) await limit.place('a');
    expect((await limit.place('b')).position).toBe(1);
    expect((await limit.place('a')).position).toBe(21);
  });
});
