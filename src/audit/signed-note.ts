import { createHash, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';

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
 * A per-entry receipt: the log key's signature over the entry's place and
 * leaf hash, made when the entry is sequenced (like a Certificate Transparency
 * SCT). Base64 of key ID || signature.
 */
export function signReceipt(key: LogKey, index: number, leafHash: Uint8Array): string {
  const signature = sign(null, receiptMessage(key.name, index, leafHash), key.privateKey);
  return Buffer.concat([key.keyId, signature]).toString('base64');
}

export function verifyReceipt(verifier: LogVerifier, index: number, leafHash: Uint8Array, receipt: string): boolean {
  const raw = strictBase64(receipt);
  if (raw?.length !== 68 || !sameBytes(raw.subarray(0, 4), verifier.keyId)) return false;
  return verify(null, receiptMessage(verifier.name, index, leafHash), verifier.publicKey, raw.subarray(4));
}

/**
 * verifyReceipt on libuv's thread pool (node:crypto's asynchronous verify):
 * many receipts are checked at once on as many cores, off the caller's thread.
 */
export function verifyReceiptAsync(verifier: LogVerifier, index: number, leafHash: Uint8Array, receipt: string): Promise<boolean> {
  const raw = strictBase64(receipt);
  if (raw?.length !== 68 || !sameBytes(raw.subarray(0, 4), verifier.keyId)) return Promise.resolve(false);
  return new Promise((resolve) => {
    verify(null, receiptMessage(verifier.name, index, leafHash), verifier.publicKey, raw.subarray(4), (err, ok) => {
      resolve(err === null && ok);
    });
  });
}

function receiptMessage(name: string, index: number, leafHash: Uint8Array): Buffer {
  return Buffer.from(`eyhub-audit-entry/v1\n${name}\n${index}\n${Buffer.from(leafHash).toString('base64')}\n`, 'utf8');
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
