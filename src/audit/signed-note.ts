import { createHash, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { everyAuditPath, rootFromInclusion } from './merkle.js';

// Checkpoints of the audit log as C2SP signed notes, signed with Ed25519.
// See: https://c2sp.org/signed-note and https://c2sp.org/tlog-checkpoint
//
// A note is its text (ending in a newline), a blank line, and signature lines
// "— <key name> base64(key ID || signature)". The key ID is the first four
// bytes of SHA-256(key name || 0x0A || 0x01 || 32-byte public key). These are
// raw Ed25519 signatures over the note text, not JOSE objects: the format is
// the transparency-log ecosystem's, so its tools can check our checkpoints.
//
// The checkpoint text is origin, tree size, base64 root hash, and one
// extension line "time <RFC 3339 UTC>" saying when the hub signed it.

const ED25519_TYPE = 0x01;
const EM_DASH = '\u2014';

/** The hub's log key: Ed25519, named by the log's origin. */
export interface LogKey {
  name: string;
  keyId: Uint8Array;
  publicKey: KeyObject;
  privateKey: KeyObject;
  /** The public key, 32 raw bytes. */
  publicBytes: Uint8Array;
}

/** What a verifier holds: the key's name, id and public key (from a verifier key string). */
export interface LogVerifier {
  name: string;
  keyId: Uint8Array;
  publicKey: KeyObject;
}

export interface Checkpoint {
  origin: string;
  treeSize: number;
  rootHash: Uint8Array;
  /** When the hub signed it. */
  time: Date;
}

export type NoteCheck<T> = { ok: true; value: T } | { ok: false; reason: string };

/** Key names (and our origins) must be non-empty and hold no spaces or plus signs. */
export function isKeyName(name: string): boolean {
  return name.length > 0 && name.length <= 200 && !/[\s+]/u.test(name) && !hasControl(name);
}

export function keyIdOf(name: string, publicBytes: Uint8Array): Uint8Array {
  const digest = createHash('sha256').update(name, 'utf8').update(Uint8Array.of(0x0a, ED25519_TYPE)).update(publicBytes).digest();
  return new Uint8Array(digest.subarray(0, 4));
}

/** The log key from a private Ed25519 JWK (as kept in the key file). */
export function logKeyFromJwk(name: string, jwk: { kty?: unknown; crv?: unknown; x?: unknown; d?: unknown }): LogKey {
  if (!isKeyName(name)) throw new Error(`log key name "${name}" must be non-empty, without spaces or "+"`);
  if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string' || typeof jwk.d !== 'string') {
    throw new Error('the log key must be a private Ed25519 JWK (kty OKP, crv Ed25519, x and d)');
  }
  const privateKey = createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', x: jwk.x, d: jwk.d }, format: 'jwk' });
  const publicKey = createPublicKey(privateKey);
  const publicBytes = new Uint8Array(Buffer.from(jwk.x, 'base64url'));
  if (publicBytes.length !== 32) throw new Error('the log key\'s public part is not 32 bytes');
  return { name, keyId: keyIdOf(name, publicBytes), publicKey, privateKey, publicBytes };
}

/** The verifier key string "<name>+<hex key ID>+<base64(0x01 || public key)>", as Go's note package writes it. */
export function verifierKeyOf(key: Pick<LogKey, 'name' | 'keyId' | 'publicBytes'>): string {
  return `${key.name}+${Buffer.from(key.keyId).toString('hex')}+${Buffer.concat([Uint8Array.of(ED25519_TYPE), key.publicBytes]).toString('base64')}`;
}

