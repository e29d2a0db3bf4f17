import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HASH_SIZE, verifyConsistency, verifyInclusion } from '../../src/audit/merkle.js';
import { MerkleTree } from '../../src/audit/merkle-tree.js';
import {
  buildFullTiles,
  encodeIndex,
  fullTiles,
  overTiles,
  parseTilePath,
  partialWidth,
  TILE_WIDTH,
  tileKey,
  tilePath,
  tilesNeeded,
  treeQueries,
  type TileRef,
  type TreeQuery,
} from '../../src/audit/tiles.js';

// The tiles give exactly what the in-memory tree (merkle-tree.ts, itself
// checked against merkle.ts's RFC 9162 functions) gives: roots, inclusion and
// consistency proofs, frontiers, for sizes around the tile boundaries
// (255/256/257, 65535/65536/65537) and at random.

/** Deterministic distinct leaf hashes, cheap to make: the index in the first bytes. */
function leafAt(i: number): Uint8Array {
  const b = new Uint8Array(HASH_SIZE);
  new DataView(b.buffer).setFloat64(0, i);
  b[31] = 0xa5;
  return b;
}

const MAX = 65_537 + 300;
const oracle = new MerkleTree();
for (let i = 0; i < MAX; i += 1) oracle.append(leafAt(i));

/**
 * The tile store of a log of `size` entries, as the database holds it: every
 * full tile (built as the sequencer builds them), and a reader that makes a
 * partial tile from the level's hashes, refusing a width the log has not reached.
 */
function storeOf(size: number): (refs: readonly TileRef[]) => Map<string, Uint8Array> {
  const levels: Uint8Array[][] = [];
  const full = new Map<string, Uint8Array>();
  let hashes = Array.from({ length: size }, (_, i) => leafAt(i));
  for (let level = 0; hashes.length > 0; level += 1) {
    levels.push(hashes);
    const tiles = buildFullTiles(level, 0, hashes);
    for (const t of tiles) full.set(tileKey(t), t.hashes);
    hashes = tiles.map((t) => t.root);
  }
  return (refs) => {
    const out = new Map<string, Uint8Array>();
    for (const ref of refs) {
      const got = full.get(tileKey(ref));
      if (got !== undefined) {
        out.set(tileKey(ref), got);
        continue;
      }
      const start = ref.index * TILE_WIDTH;
      const run = (levels[ref.level] ?? []).slice(start, start + ref.width);
      if (run.length < ref.width) throw new Error(`tile ${tilePath(ref)} is beyond a log of ${size}`);
      out.set(tileKey(ref), Buffer.concat(run));
    }
    return out;
  };
}

const stores = new Map<number, ReturnType<typeof storeOf>>();

