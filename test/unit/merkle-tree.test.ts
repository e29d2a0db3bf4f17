import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { leafHash } from '../../src/audit/log-hash.js';
import { consistencyProof, inclusionProof, rootOf, verifyConsistency, verifyInclusion } from '../../src/audit/merkle.js';
import { CompactRange, MerkleTree } from '../../src/audit/merkle-tree.js';

// The growing trees must give exactly what merkle.ts's array functions give
// (themselves checked against the RFC's recursive definitions in merkle.test.ts).

const leaves: Uint8Array[] = Array.from({ length: 300 }, (_, i) => Buffer.from(leafHash(Buffer.from(`entry ${i}`)), 'hex'));
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const hexes = (list: readonly Uint8Array[]): string[] => list.map(hex);

function treeOf(n: number): MerkleTree {
  const tree = new MerkleTree();
  for (const leaf of leaves.slice(0, n)) tree.append(leaf);
  return tree;
}

describe('MerkleTree (keeps complete subtrees)', () => {
  const tree = treeOf(leaves.length);

  it('gives the root of every prefix size, the empty tree included', () => {
    for (let n = 0; n <= 140; n += 1) expect(hex(tree.root(n)), `size ${n}`).toBe(hex(rootOf(leaves.slice(0, n))));
    expect(hex(tree.root())).toBe(hex(rootOf(leaves)));
  });

  it('gives the same inclusion proofs as the array functions, for every leaf of sizes up to 70', () => {
    for (let n = 1; n <= 70; n += 1) {
      const prefix = leaves.slice(0, n);
      for (let i = 0; i < n; i += 1) {
        const proof = tree.inclusionProof(i, n);
        expect(hexes(proof), `leaf ${i} of ${n}`).toEqual(hexes(inclusionProof(prefix, i)));
        expect(verifyInclusion(leaves[i] as Uint8Array, i, n, proof, tree.root(n))).toBe(true);
      }
    }
  });

  it('gives the same consistency proofs as the array functions, for every pair of sizes up to 70', () => {
    for (let n = 1; n <= 70; n += 1) {
      for (let m = 1; m <= n; m += 1) {
        const proof = tree.consistencyProof(m, n);
        expect(hexes(proof), `${m} -> ${n}`).toEqual(hexes(consistencyProof(leaves.slice(0, n), m, n)));
        expect(verifyConsistency(m, n, tree.root(m), tree.root(n), proof)).toBe(true);
      }
    }
  });

  it('agrees with the array functions at random sizes of the whole tree', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 300 }), fc.integer({ min: 1, max: 300 }), fc.nat(), (a, b, pick) => {
        const [m, n] = a <= b ? [a, b] : [b, a];
        const i = pick % n;
        expect(hexes(tree.inclusionProof(i, n))).toEqual(hexes(inclusionProof(leaves.slice(0, n), i)));
        expect(hexes(tree.consistencyProof(m, n))).toEqual(hexes(consistencyProof(leaves.slice(0, n), m, n)));
      }),
    );
  });

  it('refuses sizes and indices outside the tree, and leaf hashes of the wrong length', () => {
    const small = treeOf(5);
    expect(() => small.root(6)).toThrow(RangeError);
    expect(() => small.inclusionProof(5, 5)).toThrow(RangeError);
    expect(() => small.inclusionProof(-1)).toThrow(RangeError);
    expect(() => small.consistencyProof(0, 5)).toThrow(RangeError);
    expect(() => small.consistencyProof(4, 6)).toThrow(RangeError);
    expect(() => { small.append(new Uint8Array(31)); }).toThrow(RangeError);
    expect(small.size).toBe(5);
  });
});

describe('CompactRange (the offline verifier\'s state)', () => {
  it('gives the root after every appended leaf', () => {
    const range = new CompactRange();
    expect(hex(range.root())).toBe(hex(rootOf([])));
    for (let n = 1; n <= 200; n += 1) {
      range.append(leaves[n - 1] as Uint8Array);
      expect(hex(range.root()), `size ${n}`).toBe(hex(rootOf(leaves.slice(0, n))));
    }
    expect(range.size).toBe(200);
  });

  it('continues from a MerkleTree frontier at any size to the same roots', () => {
    const tree = treeOf(leaves.length);
    for (const start of [0, 1, 2, 3, 7, 8, 63, 64, 65, 100, 255, 256, 257]) {
      const range = CompactRange.from(start, tree.frontier(start));
      expect(hex(range.root()), `start ${start}`).toBe(hex(tree.root(start)));
      for (let n = start + 1; n <= Math.min(start + 40, leaves.length); n += 1) {
        range.append(leaves[n - 1] as Uint8Array);
        expect(hex(range.root()), `${start} then ${n}`).toBe(hex(tree.root(n)));
      }
    }
  });

  it('refuses a frontier of the wrong length for its size', () => {
    const tree = treeOf(10);
    expect(() => CompactRange.from(7, tree.frontier(10))).toThrow(RangeError);
  });
});