/** Parses a verifier key string; refuses anything but a well-formed Ed25519 key whose ID matches. */
export function parseVerifierKey(text: string): NoteCheck<LogVerifier> {
  // The name holds no '+', the id is hex; the base64 key may hold '+'.
  const match = /^([^+]+)\+([^+]*)\+(.*)$/su.exec(text.trim());
  if (match === null) return { ok: false, reason: 'a verifier key is <name>+<key id>+<base64 key>' };
  const [, name = '', idHex = '', keyB64 = ''] = match;
  if (!isKeyName(name)) return { ok: false, reason: 'the verifier key name is not a valid key name' };
  if (!/^[0-9a-f]{8}$/.test(idHex)) return { ok: false, reason: 'the verifier key id is not 8 hex digits' };
  const raw = strictBase64(keyB64);
  if (raw === undefined || raw.length !== 33 || raw[0] !== ED25519_TYPE) return { ok: false, reason: 'the verifier key is not an Ed25519 key (type 0x01 and 32 bytes)' };
  const publicBytes = raw.subarray(1);
  const keyId = keyIdOf(name, publicBytes);
  if (Buffer.from(keyId).toString('hex') !== idHex) return { ok: false, reason: 'the verifier key id does not match its name and key' };
  const publicKey = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(publicBytes).toString('base64url') }, format: 'jwk' });
  return { ok: true, value: { name, keyId, publicKey } };
}

/** The checkpoint's note text (tlog-checkpoint body), ending in a newline. */
export function checkpointText(c: Checkpoint): string {
  if (!isKeyName(c.origin)) throw new Error('checkpoint origin must be a valid key name');
  if (!Number.isSafeInteger(c.treeSize) || c.treeSize < 0) throw new Error('checkpoint tree size must be a non-negative integer');
  if (c.rootHash.length !== 32) throw new Error('checkpoint root must be 32 bytes');
  return `${c.origin}\n${c.treeSize}\n${Buffer.from(c.rootHash).toString('base64')}\ntime ${c.time.toISOString()}\n`;
}

/** Signs a note text with the log key: the whole signed note. */
export function signNote(text: string, key: LogKey): string {
  if (!text.endsWith('\n') || hasControl(text.replace(/\n/g, ''))) throw new Error('note text must end in a newline and hold no control characters');
  const signature = sign(null, Buffer.from(text, 'utf8'), key.privateKey);
  return `${text}\n${EM_DASH} ${key.name} ${Buffer.concat([key.keyId, signature]).toString('base64')}\n`;
}

export function signCheckpoint(c: Checkpoint, key: LogKey): string {
  return signNote(checkpointText(c), key);
}

/**
 * Opens a signed note with the verifier: the text, once a signature by the
 * known key verifies. Signatures by other keys are ignored (as the spec
 * requires); a failing signature by the known key rejects the note.
 */
export function openNote(note: string, verifier: LogVerifier): NoteCheck<string> {
  if (note.length > 64 * 1024) return { ok: false, reason: 'the note is too large' };
  if (hasControl(note.replace(/\n/g, ''))) return { ok: false, reason: 'the note holds control characters' };
  const split = note.lastIndexOf('\n\n');
  if (split < 0 || !note.endsWith('\n')) return { ok: false, reason: 'the note has no signature block' };
  const text = note.slice(0, split + 1);
  const lines = note.slice(split + 2, -1).split('\n');
  if (lines.length === 0 || lines.length > 100) return { ok: false, reason: 'the note has no (or too many) signature lines' };
  let verified = false;
  for (const line of lines) {
    const match = new RegExp(`^${EM_DASH} (\\S+) (\\S+)$`, 'u').exec(line);
    if (match === null) return { ok: false, reason: 'a signature line is malformed' };
    const [, name = '', b64 = ''] = match;
    const raw = strictBase64(b64);
    if (raw === undefined || raw.length < 5) return { ok: false, reason: 'a signature is not base64 of a key id and a signature' };
    if (name !== verifier.name || !sameBytes(raw.subarray(0, 4), verifier.keyId)) continue;
    if (raw.length !== 68 || !verify(null, Buffer.from(text, 'utf8'), verifier.publicKey, raw.subarray(4))) {
      return { ok: false, reason: `the signature by ${name} does not verify: the note was altered or not signed by this key` };
    }
    verified = true;
  }
  return verified ? { ok: true, value: text } : { ok: false, reason: `the note carries no signature by ${verifier.name}` };
}