function ask<T>(size: number, query: TreeQuery<T>): T {
  let store = stores.get(size);
  if (store === undefined) stores.set(size, (store = storeOf(size)));
  return overTiles(query, store(tilesNeeded(query)));
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const hexes = (list: readonly Uint8Array[]): string[] => list.map(hex);
const BOUNDARY_SIZES = [1, 2, 3, 255, 256, 257, 511, 512, 513, 65_535, 65_536, 65_537, MAX];

describe('tile paths (tlog-tiles index encoding)', () => {
  it.each([
    [{ level: 0, index: 0, width: 256 }, 'tile/0/000'],
    [{ level: 1, index: 1_234_067, width: 256 }, 'tile/1/x001/x234/067'],
    [{ level: 0, index: 1000, width: 17 }, 'tile/0/x001/000.p/17'],
    [{ level: 2, index: 5, width: 1 }, 'tile/2/005.p/1'],
  ])('%o is %s, and reads back', (tile, path) => {
    expect(tilePath(tile)).toBe(path);
    expect(parseTilePath(path.split('/').slice(1))).toEqual({ ok: true, tile });
  });

  it.each([['00', '000'], ['64', '000'], ['0', 'x000', '001'], ['0', '1'], ['0', '000.p', '256'], ['0', '000.p', '0'], ['0', '000.p', '07'], ['0', 'x001'], ['0']])(
    'refuses the non-canonical or malformed %j',
    (...elements) => {
      expect(parseTilePath(elements).ok).toBe(false);
    },
  );

  it('round-trips any index', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), fc.integer({ min: 0, max: 63 }), fc.integer({ min: 1, max: 256 }), (index, level, width) => {
        const tile = { level, index, width };
        expect(parseTilePath(tilePath(tile).split('/').slice(1))).toEqual({ ok: true, tile });
        expect(encodeIndex(index).split('/').every((g, i, all) => (i < all.length - 1 ? /^x\d{3}$/ : /^\d{3}$/).test(g))).toBe(true);
      }),
    );
  });

  it("counts a tree's tiles as the spec's example does (size 70,000)", () => {
    expect([fullTiles(70_000, 0), partialWidth(70_000, 0)]).toEqual([273, 112]);
    expect([fullTiles(70_000, 1), partialWidth(70_000, 1)]).toEqual([1, 17]);
    expect([fullTiles(70_000, 2), partialWidth(70_000, 2)]).toEqual([0, 1]);
    expect([fullTiles(256, 0), partialWidth(256, 0), partialWidth(256, 1)]).toEqual([1, 0, 1]);
  });
});

describe('the tree read from tiles equals the in-memory tree', () => {
  it.each(BOUNDARY_SIZES)('size %i: root, frontier, first/last/middle inclusion, consistency from a few sizes', (size) => {
    expect(hex(ask(size, treeQueries.root(size)))).toBe(hex(oracle.root(size)));
    expect(hexes(ask(size, treeQueries.frontier(size)))).toEqual(hexes(oracle.frontier(size)));
    for (const index of new Set([0, size >> 1, size - 1, Math.max(0, size - 256)])) {
      expect(hexes(ask(size, treeQueries.inclusion(index, size))), `index ${index}`).toEqual(hexes(oracle.inclusionProof(index, size)));
      expect(hex(ask(size, treeQueries.leaf(index)))).toBe(hex(leafAt(index)));
    }
    for (const from of new Set([1, 255, 256, 257, size - 1, size].filter((f) => f >= 1 && f <= size))) {
      expect(hexes(ask(size, treeQueries.consistency(from, size))), `from ${from}`).toEqual(hexes(oracle.consistencyProof(from, size)));
    }
  });

  it('at random sizes, indexes and earlier sizes; and the proofs verify', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.integer({ min: 1, max: 1024 }), fc.integer({ min: 1, max: MAX })),
        fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }),
        fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }),
        (size, a, b) => {
          const index = Math.floor(a * size);
          const from = 1 + Math.floor(b * size);
          const root = oracle.root(size);
          const path = ask(size, treeQueries.inclusion(index, size));
          expect(hexes(path)).toEqual(hexes(oracle.inclusionProof(index, size)));
          expect(verifyInclusion(leafAt(index), index, size, path, root)).toBe(true);
          const proof = ask(size, treeQueries.consistency(from, size));
          expect(hexes(proof)).toEqual(hexes(oracle.consistencyProof(from, size)));
          expect(verifyConsistency(from, size, oracle.root(from), root, proof)).toBe(true);
        },
      ),
      { numRuns: 25 },
    );
  });

  it('reads only a few tiles per question, and none beyond the tree asked about', () => {
    const size = MAX;
    const needed = tilesNeeded(treeQueries.inclusion(12_345, size));
    expect(needed.length).toBeLessThanOrEqual(6);
    for (const t of needed) expect((t.index * TILE_WIDTH + t.width) * TILE_WIDTH ** t.level).toBeLessThanOrEqual(size);
    // A tree of 65,537 entries asks the partial level-2 tile (one hash), not the leaves.
    expect(tilesNeeded(treeQueries.root(65_537)).map(tilePath).sort()).toEqual(['tile/0/256.p/1', 'tile/2/000.p/1']);
  });
});
