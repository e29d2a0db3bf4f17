import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  checkpointText,
  logKeyFromJwk,
  openCheckpoint,
  openNote,
  parseVerifierKey,
  signCheckpoint,
  signNote,
  signReceipt,
  verifierKeyOf,
  verifyReceipt,
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
  it('bind the index and the leaf hash', () => {
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