/** Parses and verifies a checkpoint note: origin must be the verifier's key name. */
export function openCheckpoint(note: string, verifier: LogVerifier): NoteCheck<Checkpoint> {
  const opened = openNote(note, verifier);
  if (!opened.ok) return opened;
  const lines = opened.value.slice(0, -1).split('\n');
  const [origin = '', size = '', root = '', ...extensions] = lines;
  if (origin !== verifier.name) return { ok: false, reason: `the checkpoint's origin "${origin}" is not the log "${verifier.name}"` };
  if (!/^(0|[1-9][0-9]{0,15})$/.test(size) || !Number.isSafeInteger(Number(size))) return { ok: false, reason: 'the checkpoint tree size is not a decimal without leading zeros' };
  const rootHash = strictBase64(root);
  if (rootHash?.length !== 32) return { ok: false, reason: 'the checkpoint root is not base64 of 32 bytes' };
  const time = extensions.find((l) => l.startsWith('time '))?.slice(5);
  const when = time === undefined ? new Date(NaN) : new Date(time);
  if (Number.isNaN(when.getTime())) return { ok: false, reason: 'the checkpoint has no valid "time" line' };
  return { ok: true, value: { origin, treeSize: Number(size), rootHash, time: when } };
}

/**
 * The most consecutive entries one receipt signature covers. Each receipt of
 * such a run carries its audit path in the run's tree, at most six hashes.
 */
export const RECEIPT_RUN = 64;

/** The longest receipt a verifier reads: key ID, signature, place, and an audit path in a run of up to 65,535 entries (16 hashes). */
export const MAX_RECEIPT_BYTES = 4 + 64 + 8 + 2 + 16 * 32;
/** The same, as base64 characters. */
export const MAX_RECEIPT_CHARS = 4 * Math.ceil(MAX_RECEIPT_BYTES / 3);

/**
 * Receipts for the consecutive entries from index `first`, as the sequencer
 * places them (like Certificate Transparency's signed certificate
 * timestamps, signed in runs). Each run of up to RECEIPT_RUN entries gets one
 * Ed25519 signature over its place (first index and size) and the RFC 9162
 * Merkle root of its leaf hashes. An entry's receipt is that signature with
 * the run's place and the entry's audit path in the run's tree, so each
 * receipt is checked alone: the entry's leaf and path must lead to the signed
 * root at the entry's own position, so a changed, moved or removed entry fails
 * its own receipt and no other's. Base64 of key ID (4) || signature (64) ||
 * first index (8, big-endian) || run size (2, big-endian) || audit path (32 each).
 */
export function signReceipts(key: LogKey, first: number, leafHashes: readonly Uint8Array[]): string[] {
  if (!Number.isSafeInteger(first) || first < 0) throw new RangeError('receipts: the first index must be a non-negative integer');
  const receipts: string[] = [];
  for (let at = 0; at < leafHashes.length; at += RECEIPT_RUN) {
    const run = leafHashes.slice(at, at + RECEIPT_RUN);
    const { root, paths } = everyAuditPath(run);
    const signature = sign(null, runMessage(key.name, first + at, run.length, root), key.privateKey);
    const place = Buffer.alloc(10);
    place.writeBigUInt64BE(BigInt(first + at), 0);
    place.writeUInt16BE(run.length, 8);
    for (const path of paths) receipts.push(Buffer.concat([key.keyId, signature, place, ...path]).toString('base64'));
  }
  return receipts;
}

/**
 * The receipt of one entry alone, as the hub signed every entry before it
 * signed them in runs: the key's signature over the entry's index and leaf
 * hash. Base64 of key ID (4) || signature (64). Logs sequenced then still hold
 * these, and verifyReceipt accepts both.
 */
export function signReceipt(key: LogKey, index: number, leafHash: Uint8Array): string {
  const signature = sign(null, receiptMessage(key.name, index, leafHash), key.privateKey);
  return Buffer.concat([key.keyId, signature]).toString('base64');
}

/** Does `receipt` (one alone, or one of a run) show that the hub sequenced `leafHash` at `index`? */
export function verifyReceipt(verifier: LogVerifier, index: number, leafHash: Uint8Array, receipt: string): boolean {
  const opened = openReceipt(verifier, index, leafHash, receipt);
  if (opened === undefined) return false;
  if (opened.memo === undefined) return verify(null, opened.message, verifier.publicKey, opened.signature);
  const memo = memoOf(checkedRuns, verifier);
  let ok = memo.get(opened.memo);
  if (ok === undefined) {
    ok = verify(null, opened.message, verifier.publicKey, opened.signature);
    memo.set(opened.memo, ok);
  }
  return ok;
}

