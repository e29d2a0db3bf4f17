import { auditPath, consistencyPath, HASH_SIZE, isPowerOfTwo, nodeHash, rootOf, type RangeHasher } from './merkle.js';

// The log's Merkle tree as C2SP tlog-tiles: the hashes of each level of tiles,
// cut into tiles of 256. A level-0 tile holds 256 leaf hashes; a level-L tile
// holds the roots of 256 full level-(L-1) tiles, so tile n of level L spans
// the entries [n * 256^(L+1), (n + 1) * 256^(L+1)). Every node of the RFC 9162
// tree is the MTH of 2^r consecutive hashes of one tile (node height 8L + r),
// so any root or proof is a few tiles away.
// See: https://c2sp.org/tlog-tiles and https://www.rfc-editor.org/rfc/rfc9162#section-2.1

/** Hashes per full tile. */
export const TILE_WIDTH = 256;
/** Tree levels per tile level (256 = 2^8). */
export const TILE_HEIGHT = 8;
/** Bytes of a full tile. */
export const TILE_BYTES = TILE_WIDTH * HASH_SIZE;
/** The spec's highest tile level. */
export const MAX_TILE_LEVEL = 63;

/** A tile of the tree: level, index within the level, and how many of its hashes (1..256). */
export interface TileRef {
  level: number;
  index: number;
  width: number;
}

/** 256^level as a safe integer (sizes stay below 2^53). */
export function tileSpan(level: number): number {
  return TILE_WIDTH ** level;
}

/** How many full tiles level `level` has in a tree of `size` entries. */
export function fullTiles(size: number, level: number): number {
  return Math.floor(size / tileSpan(level + 1));
}

/** The width of the partial tile at `level` for a tree of `size` entries (0: none). */
export function partialWidth(size: number, level: number): number {
  return Math.floor(size / tileSpan(level)) % TILE_WIDTH;
}

/** `tile/<L>/<N>[.p/<W>]`: N in 3-digit elements, all but the last prefixed with x. */
export function tilePath(tile: TileRef): string {
  return `tile/${tile.level}/${encodeIndex(tile.index)}${tile.width === TILE_WIDTH ? '' : `.p/${tile.width}`}`;
}

export function encodeIndex(index: number): string {
  const groups: string[] = [];
  let rest = index;
  do {
    groups.unshift(String(rest % 1000).padStart(3, '0'));
    rest = Math.floor(rest / 1000);
  } while (rest > 0);
  return groups.map((g, i) => (i < groups.length - 1 ? `x${g}` : g)).join('/');
}

/**
 * Reads the path elements after `tile/`: `<L>/<N...>[.p/<W>]`. Only the one
 * canonical spelling of each tile is accepted (no leading zeros in L or W, no
 * extra x000 elements), so one tile never has two URLs.
 */
export function parseTilePath(elements: readonly string[]): { ok: true; tile: TileRef } | { ok: false; reason: string } {
  const [levelText, ...rest] = elements;
  if (levelText === undefined || !/^(0|[1-9][0-9]?)$/.test(levelText) || Number(levelText) > MAX_TILE_LEVEL) {
    return { ok: false, reason: `the level must be a whole number from 0 to ${MAX_TILE_LEVEL}` };
  }
  let width = TILE_WIDTH;
  let groups = rest;
  const last = rest.at(-1);
  const beforeLast = rest.at(-2);
  if (beforeLast?.endsWith('.p') === true && last !== undefined) {
    if (!/^[1-9][0-9]{0,2}$/.test(last) || Number(last) >= TILE_WIDTH) return { ok: false, reason: 'a partial tile width is 1 to 255' };
    width = Number(last);
    groups = [...rest.slice(0, -2), beforeLast.slice(0, -2)];
  }
  if (groups.length === 0 || groups.length > 6) return { ok: false, reason: 'the tile index is missing or too long' };
  let index = 0;
  for (const [i, group] of groups.entries()) {
    const digits = i < groups.length - 1 ? /^x([0-9]{3})$/.exec(group)?.[1] : /^([0-9]{3})$/.exec(group)?.[1];
    if (digits === undefined) return { ok: false, reason: 'the tile index is 3-digit elements, all but the last starting with x' };
    index = index * 1000 + Number(digits);
  }
  if (!Number.isSafeInteger(index) || encodeIndex(index) !== groups.join('/')) return { ok: false, reason: 'the tile index is not in its canonical form' };
  return { ok: true, tile: { level: Number(levelText), index, width } };
}

/** The hash at `position` of a tile's bytes. */
export function hashAt(tile: Uint8Array, position: number): Uint8Array {
  if ((position + 1) * HASH_SIZE > tile.length) throw new RangeError(`a tile of ${tile.length / HASH_SIZE} hashes has none at ${position}`);
  return tile.subarray(position * HASH_SIZE, (position + 1) * HASH_SIZE);
}

/** MTH of a run of hashes taken as the leaf hashes of a subtree (a full tile's root, or a node inside a tile). */
export function hashesRoot(hashes: Uint8Array): Uint8Array {
  const count = hashes.length / HASH_SIZE;
  return rootOf(Array.from({ length: count }, (_, i) => hashAt(hashes, i)));
}

/** A full tile built from the hashes of its level: the bytes to store and the root it adds to the level above. */
export interface BuiltTile {
  level: number;
  index: number;
  hashes: Uint8Array;
  root: Uint8Array;
}

