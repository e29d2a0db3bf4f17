import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUNDLE_TYPE, verifyBundle, type BundleReport } from '../../src/audit/bundle.js';
import { hexMatches, splitEntryLine } from '../../src/audit/bundle-entry-line.js';
import { canonicalJson } from '../../src/audit/canonical-json.js';
import { auditLeafHash, leafHashBytes, leafHashInPlace, leafHashOfCanonical, leafHashOfCanonicalText } from '../../src/audit/log-hash.js';
import { MerkleTree } from '../../src/audit/merkle-tree.js';
import { logKeyFromJwk, signCheckpoint, signReceipts, verifierKeyOf } from '../../src/audit/signed-note.js';
import { bundleLines } from '../../src/cli/bundle-lines.js';

// The verifier's fast path: entry lines in the export's own layout, events as
// their canonical JSON, read as bytes and hashed as they stand. Every verdict
// must be the one the full parse gives (the same lines as strings).

const key = logKeyFromJwk('hub.test/audit-log', generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' }));
const pinnedKey = verifierKeyOf(key);
const T0 = Date.parse('2026-09-25T09:00:00Z');

const event = (i: number): Record<string, unknown> => ({
  resourceType: 'AuditEvent',
  id: `event-${i}`,
  recorded: new Date(T0 + i * 1000).toISOString(),
  outcome: '0',
  entity: [{ what: { reference: `Patient/p${i % 7}` }, detail: [{ type: 'note', valueString: `caf\u00e9 \ud83d\ude00 "${i}"\n` }] }],
  period: { n: i * 0.5, big: 1e21, small: 5e-7 },
});

/** As `hub audit export` writes an entry: the event's canonical JSON last. */
const exportLine = (index: number, leafHash: string | null, receipt: string | null, eventText: string): string =>
  `${JSON.stringify({ type: 'entry', index, leafHash, receipt }).slice(0, -1)},"event":${eventText}}`;

function bundleOf(events: readonly Record<string, unknown>[], checkpointSizes: readonly number[]): string[] {
  const tree = new MerkleTree();
  for (const e of events) tree.append(leafHashBytes(e));
  const header = { type: BUNDLE_TYPE, version: 1, origin: key.name, verifierKey: pinnedKey, from: 0, to: events.length, exported: new Date(T0).toISOString(), frontier: [] };
  const lines = [JSON.stringify(header)];
  for (const n of checkpointSizes) lines.push(JSON.stringify({ type: 'checkpoint', note: signCheckpoint({ origin: key.name, treeSize: n, rootHash: tree.root(n), time: new Date(T0 + n) }, key) }));
  // Receipts as the sequencer signs them, in runs (here one pass).
  const leaves = events.map((e) => leafHashBytes(e));
  const receipts = signReceipts(key, 0, leaves);
  events.forEach((e, i) => {
    lines.push(exportLine(i, Buffer.from(leaves[i] as Uint8Array).toString('hex'), receipts[i] ?? null, canonicalJson(e)));
  });
  return lines;
}

async function* asStrings(lines: readonly string[]): AsyncGenerator<string> {
  for (const line of lines) yield await Promise.resolve(line);
}

async function* asBytes(lines: readonly (string | Buffer)[]): AsyncGenerator<Buffer> {
  for (const line of lines) yield await Promise.resolve(typeof line === 'string' ? Buffer.from(line, 'utf8') : line);
}

const verdict = (r: BundleReport): unknown => ({ ok: r.ok, problem: r.finding?.problem, index: r.finding?.index, entries: r.entries, checked: r.checkpointsChecked });

/** The verdict over bytes (fast path where it applies) and over strings (the full parse) must agree. */
async function bothWays(lines: readonly (string | Buffer)[]): Promise<BundleReport> {
  const fast = await verifyBundle(asBytes(lines), { pinnedKey });
  const full = await verifyBundle(asStrings(lines.map((l) => (typeof l === 'string' ? l : l.toString('utf8')))), { pinnedKey });
  expect(verdict(fast)).toEqual(verdict(full));
  return fast;
}

const events = Array.from({ length: 30 }, (_, i) => event(i));
const clean = bundleOf(events, [10, 20]);
const at = (index: number): number => clean.findIndex((l) => l.startsWith(`{"type":"entry","index":${index},`));
const replaced = (index: number, line: string): string[] => clean.map((l, i) => (i === at(index) ? line : l));
const parts = (index: number): { leafHash: string; receipt: string; event: string } => {
  const line = clean[at(index)] ?? '';
  const parsed = JSON.parse(line) as { leafHash: string; receipt: string };
  return { leafHash: parsed.leafHash, receipt: parsed.receipt, event: line.slice(line.indexOf(',"event":') + 9, -1) };
};

describe('splitEntryLine', () => {
  it('takes an exported entry line apart, the event left as bytes', () => {
    const line = Buffer.from(clean[at(12)] ?? '');
    const got = splitEntryLine(line);
    expect(got).toMatchObject({ index: 12, receipt: parts(12).receipt });
    expect(line.toString('latin1', got?.leafHashAt ?? 0, (got?.leafHashAt ?? 0) + 64)).toBe(parts(12).leafHash);
    expect(hexMatches(line, got?.leafHashAt ?? 0, Buffer.from(parts(12).leafHash, 'hex'))).toBe(true);
    expect(hexMatches(line, got?.leafHashAt ?? 0, Buffer.from(parts(13).leafHash, 'hex'))).toBe(false);
    expect(leafHashInPlace(line, got?.eventStart ?? 1, line.length - 1).toString('hex')).toBe(parts(12).leafHash);
    expect(line.toString()).toBe(clean[at(12)]);
    expect(line.subarray(got?.eventStart, -1).toString()).toBe(canonicalJson(events[12]));
  });

  it.each([
    ['spaces', (l: string) => l.replace('"index":', '"index": ')],
    ['members in another order', (l: string) => l.replace('{"type":"entry",', '{"entry":1,"type":"entry",')],
    ['a leading zero', (l: string) => l.replace('"index":12', '"index":012')],
    ['an upper-case leaf hash', (l: string) => l.replace(/"leafHash":"([0-9a-f]{64})"/, (_m, h: string) => `"leafHash":"${h.toUpperCase()}"`)],
    ['an escape in the receipt', (l: string) => l.replace('"receipt":"', '"receipt":"\\u0041')],
    ['a trailing carriage return', (l: string) => `${l}\r`],
    ['an event that is not an object', (l: string) => `${l.slice(0, l.indexOf(',"event":'))},"event":[1]}`],
    ['a null event', (l: string) => `${l.slice(0, l.indexOf(',"event":'))},"event":null}`],
    ['an index too long to be exact', (l: string) => l.replace('"index":12', '"index":1234567890123456')],
  ])('leaves a line with %s to the full parse', (_name, change) => {
    expect(splitEntryLine(Buffer.from(change(clean[at(12)] ?? '')))).toBeUndefined();
  });

  it('reads null leaf hashes and receipts', () => {
    expect(splitEntryLine(Buffer.from(exportLine(3, null, null, '{}')))).toMatchObject({ index: 3, leafHashAt: null, receipt: null });
  });
});

describe('the leaf hash of canonical bytes', () => {
  it('is the leaf hash of the event they encode (property, unicode, escapes, numbers)', () => {
    const tricky = fc.constantFrom<unknown>('\ud83d\ude00', '\u2028', '"\\\u0000\u001f', -0, 1e21, 5e-7, 1e-7, 0.1 + 0.2, Number.MAX_SAFE_INTEGER, 'caf\u00e9');
    const value = fc.dictionary(fc.string({ unit: 'binary' }), fc.oneof(fc.jsonValue(), tricky));
    fc.assert(
      fc.property(value, (v) => {
        expect(Buffer.from(leafHashOfCanonical(Buffer.from(canonicalJson(v), 'utf8'))).toString('hex')).toBe(Buffer.from(leafHashBytes(v)).toString('hex'));
        // As the hub stores an event: its canonical text hashed (audit-queries.ts), the same leaf hash.
        expect(leafHashOfCanonicalText(canonicalJson(v))).toBe(auditLeafHash(v));
      }),
      { numRuns: 300 },
    );
  });
});

describe('verifying exported lines as bytes', () => {
  it('verifies a clean bundle, as the full parse does', async () => {
    expect(await bothWays(clean)).toMatchObject({ ok: true, entries: 30, treeSize: 30, checkpointsChecked: 2 });
  });

  it('still verifies an event written in another key order or spacing (the full parse)', async () => {
    const p = parts(13);
    const reordered = JSON.stringify(Object.fromEntries(Object.entries(events[13] ?? {}).reverse()), null, 1).replace(/\n/g, ' ');
    expect((await bothWays(replaced(13, exportLine(13, p.leafHash, p.receipt, reordered)))).ok).toBe(true);
  });

  it('names an edited event, its leaf hash left alone', async () => {
    const p = parts(13);
    const lines = replaced(13, exportLine(13, p.leafHash, p.receipt, p.event.replace('"outcome":"0"', '"outcome":"8"')));
    expect((await bothWays(lines)).finding).toMatchObject({ problem: 'event-changed', index: 13 });
  });

  it('names an event edited to hold a value canonical JSON refuses (a number past double range, a lone surrogate), rather than failing', async () => {
    for (const value of ['1e999', '-1e999', '"\\ud800"']) {
      const p = parts(13);
      const lines = replaced(13, exportLine(13, p.leafHash, p.receipt, p.event.replace('"outcome":"0"', `"outcome":${value}`)));
      expect((await bothWays(lines)).finding).toMatchObject({ problem: 'event-changed', index: 13 });
    }
  });

  it('names an edited event whose leaf hash was recomputed over its new bytes', async () => {
    const p = parts(13);
    const edited = p.event.replace('"outcome":"0"', '"outcome":"8"');
    const leaf = Buffer.from(leafHashOfCanonical(Buffer.from(edited))).toString('hex');
    expect((await bothWays(replaced(13, exportLine(13, leaf, p.receipt, edited)))).finding).toMatchObject({ problem: 'receipt-mismatch', index: 13 });
  });

  it('names an event with the same content in other bytes whose stored leaf hash was made to match those bytes', async () => {
    const p = parts(25);
    const spaced = p.event.replace('{"entity"', '{ "entity"');
    const leaf = Buffer.from(leafHashOfCanonical(Buffer.from(spaced))).toString('hex');
    // The full parse finds the stored leaf hash is not the event's; the fast path finds the receipt does not sign those bytes.
    const fast = await verifyBundle(asBytes(replaced(25, exportLine(25, leaf, p.receipt, spaced))), { pinnedKey });
    expect(fast.ok).toBe(false);
    expect(fast.finding?.index).toBe(25);
  });

  it('names a reordered pair and a removed entry', async () => {
    const a = clean[at(21)] ?? '';
    const b = clean[at(22)] ?? '';
    const swapped = clean.map((l, i) => (i === at(21) ? b.replace('"index":22', '"index":21') : i === at(22) ? a.replace('"index":21', '"index":22') : l));
    expect((await bothWays(swapped)).finding).toMatchObject({ problem: 'receipt-mismatch', index: 21 });
    expect((await bothWays(clean.filter((_, i) => i !== at(5)))).finding).toMatchObject({ problem: 'index-gap', index: 5 });
  });

  it('refuses bytes that are not JSON past the last checkpoint, even when the stored leaf hash is theirs', async () => {
    const garbage = '{not json at all';
    const leaf = Buffer.from(leafHashOfCanonical(Buffer.from(garbage))).toString('hex');
    const withReceipt = await verifyBundle(asBytes(replaced(27, exportLine(27, leaf, parts(27).receipt, garbage))), { pinnedKey });
    expect(withReceipt.finding).toMatchObject({ problem: 'receipt-mismatch', index: 27 });
    expect((await bothWays(replaced(27, exportLine(27, leaf, null, garbage)))).finding?.detail).toMatch(/not JSON/);
  });

  it('checks every receipt past the last checkpoint (ahead, on the thread pool) and names the first bad one', async () => {
    const noCheckpoint = bundleOf(events, []);
    expect(await bothWays(noCheckpoint)).toMatchObject({ ok: true, entries: 30, checkpointsChecked: 0 });
    const receiptOf = (i: number): string => (JSON.parse(noCheckpoint[1 + i] ?? '') as { receipt: string }).receipt;
    const swapped = noCheckpoint.map((l, i) => (i === 1 + 17 ? l.replace(receiptOf(17), receiptOf(18)) : i === 1 + 18 ? l.replace(receiptOf(18), receiptOf(17)) : l));
    expect((await bothWays(swapped)).finding).toMatchObject({ problem: 'receipt-mismatch', index: 17 });
    const late = noCheckpoint.map((l, i) => (i === 1 + 29 ? l.replace(receiptOf(29), receiptOf(3)) : l));
    expect((await bothWays(late)).finding).toMatchObject({ problem: 'receipt-mismatch', index: 29 });
  });

  it('agrees with the full parse whatever single byte of an entry is changed (property)', async () => {
    const small = bundleOf(events.slice(0, 12), [8]);
    // Line 0 is the header, line 1 the checkpoint, then the entries.
    const firstEntry = 2;
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: small.length - 1 }), fc.nat(), fc.integer({ min: 0x20, max: 0x7e }), async (lineAt, pos, byte) => {
        const line = Buffer.from(small[lineAt] ?? '');
        const changed = Buffer.from(line);
        changed[pos % line.length] = byte;
        const lines = small.map((l, i) => (i === lineAt ? changed : l));
        const report = await bothWays(lines);
        if (report.ok && lineAt >= firstEntry) {
          // A change the verifier accepts leaves the entry's place and event as they were (receipts under a matched root are not read).
          const entry = (l: Buffer): unknown => {
            const { index, event: e } = JSON.parse(l.toString()) as { index: number; event: unknown };
            return { index, event: e };
          };
          expect(entry(changed)).toEqual(entry(line));
        }
      }),
      { numRuns: 150 },
    );
  });
});

describe('bundleLines', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'bundle-lines-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('gives each line\'s bytes, across chunk boundaries, long lines and CRLF, as readline gave them', async () => {
    const lines = ['', 'a', 'x'.repeat(50), 'caf\u00e9 \ud83d\ude00', '', 'y'.repeat(7), 'last'];
    const file = path.join(dir, 'lines.txt');
    await writeFile(file, `${lines.slice(0, 3).join('\r\n')}\r\n${lines.slice(3).join('\n')}`);
    for (const chunk of [1, 3, 16, 1 << 20]) {
      const got: string[] = [];
      for await (const line of bundleLines(file, { chunkBytes: chunk })) got.push(line.toString('utf8'));
      expect(got).toEqual(lines);
    }
  });

  it('verifies a bundle read from a file', async () => {
    const file = path.join(dir, 'bundle.jsonl');
    await writeFile(file, `${clean.join('\n')}\n`);
    expect(await verifyBundle(bundleLines(file, { chunkBytes: 4096 }), { pinnedKey })).toMatchObject({ ok: true, entries: 30, checkpointsChecked: 2 });
  });
});