/**
 * verifyReceipt with the signature checked on libuv's thread pool (node:crypto's
 * asynchronous verify): many are checked at once on as many cores, off the
 * caller's thread. A run's signature is checked once for all its receipts.
 */
export function verifyReceiptAsync(verifier: LogVerifier, index: number, leafHash: Uint8Array, receipt: string): Promise<boolean> {
  const opened = openReceipt(verifier, index, leafHash, receipt);
  return opened === undefined ? Promise.resolve(false) : checkAsync(verifier, opened);
}

function checkAsync(verifier: LogVerifier, opened: OpenedReceipt): Promise<boolean> {
  const memo = opened.memo === undefined ? undefined : memoOf(pendingRuns, verifier);
  const had = opened.memo === undefined ? undefined : memo?.get(opened.memo);
  if (had !== undefined) return had;
  const checking = new Promise<boolean>((resolve) => {
    verify(null, opened.message, verifier.publicKey, opened.signature, (err, ok) => {
      resolve(err === null && ok);
    });
  });
  if (opened.memo !== undefined) memo?.set(opened.memo, checking);
  return checking;
}

/** One entry's place, leaf hash and receipt, as a verifier holds them. */
export interface ReceiptEntry {
  index: number;
  leaf: Uint8Array;
  receipt: string;
}

/** Base64 characters of a run receipt's key ID, signature and place (78 bytes, a multiple of three): the same for every receipt of the run. */
const RUN_PREFIX_CHARS = 104;

/**
 * Whether two receipts were signed in the same run (same key ID, signature and
 * place), from their text alone. Receipts signed alone are never in a run.
 */
export function sameRun(a: string, b: string): boolean {
  return a.length > RUN_PREFIX_CHARS && b.length > RUN_PREFIX_CHARS && a.startsWith(b.slice(0, RUN_PREFIX_CHARS));
}

/** The size of the run a receipt says it was signed in, from its text (1 for a receipt signed alone, or one that cannot be read): when a reader has all of a run. */
export function runSizeOf(receipt: string): number {
  if (receipt.length <= RUN_PREFIX_CHARS) return 1;
  // Characters 100 to 103 are bytes 75 to 77: the last byte of the first index, then the size.
  const place = Buffer.from(receipt.slice(RUN_PREFIX_CHARS - 4, RUN_PREFIX_CHARS), 'base64');
  return place.length === 3 ? Math.max(1, place.readUInt16BE(1)) : 1;
}

/**
 * Reads the receipts of one whole run together: the entries of the run, every
 * one, in order. Their run tree is built from their leaves once (one hash per
 * entry, where each receipt alone takes its path's length), and each receipt
 * must be exactly the one the signer wrote for its entry: the run's
 * signature and place, then the entry's audit path in that tree. Gives the
 * message the run's signature must sign, or undefined when the entries are
 * not a whole run with true receipts (then check each alone, to name which).
 */
export function openRun(verifier: LogVerifier, entries: readonly ReceiptEntry[]): OpenedReceipt | undefined {
  const head = entries[0];
  if (head === undefined || head.receipt.length > MAX_RECEIPT_CHARS) return undefined;
  const raw = strictBase64(head.receipt);
  if (raw === undefined || raw.length < 78 || (raw.length - 78) % 32 !== 0 || !sameBytes(raw.subarray(0, 4), verifier.keyId)) return undefined;
  const { first, size } = placeOf(raw);
  if (first === undefined || size !== entries.length) return undefined;
  if (entries.some((e, k) => e.index !== first + k || e.leaf.length !== 32)) return undefined;
  const { root, paths } = everyAuditPath(entries.map((e) => e.leaf));
  const prefix = head.receipt.slice(0, RUN_PREFIX_CHARS);
  for (const [k, entry] of entries.entries()) {
    if (entry.receipt !== prefix + Buffer.concat(paths[k] ?? []).toString('base64')) return undefined;
  }
  return runOpened(verifier, raw, first, size, root);
}

