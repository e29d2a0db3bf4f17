import { createHash, hash } from 'node:crypto';
import { canonicalJson } from './canonical-json.js';

/** The chain's value before the first entry: 32 zero bytes. */
export const EMPTY_CHAIN = '0'.repeat(64);

/** RFC 6962 section 2.1 leaf hash: SHA-256(0x00 || entry). See: https://www.rfc-editor.org/rfc/rfc6962#section-2.1 */
export function leafHash(entry: Uint8Array): string {
  return createHash('sha256').update(Uint8Array.of(0)).update(entry).digest('hex');
}

/** Leaf hash of an audit event: over its RFC 8785 canonical JSON, UTF-8. */
export function auditLeafHash(event: unknown): string {
  return Buffer.from(leafHashBytes(event)).toString('hex');
}

/** Hash chain link: SHA-256(prev || leaf), both as raw 32-byte values. */
export function chainHash(prevHex: string, leafHex: string): string {
  return createHash('sha256').update(Buffer.from(prevHex, 'hex')).update(Buffer.from(leafHex, 'hex')).digest('hex');
}

/** The leaf hash of an audit event as 32 raw bytes. */
export function leafHashBytes(event: unknown): Uint8Array {
  return createHash('sha256').update(ZERO).update(canonicalJson(event), 'utf8').digest();
}

/** auditLeafHash of the event whose RFC 8785 canonical JSON is `canonical`, in hex, for a caller that needs the text too. */
export function leafHashOfCanonicalText(canonical: string): string {
  return createHash('sha256').update(ZERO).update(canonical, 'utf8').digest('hex');
}

/**
 * leafHashOfCanonical(bytes[start, end)) for bytes not at the start of their
 * buffer, hashed where they lie in one call: the byte before them is set to
 * the 0x00 prefix for the call and put back at once (a Hash object per leaf
 * cost as much as the hashing of a whole bundle line).
 */
export function leafHashInPlace(bytes: Uint8Array, start: number, end: number): Buffer {
  if (start < 1 || end < start || end > bytes.length) throw new RangeError('leafHashInPlace needs a byte before the hashed ones');
  const before = bytes[start - 1] as number;
  bytes[start - 1] = 0;
  try {
    return hash('sha256', bytes.subarray(start - 1, end), 'buffer');
  } finally {
    bytes[start - 1] = before;
  }
}

/**
 * The leaf hash of an event given as its RFC 8785 canonical JSON bytes,
 * hashed as they stand (a bundle line's event): leafHashBytes(JSON.parse(bytes))
 * whenever the bytes are canonical.
 */
export function leafHashOfCanonical(canonical: Uint8Array): Buffer {
  return createHash('sha256').update(ZERO).update(canonical).digest();
}

const ZERO = Uint8Array.of(0);
