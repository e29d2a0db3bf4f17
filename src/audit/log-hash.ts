import { createHash } from 'node:crypto';
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
  return createHash('sha256').update(Uint8Array.of(0)).update(canonicalJson(event), 'utf8').digest();
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
