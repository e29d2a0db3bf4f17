import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { leafHash } from '../../src/audit/log-hash.js';
import {
  consistencyProof,
  everyAuditPath,
  inclusionProof,
  nodeHash,
  rootOf,
  verifyConsistency,
  verifyInclusion,
} from '../../src/audit/merkle.js';

// ---------------------------------------------------------------------------
// Reference: RFC 6962 section 2.1 written out literally and recursively (MTH
// memoised by range only), so the iterative module is checked against the definitions.
// It hashes entries itself (leaf hash from log-hash.ts, node hash here).
// ---------------------------------------------------------------------------

const sha256 = (...parts: Uint8Array[]): Buffer => {
  const h = createHash('sha256');
  for (const part of parts) h.update(part);
  return h.digest();
};
const bytes = (hex: string): Buffer => Buffer.from(hex, 'hex');
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** The largest power of two smaller than n (n > 1): the RFC's k. */
function split(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

const entries = Array.from({ length: 2_000 }, (_, i) => Buffer.from(`audit entry ${i}`, 'utf8'));
const leaves: readonly Uint8Array[] = entries.map((e) => bytes(leafHash(e)));

/** MTH(D[lo:hi]) over `entries`, section 2.1; memoised, as the proofs ask for the same subtrees again and again. */
const mthMemo = new Map<string, Buffer>();
function refMth(lo: number, hi: number): Buffer {
  const key = `${lo}:${hi}`;
  const known = mthMemo.get(key);
  if (known !== undefined) return known;
  const n = hi - lo;
  let value: Buffer;
  if (n === 0) value = sha256();
  else if (n === 1) value = bytes(leafHash(entries[lo]!));
  else {
    const k = split(n);
    value = sha256(Uint8Array.of(1), refMth(lo, lo + k), refMth(lo + k, hi));
  }
  mthMemo.set(key, value);
  return value;
}

/** Where a proof element came from in the RFC's recursion. */
type Tag = 'right-sibling' | 'left-sibling' | 'seed';
interface Step<T> {
  value: T;
  tag: Tag;
}
/** The hash of D[lo:hi]; the structure-only walks pass a function that hashes nothing. */
type SubtreeHash<T> = (lo: number, hi: number) => T;

/** PATH(m, D[lo:hi]), section 2.1.1. */
function refPath<T>(m: number, lo: number, hi: number, mth: SubtreeHash<T>): Step<T>[] {
  const n = hi - lo;
  if (n === 1) return [];
  const k = split(n);
  return m < k
    ? [...refPath(m, lo, lo + k, mth), { value: mth(lo + k, hi), tag: 'right-sibling' }]
    : [...refPath(m - k, lo + k, hi, mth), { value: mth(lo, lo + k), tag: 'left-sibling' }];
}

/** SUBPROOF(m, D[lo:hi], b), section 2.1.2; PROOF(m, D[n]) = SUBPROOF(m, D[n], true). */
function refSubproof<T>(m: number, lo: number, hi: number, b: boolean, mth: SubtreeHash<T>): Step<T>[] {
  const n = hi - lo;
  if (m === n) return b ? [] : [{ value: mth(lo, hi), tag: 'seed' }];
  const k = split(n);
  return m <= k
    ? [...refSubproof(m, lo, lo + k, b, mth), { value: mth(lo + k, hi), tag: 'right-sibling' }]
    : [...refSubproof(m - k, lo + k, hi, false, mth), { value: mth(lo, lo + k), tag: 'left-sibling' }];
}

const overEntries: SubtreeHash<string> = (lo, hi) => hex(refMth(lo, hi));
const noHash: SubtreeHash<null> = () => null;

const refPathHex = (m: number, n: number): string[] => refPath(m, 0, n, overEntries).map((s) => s.value);
const refProofHex = (m: number, n: number): string[] => refSubproof(m, 0, n, true, overEntries).map((s) => s.value);
/**
 * The structure of a proof: which sizes make the verifier combine the same
 * elements in the same order. Sizes of the same structure cannot be told apart
 * by a proof; the size is bound by the signed tree head, not by the proof.
 */
const pathShape = (m: number, n: number): string =>
  m >= 0 && m < n ? refPath(m, 0, n, noHash).map((s) => s.tag).join() : 'invalid';
const proofShape = (m: number, n: number): string =>
  m >= 1 && m <= n ? refSubproof(m, 0, n, true, noHash).map((s) => s.tag).join() : 'invalid';

/** The same value with bit `bit` (0..255) flipped. */
function flip(hash: Uint8Array, bit: number): Uint8Array {
  const out = Uint8Array.from(hash);
  out[Math.floor(bit / 8) % out.length]! ^= 1 << bit % 8;
  return out;
}
/** Every way of spoiling a proof that must make it fail: a bit flipped in any element, one dropped, one added. */
function tamperings(proof: readonly Uint8Array[]): [string, Uint8Array[]][] {
  const out: [string, Uint8Array[]][] = [];
  proof.forEach((element, j) => {
    for (const bit of [0, 255]) out.push([`bit ${bit} of element ${j} flipped`, replaced(proof, j, flip(element, bit))]);
  });
  if (proof.length > 0) {
    out.push(['first element dropped', proof.slice(1)], ['last element dropped', proof.slice(0, -1)]);
  }
  out.push(['element appended', [...proof, other]], ['element prepended', [other, ...proof]]);
  return out;
}

const replaced = (list: readonly Uint8Array[], i: number, value: Uint8Array): Uint8Array[] =>
  list.map((x, j) => (j === i ? value : x));

const sizes = Array.from({ length: 64 }, (_, i) => i + 1);
const other = bytes(leafHash(Buffer.from('not in the log', 'utf8')));

describe('RFC 9162 Merkle tree hash and proofs (pure)', () => {
  it('pins the empty tree: MTH({}) is SHA-256 of the empty string', () => {
    expect(hex(rootOf([]))).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });

  it('pins a three-leaf tree derived by hand', () => {
    // Entries "a", "b", "c". Leaf hashes SHA-256(0x00 || entry):
    //   L0 = 022a6979e6dab7aa5ae4c3e5e45f7e977112a7e63593820dbec1ec738a24f93c
    //   L1 = 57eb35615d47f34ec714cacdf5fd74608a5e8e102724e80b24b287c0c27b6a31
    //   L2 = 597fcb31282d34654c200d3418fca5705c648ebf326ec73d8ddef11841f876d8
    // n = 3, k = 2: MTH = nodeHash(MTH(D[0:2]), MTH(D[2:3])) = nodeHash(nodeHash(L0, L1), L2)
    //   N01  = SHA-256(0x01 || L0 || L1) = b137985ff484fb600db93107c77b0365c80d78f5b429ded0fd97361d077999eb
    //   root = SHA-256(0x01 || N01 || L2) = 36642e73c2540ab121e3a6bf9545b0a24982cd830eb13d3cd19de3ce6c021ec1
    const [l0, l1, l2] = ['a', 'b', 'c'].map((e) => bytes(leafHash(Buffer.from(e, 'utf8')))) as [Buffer, Buffer, Buffer];
    expect([hex(l0), hex(l1), hex(l2)]).toEqual([
      '022a6979e6dab7aa5ae4c3e5e45f7e977112a7e63593820dbec1ec738a24f93c',
      '57eb35615d47f34ec714cacdf5fd74608a5e8e102724e80b24b287c0c27b6a31',
      '597fcb31282d34654c200d3418fca5705c648ebf326ec73d8ddef11841f876d8',
    ]);
    expect(hex(nodeHash(l0, l1))).toBe('b137985ff484fb600db93107c77b0365c80d78f5b429ded0fd97361d077999eb');
    const root = '36642e73c2540ab121e3a6bf9545b0a24982cd830eb13d3cd19de3ce6c021ec1';
    expect(hex(rootOf([l0, l1, l2]))).toBe(root);
    // Leaf 2's audit path is [N01] on the left; the proof from size 2 is [L2].
    expect(inclusionProof([l0, l1, l2], 2).map(hex)).toEqual(['b137985ff484fb600db93107c77b0365c80d78f5b429ded0fd97361d077999eb']);
    expect(verifyInclusion(l2, 2, 3, [nodeHash(l0, l1)], bytes(root))).toBe(true);
    expect(consistencyProof([l0, l1, l2], 2, 3).map(hex)).toEqual([hex(l2)]);
  });

  it.each([0, ...sizes])('root of %i leaves equals MTH from the definition', (n) => {
    expect(hex(rootOf(leaves.slice(0, n)))).toBe(hex(refMth(0, n)));
  });

  it('computes the root of 2^20 leaves without recursion', () => {
    // 2^20 copies of one leaf L: every level is one hash repeated, so the root
    // is nodeHash applied to itself 20 times.
    const leaf = bytes(leafHash(Buffer.from('a', 'utf8')));
    let expected: Uint8Array = leaf;
    for (let i = 0; i < 20; i += 1) expected = sha256(Uint8Array.of(1), expected, expected);
    expect(hex(expected)).toBe('b4736366a61fbe53896fdf302eadc00644286530f0a0db1510991f9483dc7686');
    expect(hex(rootOf(new Array<Uint8Array>(2 ** 20).fill(leaf)))).toBe(hex(expected));
    // A million hashes: seconds on a quiet machine, far more on a shared one (a bound on time, not an assertion).
  }, 180_000);

  describe('inclusion (RFC 9162 section 2.1.3)', () => {
    it.each(sizes)('size %i: every audit path equals PATH(m, D[n]) and verifies', (n) => {
      const tree = leaves.slice(0, n);
      const root = rootOf(tree);
      for (let i = 0; i < n; i += 1) {
        const proof = inclusionProof(tree, i);
        expect(proof.map(hex)).toEqual(refPathHex(i, n));
        expect(verifyInclusion(leaves[i]!, i, n, proof, root)).toBe(true);
      }
    });

    it.each(sizes)('size %i: every audit path at once (everyAuditPath) equals PATH(m, D[n]), with the root MTH(D[n])', (n) => {
      const tree = leaves.slice(0, n);
      const all = everyAuditPath(tree);
      expect(hex(all.root)).toBe(hex(refMth(0, n)));
      expect(all.paths.map((p) => p.map(hex))).toEqual(Array.from({ length: n }, (_, i) => refPathHex(i, n)));
    });

    it.each(sizes)('size %i: a corrupted audit path, leaf, index, size or root fails', (n) => {
      // Proofs and roots from the reference (tested equal above), so this test
      // spends its time verifying; mismatches are collected and listed at once.
      const root: Uint8Array = refMth(0, n);
      const wrong: string[] = [];
      for (let i = 0; i < n; i += 1) {
        const leaf = leaves[i]!;
        const proof = refPath(i, 0, n, refMth).map((s) => s.value);
        const check = (what: string, want: boolean, p: readonly Uint8Array[], at = i, size = n, r = root, l = leaf): void => {
          if (verifyInclusion(l, at, size, p, r) !== want) wrong.push(`leaf ${i}: ${what}`);
        };
        check('untouched', true, proof);
        for (const [what, tampered] of tamperings(proof)) check(what, false, tampered);
        for (const bit of [0, 255]) {
          check(`root bit ${bit} flipped`, false, proof, i, n, flip(root, bit));
          check(`leaf bit ${bit} flipped`, false, proof, i, n, root, flip(leaf, bit));
        }
        check('another leaf', false, proof, i, n, root, other);
        for (const j of new Set([i - 1, i + 1, n - 1 - i, 0, n - 1, n, -1])) {
          if (j !== i) check(`index ${j}`, false, proof, j);
        }
        for (const size of [n - 1, n + 1, n + 2, 2 * n, 0]) {
          check(`size ${size}`, pathShape(i, size) === pathShape(i, n), proof, i, size);
        }
      }
      expect(wrong).toEqual([]);
    });
  });

  describe('consistency (RFC 9162 section 2.1.4)', () => {
    it.each(sizes)('size %i: every proof from m <= n equals PROOF(m, D[n]) and verifies', (n) => {
      const toRoot = rootOf(leaves.slice(0, n));
      for (let m = 1; m <= n; m += 1) {
        const proof = consistencyProof(leaves, m, n);
        expect(proof.map(hex)).toEqual(refProofHex(m, n));
        expect(verifyConsistency(m, n, rootOf(leaves.slice(0, m)), toRoot, proof)).toBe(true);
      }
    });

    it.each(sizes)('size %i: a corrupted proof, root or size fails', (n) => {
      const toRoot: Uint8Array = refMth(0, n);
      const wrong: string[] = [];
      for (let m = 1; m <= n; m += 1) {
        const fromRoot: Uint8Array = refMth(0, m);
        const proof = refSubproof(m, 0, n, true, refMth).map((s) => s.value);
        const check = (what: string, want: boolean, p: readonly Uint8Array[], from = m, to = n, fr = fromRoot, tr = toRoot): void => {
          if (verifyConsistency(from, to, fr, tr, p) !== want) wrong.push(`from ${m}: ${what}`);
        };
        check('untouched', true, proof);
        for (const [what, tampered] of tamperings(proof)) check(what, false, tampered);
        for (const bit of [0, 255]) {
          check(`old root bit ${bit} flipped`, false, proof, m, n, flip(fromRoot, bit));
          check(`new root bit ${bit} flipped`, false, proof, m, n, fromRoot, flip(toRoot, bit));
        }
        if (m < n) check('roots swapped', false, proof, m, n, toRoot, fromRoot);
        for (const [from, to] of [[m - 1, n], [m + 1, n], [m, n - 1], [m, n + 1], [m, 2 * n]] as const) {
          check(`sizes ${from} -> ${to}`, proofShape(from, to) === proofShape(m, n), proof, from, to);
        }
      }
      expect(wrong).toEqual([]);
    });
  });

  it('a size of the same proof structure passes: the size is bound by the signed tree head, not the proof', () => {
    // Leaf 0's audit path in a tree of 3 is [L1, L2]. Read as a tree of 4, L2
    // stands for the hash of leaves 2..3 and the same root comes out; but that
    // root is not the real size-4 root, so a verifier holding the signed head
    // of size 4 rejects it. Likewise the proof [L2] from size 2 to size 3.
    const three = leaves.slice(0, 3);
    const root3 = rootOf(three);
    expect(verifyInclusion(leaves[0]!, 0, 4, inclusionProof(three, 0), root3)).toBe(true);
    expect(verifyInclusion(leaves[0]!, 0, 4, inclusionProof(three, 0), rootOf(leaves.slice(0, 4)))).toBe(false);
    expect(verifyConsistency(2, 4, rootOf(leaves.slice(0, 2)), root3, consistencyProof(leaves, 2, 3))).toBe(true);
    expect(verifyConsistency(2, 4, rootOf(leaves.slice(0, 2)), rootOf(leaves.slice(0, 4)), consistencyProof(leaves, 2, 3))).toBe(false);
    expect(pathShape(0, 3)).toBe(pathShape(0, 4));
    expect(proofShape(2, 3)).toBe(proofShape(2, 4));
  });

  describe('properties over trees of up to 2,000 leaves', () => {
    const tree = fc.integer({ min: 1, max: leaves.length });

    it('inclusion proofs verify and any single-bit corruption fails', () => {
      fc.assert(
        fc.property(tree, fc.nat(), fc.nat(), fc.nat(255), (n, at, which, bit) => {
          const i = at % n;
          const prefix = leaves.slice(0, n);
          const root = rootOf(prefix);
          const proof = inclusionProof(prefix, i);
          const leaf = leaves[i]!;
          expect(proof.map(hex)).toEqual(refPathHex(i, n));
          expect(verifyInclusion(leaf, i, n, proof, root)).toBe(true);
          // Corrupt one bit of one of: the proof elements, the leaf, the root.
          const target = which % (proof.length + 2);
          if (target < proof.length) {
            expect(verifyInclusion(leaf, i, n, replaced(proof, target, flip(proof[target]!, bit)), root)).toBe(false);
          } else if (target === proof.length) {
            expect(verifyInclusion(flip(leaf, bit), i, n, proof, root)).toBe(false);
          } else {
            expect(verifyInclusion(leaf, i, n, proof, flip(root, bit))).toBe(false);
          }
        }),
      );
    });

    it('consistency proofs verify and any single-bit corruption fails', () => {
      fc.assert(
        fc.property(tree, fc.nat(), fc.nat(), fc.nat(255), (n, at, which, bit) => {
          const m = (at % n) + 1;
          const fromRoot = rootOf(leaves.slice(0, m));
          const toRoot = rootOf(leaves.slice(0, n));
          const proof = consistencyProof(leaves, m, n);
          expect(proof.map(hex)).toEqual(refProofHex(m, n));
          expect(verifyConsistency(m, n, fromRoot, toRoot, proof)).toBe(true);
          const target = which % (proof.length + 2);
          if (target < proof.length) {
            expect(verifyConsistency(m, n, fromRoot, toRoot, replaced(proof, target, flip(proof[target]!, bit)))).toBe(false);
          } else if (target === proof.length) {
            expect(verifyConsistency(m, n, flip(fromRoot, bit), toRoot, proof)).toBe(false);
          } else {
            expect(verifyConsistency(m, n, fromRoot, flip(toRoot, bit), proof)).toBe(false);
          }
        }),
      );
    });
  });

  describe('bad input', () => {
    const tree = leaves.slice(0, 7);
    const root = rootOf(tree);
    const leaf = leaves[3]!;
    const proof = inclusionProof(tree, 3);
    const fromRoot = rootOf(leaves.slice(0, 3));
    const cproof = consistencyProof(tree, 3, 7);
    const short = leaf.subarray(0, 31);
    const asProof = (value: unknown): readonly Uint8Array[] => value as readonly Uint8Array[];
    const asHash = (value: unknown): Uint8Array => value as Uint8Array;

    it('the untouched inputs verify (so each row below fails for its own reason)', () => {
      expect(verifyInclusion(leaf, 3, 7, proof, root)).toBe(true);
      expect(verifyConsistency(3, 7, fromRoot, root, cproof)).toBe(true);
    });

    it.each<[string, () => boolean]>([
      ['index = size', () => verifyInclusion(leaf, 7, 7, proof, root)],
      ['negative index', () => verifyInclusion(leaf, -1, 7, proof, root)],
      ['fractional index', () => verifyInclusion(leaf, 2.5, 7, proof, root)],
      ['NaN index', () => verifyInclusion(leaf, Number.NaN, 7, proof, root)],
      ['size 0', () => verifyInclusion(leaf, 0, 0, proof, root)],
      ['infinite size', () => verifyInclusion(leaf, 3, Number.POSITIVE_INFINITY, proof, root)],
      ['size beyond 2^53', () => verifyInclusion(leaf, 3, 2 ** 60, proof, root)],
      ['size just below 2^53', () => verifyInclusion(leaf, 3, Number.MAX_SAFE_INTEGER, proof, root)],
      ['31-byte leaf', () => verifyInclusion(short, 3, 7, proof, root)],
      ['31-byte root', () => verifyInclusion(leaf, 3, 7, proof, short)],
      ['31-byte proof element', () => verifyInclusion(leaf, 3, 7, [short, ...proof.slice(1)], root)],
      ['proof of strings', () => verifyInclusion(leaf, 3, 7, asProof(proof.map(hex)), root)],
      ['proof not an array', () => verifyInclusion(leaf, 3, 7, asProof(null), root)],
      ['null leaf', () => verifyInclusion(asHash(null), 3, 7, proof, root)],
      ['a very long proof', () => verifyInclusion(leaf, 3, 7, new Array<Uint8Array>(1_000_000).fill(leaf), root)],
      ['consistency: from 0', () => verifyConsistency(0, 7, fromRoot, root, cproof)],
      ['consistency: from > to', () => verifyConsistency(7, 3, root, fromRoot, cproof)],
      ['consistency: equal sizes, non-empty proof', () => verifyConsistency(7, 7, root, root, cproof)],
      ['consistency: equal sizes, different roots', () => verifyConsistency(7, 7, root, fromRoot, [])],
      ['consistency: empty proof', () => verifyConsistency(3, 7, fromRoot, root, [])],
      ['consistency: negative size', () => verifyConsistency(-3, 7, fromRoot, root, cproof)],
      ['consistency: fractional size', () => verifyConsistency(3, 7.5, fromRoot, root, cproof)],
      ['consistency: to beyond 2^53', () => verifyConsistency(3, 2 ** 60, fromRoot, root, cproof)],
      ['consistency: 31-byte root', () => verifyConsistency(3, 7, short, root, cproof)],
      ['consistency: 31-byte proof element', () => verifyConsistency(3, 7, fromRoot, root, [short, ...cproof.slice(1)])],
      ['consistency: proof not an array', () => verifyConsistency(3, 7, fromRoot, root, asProof(undefined))],
      ['consistency: undefined root', () => verifyConsistency(3, 7, fromRoot, asHash(undefined), cproof)],
    ])('verifying with %s answers false without throwing', (_name, run) => {
      expect(run).not.toThrow();
      expect(run()).toBe(false);
    });

    it('equal sizes with an empty proof and equal roots verify', () => {
      expect(verifyConsistency(7, 7, root, Uint8Array.from(root), [])).toBe(true);
    });

    it.each<[string, () => unknown]>([
      ['inclusion in the empty tree', () => inclusionProof([], 0)],
      ['inclusion at index = size', () => inclusionProof(tree, 7)],
      ['inclusion at a negative index', () => inclusionProof(tree, -1)],
      ['inclusion at a fractional index', () => inclusionProof(tree, 1.5)],
      ['inclusion over a 31-byte leaf', () => inclusionProof([...tree, short], 0)],
      ['consistency from 0', () => consistencyProof(tree, 0, 7)],
      ['consistency from > to', () => consistencyProof(tree, 5, 4)],
      ['consistency beyond the leaves', () => consistencyProof(tree, 3, 8)],
      ['consistency with a fractional size', () => consistencyProof(tree, 2.5, 7)],
      ['consistency over a 31-byte leaf', () => consistencyProof([...tree.slice(0, 6), short], 3, 7)],
      ['root over a 31-byte leaf', () => rootOf([short])],
    ])('building %s throws a RangeError', (_name, run) => {
      expect(run).toThrow(RangeError);
    });
  });
});
