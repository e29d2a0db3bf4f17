import { createHash, hash } from 'node:crypto';

/**
 * The Merkle Tree Hash of RFC 9162 section 2.1 (RFC 6962 section 2.1 as
 * revised), its audit paths and its consistency proofs, over the 32-byte leaf
 * hashes that log-hash.ts makes (SHA-256(0x00 || entry), section 2.1.1).
 * See: https://www.rfc-editor.org/rfc/rfc9162#section-2.1
 *
 * The builders take the log's leaf hashes and throw a RangeError on arguments
 * outside the tree (a caller's bug). The verifiers take what a stranger sent
 * and answer false, never throw, whatever it is.
 */

/** Size of a SHA-256 value, and so of every leaf hash, node hash and proof element. */
export const HASH_SIZE = 32;

/** RFC 9162 section 2.1.1 interior node: SHA-256(0x01 || left || right). */
export function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  if (left.length !== HASH_SIZE || right.length !== HASH_SIZE) return createHash('sha256').update(NODE_PREFIX).update(left).update(right).digest();
  // The usual case, once per appended leaf: one-shot over a reused buffer, half the cost of a Hash object.
  NODE_INPUT.set(left, 1);
  NODE_INPUT.set(right, 1 + HASH_SIZE);
  return hash('sha256', NODE_INPUT, 'buffer');
}

const NODE_INPUT = Buffer.alloc(1 + 2 * HASH_SIZE, 0x01);

/**
 * MTH(D[n]) of RFC 9162 section 2.1.1. The empty tree hashes to SHA-256 of
 * the empty string; one leaf is its own leaf hash.
 */
export function rootOf(leafHashes: readonly Uint8Array[]): Uint8Array {
  assertLeafHashes(leafHashes, leafHashes.length);
  return treeHash(leafHashes);
}

/**
 * Audit path PATH(m, D[n]) of RFC 9162 section 2.1.3.1 for the leaf at
 * `index` in the tree of all `leafHashes`: the sibling subtree hashes from the
 * leaf up to the root, nearest first.
 */
export function inclusionProof(leafHashes: readonly Uint8Array[], index: number): Uint8Array[] {
  const size = leafHashes.length;
  if (!Number.isSafeInteger(index) || index < 0 || index >= size) {
    throw new RangeError(`inclusion proof: index ${index} is not a leaf of a tree of size ${size}`);
  }
  assertLeafHashes(leafHashes, size);
  return auditPath(arrayRange(leafHashes), size, index);
}

/**
 * MTH of the leaves [start, end) of some tree: how the proof builders reach
 * subtree hashes, whether from an array of leaf hashes or a tree that keeps
 * its complete subtrees (merkle-tree.ts).
 */
export type RangeHasher = (start: number, end: number) => Uint8Array;

/** PATH(index, D[size]) over any range hasher; the caller has checked 0 <= index < size. */
export function auditPath(hashRange: RangeHasher, size: number, index: number): Uint8Array[] {
  return siblingsUp(hashRange, size, index, 1);
}

/** PROOF(from, D[to]) over any range hasher; the caller has checked 1 <= from <= to. */
export function consistencyPath(hashRange: RangeHasher, fromSize: number, toSize: number): Uint8Array[] {
  if (fromSize === toSize) return [];
  // SUBPROOF descends until it meets the largest complete subtree that ends
  // at leaf fromSize - 1: width w = the largest power of two dividing
  // fromSize. If that subtree is the whole earlier tree (fromSize a power of
  // two), the verifier already holds its hash, and the proof is that
  // subtree's audit path; otherwise the subtree's hash comes first.
  let width = 1;
  while (fromSize % (width * 2) === 0) width *= 2;
  const node = fromSize / width - 1;
  const path = siblingsUp(hashRange, toSize, node, width);
  return node === 0 ? path : [hashRange(fromSize - width, fromSize), ...path];
}

/**
 * RFC 9162 section 2.1.3.2: does `proof` show that `leafHash` is leaf `index`
 * of the tree of `treeSize` leaves whose root is `root`?
 */
export function verifyInclusion(
  leafHash: Uint8Array,
  index: number,
  treeSize: number,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): boolean {
  if (!isHash(root)) return false;
  const reached = rootFromInclusion(leafHash, index, treeSize, proof);
  return reached !== undefined && sameBytes(reached, root);
}

