import { createHash } from 'node:crypto';
import { auditPath, consistencyPath, HASH_SIZE, isPowerOfTwo, nodeHash } from './merkle.js';

// Two growing forms of the RFC 9162 tree of merkle.ts:
//
// - MerkleTree keeps every complete subtree hash, level by level, in flat
//   buffers (about 64 bytes per leaf in all), and answers any root, inclusion
//   proof or consistency proof in O(log^2 n) hashes. The hub no longer holds
//   its log this way (it reads tiles, tiles.ts); the tests use it as the
//   oracle the tiles must agree with.
// - CompactRange keeps only the complete subtrees that make up the tree so far
//   (at most log2 n hashes): the offline verifier's state, which gives the
//   root after each appended leaf without holding the log in memory.

const EMPTY_ROOT = createHash('sha256').digest();

/** An append-only Merkle tree over leaf hashes that keeps its complete subtrees. */
export class MerkleTree {
  /** levels[k] holds the hashes of the complete subtrees of 2^k leaves, left to right. */
  private readonly levels: Uint8Array[] = [];
  private readonly counts: number[] = [];

  get size(): number {
    return this.counts[0] ?? 0;
  }

  append(leafHash: Uint8Array): void {
    if (leafHash.length !== HASH_SIZE) throw new RangeError(`a leaf hash is ${HASH_SIZE} bytes`);
    let node = leafHash;
    for (let level = 0; ; level += 1) {
      const index = this.put(level, node);
      if (index % 2 === 0) return;
      node = nodeHash(this.node(level, index - 1), node);
    }
  }

  /** MTH of the first `size` leaves (default: all). */
  root(size = this.size): Uint8Array {
    this.checkSize(size);
    return size === 0 ? new Uint8Array(EMPTY_ROOT) : this.rangeHash(0, size);
  }

  /** PATH(index, D[size]) of RFC 9162 section 2.1.3.1. */
  inclusionProof(index: number, size = this.size): Uint8Array[] {
    this.checkSize(size);
    if (!Number.isSafeInteger(index) || index < 0 || index >= size) throw new RangeError(`index ${index} is not a leaf of a tree of size ${size}`);
    return auditPath((a, b) => this.rangeHash(a, b), size, index);
  }

  /** PROOF(from, D[to]) of RFC 9162 section 2.1.4.1, for 1 <= from <= to <= size. */
  consistencyProof(fromSize: number, toSize = this.size): Uint8Array[] {
    this.checkSize(toSize);
    if (!Number.isSafeInteger(fromSize) || fromSize < 1 || fromSize > toSize) throw new RangeError(`sizes ${fromSize} -> ${toSize} are not 1 <= from <= to`);
    return consistencyPath((a, b) => this.rangeHash(a, b), fromSize, toSize);
  }

  /** The compact range of the first `size` leaves (for a bundle that starts at `size`). */
  frontier(size: number): Uint8Array[] {
    this.checkSize(size);
    const hashes: Uint8Array[] = [];
    let start = 0;
    for (const width of widthsOf(size)) {
      hashes.push(new Uint8Array(this.node(Math.log2(width), start / width)));
      start += width;
    }
    return hashes;
  }

  leaf(index: number): Uint8Array {
    if (!Number.isSafeInteger(index) || index < 0 || index >= this.size) throw new RangeError(`no leaf ${index}`);
    return this.node(0, index);
  }

  /**
   * MTH(D[start:end]) for a range the RFC's recursion asks for: start is a
   * multiple of the largest power of two below end - start (or the range is
   * one complete subtree). Complete aligned subtrees are looked up; the rest
   * splits as section 2.1.1 does.
   */
  private rangeHash(start: number, end: number): Uint8Array {
    const n = end - start;
    if (isPowerOfTwo(n) && start % n === 0) return this.node(Math.log2(n), start / n);
    let k = 1;
    while (k * 2 < n) k *= 2;
    return nodeHash(this.rangeHash(start, start + k), this.rangeHash(start + k, end));
  }

  private node(level: number, index: number): Uint8Array {
    const buffer = this.levels[level];
    if (buffer === undefined || index >= (this.counts[level] ?? 0)) throw new Error(`merkle tree: no node ${index} at level ${level}`);
    return buffer.subarray(index * HASH_SIZE, (index + 1) * HASH_SIZE);
  }

  /** Appends a node to a level, growing its buffer by doubling; returns its index. */
  private put(level: number, hash: Uint8Array): number {
    const count = this.counts[level] ?? 0;
    let buffer = this.levels[level] ?? new Uint8Array(HASH_SIZE * 64);
    if ((count + 1) * HASH_SIZE > buffer.length) {
      const grown = new Uint8Array(buffer.length * 2);
      grown.set(buffer);
      buffer = grown;
    }
    buffer.set(hash, count * HASH_SIZE);
    this.levels[level] = buffer;
    this.counts[level] = count + 1;
    return count;
  }

  private checkSize(size: number): void {
    if (!Number.isSafeInteger(size) || size < 0 || size > this.size) throw new RangeError(`tree size ${size} is not 0..${this.size}`);
  }
}

/**
 * The compact range [0, size): the roots of the complete subtrees that the
 * binary digits of size cut the first size leaves into, largest first. Enough
 * to append further leaves and to give the root at every size from here on.
 */
export class CompactRange {
  private readonly nodes: { width: number; hash: Uint8Array }[] = [];
  private count = 0;

  /** Starts from a frontier written by `frontier()` at `size`. */
  static from(size: number, frontier: readonly Uint8Array[]): CompactRange {
    const range = new CompactRange();
    const widths = widthsOf(size);
    if (widths.length !== frontier.length) throw new RangeError(`a compact range of size ${size} has ${widths.length} hashes, not ${frontier.length}`);
    widths.forEach((width, i) => {
      const hash = frontier[i];
      if (hash?.length !== HASH_SIZE) throw new RangeError('a frontier hash is 32 bytes');
      range.nodes.push({ width, hash });
    });
    range.count = size;
    return range;
  }

  get size(): number {
    return this.count;
  }

  append(leafHash: Uint8Array): void {
    let node = { width: 1, hash: leafHash };
    for (;;) {
      const last = this.nodes.at(-1);
      if (last?.width !== node.width) break;
      this.nodes.pop();
      node = { width: node.width * 2, hash: nodeHash(last.hash, node.hash) };
    }
    this.nodes.push(node);
    this.count += 1;
  }

  /** MTH of the leaves so far: the complete subtrees folded from the right. */
  root(): Uint8Array {
    const last = this.nodes.at(-1);
    if (last === undefined) return new Uint8Array(EMPTY_ROOT);
    let root = last.hash;
    for (let i = this.nodes.length - 2; i >= 0; i -= 1) root = nodeHash((this.nodes[i] as { hash: Uint8Array }).hash, root);
    return root;
  }

  frontier(): Uint8Array[] {
    return this.nodes.map((n) => n.hash);
  }
}

function widthsOf(size: number): number[] {
  const widths: number[] = [];
  let rest = size;
  let width = 1;
  while (width * 2 <= rest) width *= 2;
  for (; width >= 1; width /= 2) {
    if (rest >= width) {
      widths.push(width);
      rest -= width;
    }
  }
  return widths;
}
