// The fast reading of a bundle's entry line (bundle.ts), for the verifier.
//
// `hub audit export` writes each entry as
//   {"type":"entry","index":N,"leafHash":"<hex>","receipt":"<base64>","event":<event>}
// with the event as its RFC 8785 canonical JSON: the very bytes its leaf hash
// was computed over. This takes such a line apart without parsing the event,
// so the verifier can hash the event's bytes as they stand. Anything else
// (other spacing or member order, escapes, a trailing carriage return, an
// older export with the event in jsonb's key order) gives undefined, and the
// verifier parses the line and re-canonicalises the event, as before.
//
// Why the event need not be parsed or checked for canonical form: its leaf,
// SHA-256(0x00 || bytes), goes into the tree whose roots the checkpoints sign
// and is what the receipts sign. If it matches, the bytes are the canonical
// JSON the hub hashed (SHA-256 being collision resistant), hence canonical and
// valid JSON; if not, the root or the receipt fails, as for any other edit.

import { MAX_RECEIPT_CHARS } from './signed-note.js';

export interface EntryLineParts {
  index: number;
  /** Where the stored leaf hash's 64 lower-case hex digits start in the line, or null. */
  leafHashAt: number | null;
  /** Base64 characters only (strictBase64 is applied where it is checked), or null. */
  receipt: string | null;
  /** Where the event's bytes start in the line; they run to its last byte but one (the closing brace). */
  eventStart: number;
}

const PREFIX = ascii('{"type":"entry","index":');
const LEAF = ascii(',"leafHash":');
const RECEIPT = ascii(',"receipt":');
const EVENT = ascii(',"event":');
const NULL = ascii('null');
const HEX = ascii('0123456789abcdef');
const QUOTE = 0x22;
const OPEN = 0x7b;
const CLOSE = 0x7d;
/** The longest receipt's base64 (signed-note.ts); a longer line is left to the full parse, and its receipt fails. */
const MAX_RECEIPT = MAX_RECEIPT_CHARS;
/** Indices up to 15 digits are exact as numbers and have one decimal form. */
const MAX_INDEX_DIGITS = 15;

/** The parts of an entry line in the export's exact layout, or undefined. */
export function splitEntryLine(line: Buffer): EntryLineParts | undefined {
  const end = line.length - 1;
  if (end < PREFIX.length + 1 || line[end] !== CLOSE || !matches(line, 0, PREFIX)) return undefined;
  let at = PREFIX.length;

  // The index: digits, no leading zero (JSON.parse's and zod's int >= 0 for these).
  const first = at;
  let index = 0;
  while (at < end && isDigit(line[at])) {
    index = index * 10 + ((line[at] as number) - 0x30);
    at += 1;
  }
  const digits = at - first;
  if (digits === 0 || digits > MAX_INDEX_DIGITS || (digits > 1 && line[first] === 0x30)) return undefined;

  if (!matches(line, at, LEAF)) return undefined;
  at += LEAF.length;
  let leafHashAt: number | null = null;
  if (matches(line, at, NULL)) at += NULL.length;
  else {
    if (line[at] !== QUOTE || line[at + 65] !== QUOTE) return undefined;
    for (let i = at + 1; i <= at + 64; i += 1) if (!isLowerHex(line[i])) return undefined;
    leafHashAt = at + 1;
    at += 66;
  }

  if (!matches(line, at, RECEIPT)) return undefined;
  at += RECEIPT.length;
  let receipt: string | null = null;
  if (matches(line, at, NULL)) at += NULL.length;
  else {
    if (line[at] !== QUOTE) return undefined;
    const start = at + 1;
    let i = start;
    while (i < end && i - start <= MAX_RECEIPT && isBase64Char(line[i])) i += 1;
    if (line[i] !== QUOTE || i - start > MAX_RECEIPT) return undefined;
    receipt = latin1(line, start, i);
    at = i + 1;
  }

  if (!matches(line, at, EVENT)) return undefined;
  at += EVENT.length;
  // The event is an object (the bundle's schema); its bytes end before the line's closing brace.
  if (at >= end || line[at] !== OPEN) return undefined;
  return { index, leafHashAt, receipt, eventStart: at };
}

/** Whether the 64 hex digits at `at` in the line (checked by splitEntryLine) spell the 32 bytes of `hash`. */
export function hexMatches(line: Uint8Array, at: number, hash: Uint8Array): boolean {
  if (hash.length !== 32) return false;
  for (let i = 0; i < 32; i += 1) {
    const byte = hash[i] as number;
    if (line[at + 2 * i] !== HEX[byte >> 4] || line[at + 2 * i + 1] !== HEX[byte & 15]) return false;
  }
  return true;
}

function ascii(text: string): Uint8Array {
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}

function matches(line: Uint8Array, at: number, expected: Uint8Array): boolean {
  if (at + expected.length > line.length) return false;
  for (let i = 0; i < expected.length; i += 1) if (line[at + i] !== expected[i]) return false;
  return true;
}

function isDigit(b: number | undefined): boolean {
  return b !== undefined && b >= 0x30 && b <= 0x39;
}

function isLowerHex(b: number | undefined): boolean {
  return b !== undefined && ((b >= 0x30 && b <= 0x39) || (b >= 0x61 && b <= 0x66));
}

function isBase64Char(b: number | undefined): boolean {
  return b !== undefined && ((b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || (b >= 0x30 && b <= 0x39) || b === 0x2b || b === 0x2f || b === 0x3d);
}

/** ASCII bytes as a string (the caller checked they are ASCII). */
function latin1(line: Buffer, start: number, end: number): string {
  return line.toString('latin1', start, end);
}