/**
 * Steps 1 to 5 of RFC 9162 section 2.1.3.2 without the last comparison: the
 * root that `proof` leads to from `leafHash` as leaf `index` of a tree of
 * `treeSize` leaves, or undefined when it cannot be an audit path there (the
 * index outside the tree, too long or too short, not hashes).
 */
export function rootFromInclusion(leafHash: Uint8Array, index: number, treeSize: number, proof: readonly Uint8Array[]): Uint8Array | undefined {
  if (!isHash(leafHash) || !isProof(proof)) return undefined;
  if (!Number.isSafeInteger(treeSize) || !Number.isSafeInteger(index)) return undefined;
  // Step 1: the index must name a leaf of the tree.
  if (index < 0 || index >= treeSize) return undefined;
  // Steps 2 and 3.
  let fn = index;
  let sn = treeSize - 1;
  let r = leafHash;
  // Step 4.
  for (const p of proof) {
    if (sn === 0) return undefined; // the proof is longer than the path
    if (isOdd(fn) || fn === sn) {
      r = nodeHash(p, r);
      // Levels where this node has no right sibling (the tree's ragged right edge) add nothing to the path.
      while (!isOdd(fn) && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = half(fn);
    sn = half(sn);
  }
  // Step 5: sn is 0 only if the whole path was used (a short proof leaves it above 0).
  return sn === 0 ? r : undefined;
}

/**
 * The root of the tree of all `leafHashes` and the audit path of every leaf,
 * hashing each node of the tree once (n - 1 node hashes in all, where a path
 * at a time would hash about n for each leaf). For a batch of entries signed
 * together (signed-note.ts).
 */
export function everyAuditPath(leafHashes: readonly Uint8Array[]): { root: Uint8Array; paths: Uint8Array[][] } {
  const size = leafHashes.length;
  if (size === 0) throw new RangeError('audit paths: the tree has no leaves');
  assertLeafHashes(leafHashes, size);
  const known = new Map<number, Uint8Array>();
  const hashRange: RangeHasher = (start, end) => {
    const key = start * (size + 1) + end;
    const had = known.get(key);
    if (had !== undefined) return had;
    let made: Uint8Array;
    if (end - start === 1) made = nodeAt(leafHashes, start);
    else {
      let split = 1;
      while (split * 2 < end - start) split *= 2;
      made = nodeHash(hashRange(start, start + split), hashRange(start + split, end));
    }
    known.set(key, made);
    return made;
  };
  const root = hashRange(0, size);
  return { root, paths: leafHashes.map((_, i) => auditPath(hashRange, size, i)) };
}

/**
 * Consistency proof PROOF(m, D[n]) of RFC 9162 section 2.1.4.1 between the
 * tree of the first `fromSize` leaves and the tree of the first `toSize`
 * leaves, for 1 <= fromSize <= toSize <= leafHashes.length. It is empty when
 * the sizes are equal (SUBPROOF(m, D[m], true) = {}).
 *
 * The empty tree is out of range: the RFC defines proofs for 0 < m, and an
 * empty earlier tree commits to nothing that a proof could check.
 */
export function consistencyProof(leafHashes: readonly Uint8Array[], fromSize: number, toSize: number): Uint8Array[] {
  if (
    !Number.isSafeInteger(fromSize) ||
    !Number.isSafeInteger(toSize) ||
    fromSize < 1 ||
    fromSize > toSize ||
    toSize > leafHashes.length
  ) {
    throw new RangeError(
      `consistency proof: sizes ${fromSize} -> ${toSize} are not 1 <= from <= to <= ${leafHashes.length}`,
    );
  }
  assertLeafHashes(leafHashes, toSize);
  return consistencyPath(arrayRange(leafHashes), fromSize, toSize);
}

/**
 * RFC 9162 section 2.1.4.2: does `proof` show that the tree of `fromSize`
 * leaves with root `fromRoot` is a prefix of the tree of `toSize` leaves with
 * root `toRoot`? Equal sizes need an empty proof and equal roots.
 */
export function verifyConsistency(
  fromSize: number,
  toSize: number,
  fromRoot: Uint8Array,
  toRoot: Uint8Array,
  proof: readonly Uint8Array[],
): boolean {
  if (!isHash(fromRoot) || !isHash(toRoot) || !isProof(proof)) return false;
  if (!Number.isSafeInteger(fromSize) || !Number.isSafeInteger(toSize)) return false;
  if (fromSize < 1 || fromSize > toSize) return false;
  if (fromSize === toSize) return proof.length === 0 && sameBytes(fromRoot, toRoot);
  // Step 1.
  if (proof.length === 0) return false;
  // Step 2: a power-of-two earlier tree is itself the subtree the path starts from.
  const path = isPowerOfTwo(fromSize) ? [fromRoot, ...proof] : proof;
  // Steps 3 and 4.
  let fn = fromSize - 1;
  let sn = toSize - 1;
  while (isOdd(fn)) {
    fn = half(fn);
    sn = half(sn);
  }
  // Step 5.
  const [seed, ...rest] = path;
  if (seed === undefined) return false;
  let fr = seed;
  let sr = seed;
  // Step 6.
  for (const c of rest) {
    if (sn === 0) return false; // the proof is longer than the path
    if (isOdd(fn) || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      while (!isOdd(fn) && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = half(fn);
    sn = half(sn);
  }
  // Step 7.
  return sn === 0 && sameBytes(fr, fromRoot) && sameBytes(sr, toRoot);
}

const NODE_PREFIX = Uint8Array.of(1);

/**
 * MTH computed bottom-up, one level at a time, so that a million leaves need
 * no recursion. A level with an odd count carries its last node up unpaired;
 * that builds the same tree as the RFC's split at k, the largest power of two
 * below n, because every node of a level then covers an aligned run of 2^level
 * leaves except the last, which covers what is left of the tree's right edge.
 */
function treeHash(leafHashes: readonly Uint8Array[]): Uint8Array {
  if (leafHashes.length === 0) return createHash('sha256').digest();
  let level = leafHashes;
  while (level.length > 1) {
    const up: Uint8Array[] = [];
    for (let i = 0; i + 1 < level.length; i += 2) up.push(nodeHash(nodeAt(level, i), nodeAt(level, i + 1)));
    if (isOdd(level.length)) up.push(nodeAt(level, level.length - 1));
    level = up;
  }
  return nodeAt(level, 0);
}

/** MTH(D[start:end]) over an array of leaf hashes. */
function arrayRange(leafHashes: readonly Uint8Array[]): RangeHasher {
  return (start, end) => treeHash(leafHashes.slice(start, end));
}

/**
 * The hashes of the siblings met on the way from node `node` of the level
 * whose nodes cover `width` leaves up to the root of the tree of the first
 * `size` leaves, nearest first: the tail of PATH (section 2.1.3.1) above that
 * node. A node on the ragged right edge with no sibling at some level is
 * carried up and adds nothing, as in the RFC's split. The siblings' subtrees
 * are disjoint, so this hashes fewer than `size` leaves in all.
 */
function siblingsUp(hashRange: RangeHasher, size: number, node: number, width: number): Uint8Array[] {
  const path: Uint8Array[] = [];
  for (let w = width, j = node; w < size; w *= 2, j = half(j)) {
    const start = (isOdd(j) ? j - 1 : j + 1) * w;
    if (start < size) path.push(hashRange(start, Math.min(start + w, size)));
  }
  return path;
}

function assertLeafHashes(leafHashes: readonly Uint8Array[], count: number): void {
  for (let i = 0; i < count; i += 1) {
    if (!isHash(leafHashes[i])) throw new RangeError(`leaf hash ${i} is not ${HASH_SIZE} bytes`);
  }
}

function nodeAt(level: readonly Uint8Array[], i: number): Uint8Array {
  const node = level[i];
  if (node === undefined) throw new Error(`merkle: no node ${i} in a level of ${level.length}`);
  return node;
}

function isHash(value: unknown): value is Uint8Array {
  return value instanceof Uint8Array && value.length === HASH_SIZE;
}

// Sizes are safe integers (below 2^53), so no valid path or proof has more
// than 54 elements; refusing longer ones first bounds a stranger's work.
const MAX_PROOF_LENGTH = 64;

function isProof(proof: unknown): proof is readonly Uint8Array[] {
  return Array.isArray(proof) && proof.length <= MAX_PROOF_LENGTH && proof.every(isHash);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i += 1) if (a[i] !== b[i]) return false;
  return true;
}

// Sizes may pass 2^32, beyond JavaScript's 32-bit bitwise operators: use arithmetic.
function isOdd(n: number): boolean {
  return n % 2 === 1;
}

function half(n: number): number {
  return Math.floor(n / 2);
}

export function isPowerOfTwo(n: number): boolean {
  let x = n;
  while (x > 1 && !isOdd(x)) x = half(x);
  return x === 1;
}
