import { createHash, createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  checkpointText,
  logKeyFromJwk,
  openCheckpoint,
  openNote,
  parseVerifierKey,
  signCheckpoint,
  signNote,
  MAX_RECEIPT_CHARS,
  openRun,
  RECEIPT_RUN,
  runSizeOf,
  sameRun,
  signReceipt,
  signReceipts,
  verifierKeyOf,
  verifyReceipt,
  verifyReceiptAsync,
  verifyRunAsync,
  type LogKey,
  type LogVerifier,
} from '../../src/audit/signed-note.js';

// Interoperability vector: the example key and signed note published in the
// documentation of Go's golang.org/x/mod/sumdb/note package (the reference
// implementation of C2SP signed-note). Our key ID, verifier key string and
// Ed25519 signature must reproduce it byte for byte.
const GO_VERIFIER_KEY = 'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW';
const GO_SIGNER_SEED = 'AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz'; // 0x01 || 32-byte seed
const GO_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const GO_NOTE = `${GO_TEXT}\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n`;

const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

function keyFromSeed(name: string, seed: Buffer): LogKey {
  const jwk = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: 'der', type: 'pkcs8' }).export({ format: 'jwk' });
  return logKeyFromJwk(name, jwk);
}

function freshKey(name = 'hub.test/audit-log'): LogKey {
  return logKeyFromJwk(name, generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' }));
}

function verifierOf(key: LogKey): LogVerifier {
  const parsed = parseVerifierKey(verifierKeyOf(key));
  if (!parsed.ok) throw new Error(parsed.reason);
  return parsed.value;
}

describe('C2SP signed notes', () => {
  it('reproduce the reference implementation\'s published key and note byte for byte', () => {
    const key = keyFromSeed('PeterNeumann', Buffer.from(GO_SIGNER_SEED, 'base64').subarray(1));
    expect(verifierKeyOf(key)).toBe(GO_VERIFIER_KEY);
    expect(signNote(GO_TEXT, key)).toBe(GO_NOTE);
    const verifier = parseVerifierKey(GO_VERIFIER_KEY);
    expect(verifier.ok).toBe(true);
    if (verifier.ok) expect(openNote(GO_NOTE, verifier.value)).toEqual({ ok: true, value: GO_TEXT });
  });

  it('reject an altered text, an altered signature, and a note signed by another key of the same name', () => {
    const verifier = parseVerifierKey(GO_VERIFIER_KEY);
    if (!verifier.ok) throw new Error(verifier.reason);
    expect(openNote(GO_NOTE.replace('problem,', 'problems,'), verifier.value).ok).toBe(false);
    const sig = GO_NOTE.slice(GO_NOTE.lastIndexOf(' ') + 1, -1);
    const flipped = Buffer.from(sig, 'base64');
    flipped[10] = (flipped[10] ?? 0) ^ 1;
    expect(openNote(GO_NOTE.replace(sig, flipped.toString('base64')), verifier.value).ok).toBe(false);
    // Another key under the same name has another key ID: its signature is ignored, so none verifies.
    const impostor = signNote(GO_TEXT, freshKey('PeterNeumann'));
    const opened = openNote(impostor, verifier.value);
    expect(opened).toEqual({ ok: false, reason: 'the note carries no signature by PeterNeumann' });
  });

  it('ignore unknown signers beside the known one (a witness cosignature, say)', () => {
    const key = freshKey();
    const note = signNote('hello\n', key);
    const witness = signNote('hello\n', freshKey('witness.test/w1'));
    const both = `${note}${witness.slice(witness.lastIndexOf('\n\n') + 2)}`;
    expect(openNote(both, verifierOf(key))).toEqual({ ok: true, value: 'hello\n' });
  });

  it('refuse malformed notes and verifier keys with a reason', () => {
    const key = freshKey();
    const v = verifierOf(key);
    for (const bad of ['', 'no blank line\n\u2014 x y\n', 'text\n\n- hub.test/audit-log AAAA\n', 'te\u0001xt\n\n\u2014 a b\n']) {
      expect(openNote(bad, v).ok, JSON.stringify(bad)).toBe(false);
    }
    for (const bad of ['', 'a+b', 'name+c74f20a3+notbase64!', 'has space+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW', 'PeterNeumann+00000000+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW']) {
      expect(parseVerifierKey(bad).ok, bad).toBe(false);
    }
    expect(() => signNote('no newline', key)).toThrow();
  });
});

describe('checkpoints (tlog-checkpoint notes)', () => {
  const key = freshKey();
  const root = Buffer.alloc(32, 7);
  const cp = { origin: key.name, treeSize: 1234, rootHash: root, time: new Date('2026-09-25T10:00:00.000Z') };

  it('are origin, size, base64 root and a time line, signed', () => {
    expect(checkpointText(cp)).toBe(`hub.test/audit-log\n1234\n${root.toString('base64')}\ntime 2026-09-25T10:00:00.000Z\n`);
    const opened = openCheckpoint(signCheckpoint(cp, key), verifierOf(key));
    expect(opened.ok && { ...opened.value, rootHash: Buffer.from(opened.value.rootHash).toString('hex') }).toEqual({ ...cp, rootHash: root.toString('hex') });
  });

  it('are refused when any line was changed after signing, or the origin is another log', () => {
    const note = signCheckpoint(cp, key);
    for (const edited of [note.replace('\n1234\n', '\n1235\n'), note.replace(root.toString('base64'), Buffer.alloc(32, 8).toString('base64')), note.replace('10:00:00', '10:00:01')]) {
      expect(openCheckpoint(edited, verifierOf(key)).ok).toBe(false);
    }
    const other = freshKey('other.test/log');
    expect(openCheckpoint(signCheckpoint({ ...cp, origin: other.name }, other), verifierOf(key)).ok).toBe(false);
    const foreign = signNote(`${other.name}\n1\n${root.toString('base64')}\ntime 2026-01-01T00:00:00Z\n`, other);
    const r = openCheckpoint(foreign, verifierOf(other));
    expect(r.ok).toBe(true);
    const leadingZero = signNote(`${key.name}\n01\n${root.toString('base64')}\ntime 2026-01-01T00:00:00Z\n`, key);
    expect(openCheckpoint(leadingZero, verifierOf(key)).ok).toBe(false);
  });
});

describe('entry receipts', () => {
  it('signed alone (as before runs) bind the index and the leaf hash', () => {
    const key = freshKey();
    const v = verifierOf(key);
    const leaf = Buffer.alloc(32, 3);
    const receipt = signReceipt(key, 41, leaf);
    expect(verifyReceipt(v, 41, leaf, receipt)).toBe(true);
    expect(verifyReceipt(v, 42, leaf, receipt)).toBe(false);
    expect(verifyReceipt(v, 41, Buffer.alloc(32, 4), receipt)).toBe(false);
    expect(verifyReceipt(verifierOf(freshKey()), 41, leaf, receipt)).toBe(false);
    expect(verifyReceipt(v, 41, leaf, 'not base64')).toBe(false);
  });
});

describe('entry receipts signed in runs', () => {
  const key = freshKey();
  const v = verifierOf(key);
  const leafOf = (i: number): Buffer => createHash('sha256').update(`entry ${i}`).digest();
  // One sequencing pass of 150 entries from index 1000: runs of 64, 64 and 22.
  const FIRST = 1000;
  const leaves = Array.from({ length: 150 }, (_, i) => leafOf(FIRST + i));
  const receipts = signReceipts(key, FIRST, leaves);
  const signatureOf = (receipt: string): string => Buffer.from(receipt, 'base64').subarray(4, 68).toString('hex');
  const both = async (index: number, leaf: Uint8Array, receipt: string): Promise<boolean> => {
    const now = verifyReceipt(v, index, leaf, receipt);
    expect(await verifyReceiptAsync(v, index, leaf, receipt)).toBe(now);
    return now;
  };

  it('give every entry its own receipt, one signature per run of up to RECEIPT_RUN entries', async () => {
    expect(receipts).toHaveLength(leaves.length);
    expect(new Set(receipts.map(signatureOf)).size).toBe(Math.ceil(leaves.length / RECEIPT_RUN));
    expect(signatureOf(receipts[0] ?? '')).toBe(signatureOf(receipts[RECEIPT_RUN - 1] ?? ''));
    expect(signatureOf(receipts[RECEIPT_RUN] ?? '')).not.toBe(signatureOf(receipts[RECEIPT_RUN - 1] ?? ''));
    for (const [i, receipt] of receipts.entries()) {
      expect(receipt.length).toBeLessThanOrEqual(MAX_RECEIPT_CHARS);
      expect(await both(FIRST + i, leaves[i] as Buffer, receipt)).toBe(true);
    }
  });

  it('bind each entry to its own place and leaf: another index, another leaf, another entry\'s receipt or another key fails', async () => {
    for (const i of [0, 1, 37, RECEIPT_RUN - 1, RECEIPT_RUN, 149]) {
      const leaf = leaves[i] as Buffer;
      const receipt = receipts[i] ?? '';
      for (const j of [i - 1, i + 1, i + RECEIPT_RUN, FIRST - 1, -1]) if (j >= 0 && j < leaves.length) expect(await both(FIRST + j, leaf, receipt)).toBe(false);
      expect(await both(FIRST + i - 1, leaf, receipt)).toBe(false);
      expect(await both(i, leaf, receipt)).toBe(false);
      expect(await both(FIRST + i, leafOf(-i - 1), receipt)).toBe(false);
      expect(await both(FIRST + i, leaf, receipts[i === 0 ? 1 : i - 1] ?? '')).toBe(false);
      expect(verifyReceipt(verifierOf(freshKey()), FIRST + i, leaf, receipt)).toBe(false);
    }
  });

  it('fail when any byte of a receipt is changed, it is cut short or lengthened, even after its run\'s signature was checked', async () => {
    const i = 70;
    const leaf = leaves[i] as Buffer;
    const raw = Buffer.from(receipts[i] ?? '', 'base64');
    expect(await both(FIRST + i, leaf, raw.toString('base64'))).toBe(true);
    const wrong: number[] = [];
    for (let at = 0; at < raw.length; at += 1) {
      const changed = Buffer.from(raw);
      changed[at] = (changed[at] as number) ^ 0x01;
      if (await both(FIRST + i, leaf, changed.toString('base64'))) wrong.push(at);
    }
    expect(wrong).toEqual([]);
    expect(await both(FIRST + i, leaf, raw.subarray(0, raw.length - 32).toString('base64'))).toBe(false);
    expect(await both(FIRST + i, leaf, Buffer.concat([raw, leafOf(1)]).toString('base64'))).toBe(false);
    expect(await both(FIRST + i, leaf, raw.subarray(0, 70).toString('base64'))).toBe(false);
    expect(await both(FIRST + i, leaf, `${raw.toString('base64')}=`)).toBe(false);
    expect(await both(FIRST + i, leaf, 'A'.repeat(MAX_RECEIPT_CHARS + 4))).toBe(false);
  });

  it('a run\'s place is signed: a receipt claiming another first index or size fails', async () => {
    const i = 3;
    const raw = Buffer.from(receipts[i] ?? '', 'base64');
    const moved = Buffer.from(raw);
    moved.writeBigUInt64BE(BigInt(FIRST + 1), 68);
    expect(await both(FIRST + i + 1, leaves[i] as Buffer, moved.toString('base64'))).toBe(false);
    const resized = Buffer.from(raw);
    resized.writeUInt16BE(RECEIPT_RUN - 1, 76);
    expect(await both(FIRST + i, leaves[i] as Buffer, resized.toString('base64'))).toBe(false);
  });

  it('are read a whole run at a time when every receipt of the run is there and true, and not otherwise', async () => {
    const entries = leaves.map((leaf, i) => ({ index: FIRST + i, leaf, receipt: receipts[i] ?? '' }));
    const runs = [entries.slice(0, RECEIPT_RUN), entries.slice(RECEIPT_RUN, 2 * RECEIPT_RUN), entries.slice(2 * RECEIPT_RUN)];
    for (const run of runs) {
      expect(run.every((e) => runSizeOf(e.receipt) === run.length && sameRun(e.receipt, run[0]?.receipt ?? ''))).toBe(true);
      const opened = openRun(v, run);
      expect(opened).toBeDefined();
      if (opened !== undefined) expect(await verifyRunAsync(v, opened)).toBe(true);
    }
    const [run0 = [], run1 = []] = runs;
    expect(sameRun(run0[0]?.receipt ?? '', run1[0]?.receipt ?? '')).toBe(false);
    expect(runSizeOf(signReceipt(key, 1, leafOf(1)))).toBe(1);
    const refused = {
      'a run cut short': run0.slice(1),
      'a run with one entry too many': [...run0, run1[0]],
      'two runs': [...run0, ...run1],
      'an edited leaf': run0.map((e, k) => (k === 9 ? { ...e, leaf: leafOf(-1) } : e)),
      'two leaves swapped': run0.map((e, k) => (k === 9 ? { ...e, leaf: run0[10]?.leaf } : k === 10 ? { ...e, leaf: run0[9]?.leaf } : e)),
      'a renumbered entry': run0.map((e, k) => (k === 9 ? { ...e, index: e.index + 1 } : e)),
      'a receipt changed in its path': run0.map((e, k) => (k === 9 ? { ...e, receipt: run0[11]?.receipt } : e)),
      'a receipt signed alone in its place': run0.map((e, k) => (k === 0 ? { ...e, receipt: signReceipt(key, e.index, e.leaf) } : e)),
    } as Record<string, { index: number; leaf: Uint8Array; receipt: string }[]>;
    for (const [what, run] of Object.entries(refused)) expect(openRun(v, run), what).toBeUndefined();
    expect(openRun(verifierOf(freshKey()), run0)).toBeUndefined();
  });

  it('a run of one entry, and a pass that starts at index 0', async () => {
    const [only] = signReceipts(key, 0, [leafOf(0)]);
    expect(await both(0, leafOf(0), only ?? '')).toBe(true);
    expect(await both(1, leafOf(0), only ?? '')).toBe(false);
    expect(() => signReceipts(key, -1, [leafOf(0)])).toThrow(RangeError);
    expect(signReceipts(key, 5, [])).toEqual([]);
  });
});