/** verifyReceiptAsync for the whole run openRun read: its one signature, checked on libuv's thread pool (once, however often asked). */
export function verifyRunAsync(verifier: LogVerifier, opened: OpenedReceipt): Promise<boolean> {
  return checkAsync(verifier, opened);
}

export interface OpenedReceipt {
  /** What the signature must sign. */
  message: Buffer;
  signature: Buffer;
  /** For a run's receipt: names its signature and signed message, so that the run is checked once. */
  memo: string | undefined;
}

/** Reads a receipt for the entry at `index`: the message its signature must sign, or undefined if it cannot be one for that place. */
function openReceipt(verifier: LogVerifier, index: number, leafHash: Uint8Array, receipt: string): OpenedReceipt | undefined {
  if (receipt.length > MAX_RECEIPT_CHARS) return undefined;
  const raw = strictBase64(receipt);
  if (raw === undefined || raw.length < 68 || !sameBytes(raw.subarray(0, 4), verifier.keyId)) return undefined;
  const signature = raw.subarray(4, 68);
  if (raw.length === 68) return { message: receiptMessage(verifier.name, index, leafHash), signature, memo: undefined };
  if (raw.length < 78 || (raw.length - 78) % 32 !== 0) return undefined;
  const { first, size } = placeOf(raw);
  if (first === undefined) return undefined;
  const path: Uint8Array[] = [];
  for (let at = 78; at < raw.length; at += 32) path.push(raw.subarray(at, at + 32));
  // Undefined unless the index falls in the run and the path has the length its position needs.
  const root = rootFromInclusion(leafHash, index - first, size, path);
  return root === undefined ? undefined : runOpened(verifier, raw, first, size, root);
}

/** A run receipt's place: its first index (undefined beyond what an index can be) and its size. */
function placeOf(raw: Buffer): { first: number | undefined; size: number } {
  const first = raw.readBigUInt64BE(68);
  const size = raw.readUInt16BE(76);
  return { first: first + BigInt(size) > BigInt(Number.MAX_SAFE_INTEGER) ? undefined : Number(first), size };
}

/** What a run receipt's signature must sign, given the root its entry led to; the memo names the signature and message. */
function runOpened(verifier: LogVerifier, raw: Buffer, first: number, size: number, root: Uint8Array): OpenedReceipt {
  const signature = raw.subarray(4, 68);
  const message = runMessage(verifier.name, first, size, root);
  return { message, signature, memo: `${signature.toString('base64')}\n${message.toString('latin1')}` };
}

// Each run's signature, once checked, for the receipts of its other entries. A pure function's
// memo, keyed by everything the check reads (the verifier, the message and the signature); kept small.
const MEMO_LIMIT = 256;
const checkedRuns = new WeakMap<LogVerifier, Map<string, boolean>>();
const pendingRuns = new WeakMap<LogVerifier, Map<string, Promise<boolean>>>();

function memoOf<T>(memos: WeakMap<LogVerifier, Map<string, T>>, verifier: LogVerifier): Map<string, T> {
  let memo = memos.get(verifier);
  if (memo === undefined || memo.size >= MEMO_LIMIT) {
    memo = new Map();
    memos.set(verifier, memo);
  }
  return memo;
}

function receiptMessage(name: string, index: number, leafHash: Uint8Array): Buffer {
  return Buffer.from(`eyhub-audit-entry/v1\n${name}\n${index}\n${Buffer.from(leafHash).toString('base64')}\n`, 'utf8');
}

function runMessage(name: string, first: number, size: number, root: Uint8Array): Buffer {
  return Buffer.from(`eyhub-audit-run/v1\n${name}\n${first}\n${size}\n${Buffer.from(root).toString('base64')}\n`, 'utf8');
}

/** Standard base64 (RFC 4648 section 4) with padding, refusing anything else. */
export function strictBase64(text: string): Buffer | undefined {
  if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(text)) return undefined;
  const bytes = Buffer.from(text, 'base64');
  return bytes.toString('base64') === text ? bytes : undefined;
}

function hasControl(text: string): boolean {
  // eslint-disable-next-line no-control-regex -- notes must not hold control characters
  return /[\u0000-\u001f\u007f]/.test(text);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