/**
 * The full tiles of one level that `hashes` completes, where `hashes` are the
 * level's hashes from position `start` on, and `start` is a multiple of 256
 * (the caller reads back the partial tile's hashes first). A trailing run of
 * fewer than 256 stays out: partial tiles are not stored.
 */
export function buildFullTiles(level: number, start: number, hashes: readonly Uint8Array[]): BuiltTile[] {
  if (start % TILE_WIDTH !== 0) throw new RangeError(`tiles start at a multiple of ${TILE_WIDTH}, not ${start}`);
  const built: BuiltTile[] = [];
  for (let at = 0; at + TILE_WIDTH <= hashes.length; at += TILE_WIDTH) {
    const bytes = new Uint8Array(TILE_BYTES);
    const run = hashes.slice(at, at + TILE_WIDTH);
    run.forEach((h, i) => {
      if (h.length !== HASH_SIZE) throw new RangeError('a tile hash is 32 bytes');
      bytes.set(h, i * HASH_SIZE);
    });
    built.push({ level, index: (start + at) / TILE_WIDTH, hashes: bytes, root: rootOf(run) });
  }
  return built;
}

/** A complete subtree of the tree: 2^height entries, the index-th such run. */
interface Node {
  height: number;
  index: number;
}

/** Where a node's hashes lie: 2^r hashes of one tile of level floor(height / 8). */
function locate(node: Node): { tile: TileRef; offset: number; count: number } {
  const level = Math.floor(node.height / TILE_HEIGHT);
  const count = 2 ** (node.height % TILE_HEIGHT);
  const position = node.index * count;
  const offset = position % TILE_WIDTH;
  return { tile: { level, index: Math.floor(position / TILE_WIDTH), width: offset + count }, offset, count };
}

/**
 * MTH(D[start:end]) for the ranges RFC 9162's recursion asks for, as the
 * complete subtrees it splits into (section 2.1.1: k, the largest power of
 * two below n, goes left).
 */
function rangeNodes(start: number, end: number, out: Node[]): void {
  const n = end - start;
  if (isPowerOfTwo(n) && start % n === 0) {
    out.push({ height: Math.log2(n), index: start / n });
    return;
  }
  let k = 1;
  while (k * 2 < n) k *= 2;
  rangeNodes(start, start + k, out);
  rangeNodes(start + k, end, out);
}

function hashRangeFrom(node: (n: Node) => Uint8Array): RangeHasher {
  const hashRange = (start: number, end: number): Uint8Array => {
    const n = end - start;
    if (isPowerOfTwo(n) && start % n === 0) return node({ height: Math.log2(n), index: start / n });
    let k = 1;
    while (k * 2 < n) k *= 2;
    return nodeHash(hashRange(start, start + k), hashRange(start + k, end));
  };
  return hashRange;
}

/** A computation over a tree that reaches its hashes only through a range hasher (a root, a path, a proof). */
export type TreeQuery<T> = (hashRange: RangeHasher) => T;

/**
 * The tiles a query reads, each at the width it needs: the query runs once
 * over placeholder hashes to learn which ranges it asks for (the proof
 * builders' choice of ranges depends only on sizes and indexes, never on hash values).
 */
export function tilesNeeded(query: TreeQuery<unknown>): TileRef[] {
  const placeholder = new Uint8Array(HASH_SIZE);
  const needed = new Map<string, TileRef>();
  const record = (node: Node): Uint8Array => {
    const { tile } = locate(node);
    const key = `${tile.level}/${tile.index}`;
    const seen = needed.get(key);
    if (seen === undefined || seen.width < tile.width) needed.set(key, tile);
    return placeholder;
  };
  query(hashRangeFrom(record));
  return [...needed.values()];
}

/** Runs a query over tiles already read (keyed `level/index`, each holding at least the width tilesNeeded asked for). */
export function overTiles<T>(query: TreeQuery<T>, tiles: ReadonlyMap<string, Uint8Array>): T {
  return query(
    hashRangeFrom((node) => {
      const { tile, offset, count } = locate(node);
      const bytes = tiles.get(tileKey(tile));
      if (bytes === undefined || bytes.length < tile.width * HASH_SIZE) throw new Error(`tile ${tilePath(tile)} was not read`);
      const run = bytes.subarray(offset * HASH_SIZE, (offset + count) * HASH_SIZE);
      return count === 1 ? new Uint8Array(run) : hashesRoot(run);
    }),
  );
}

export function tileKey(tile: { level: number; index: number }): string {
  return `${tile.level}/${tile.index}`;
}

/** Queries a tree answers (the callers have checked the sizes, as merkle.ts's builders do). */
export const treeQueries = {
  root: (size: number): TreeQuery<Uint8Array> => (h) => h(0, size),
  leaf: (index: number): TreeQuery<Uint8Array> => (h) => h(index, index + 1),
  inclusion: (index: number, size: number): TreeQuery<Uint8Array[]> => (h) => auditPath(h, size, index),
  consistency: (from: number, to: number): TreeQuery<Uint8Array[]> => (h) => consistencyPath(h, from, to),
  /** The compact range of the first `size` entries: its complete subtrees, largest first. */
  frontier: (size: number): TreeQuery<Uint8Array[]> => (h) => {
    const nodes: Node[] = [];
    if (size > 0) rangeNodes(0, size, nodes);
    return nodes.map((n) => h(n.index * 2 ** n.height, (n.index + 1) * 2 ** n.height));
  },
};
