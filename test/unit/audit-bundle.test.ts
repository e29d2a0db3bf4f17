import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { BUNDLE_TYPE, verifyBundle } from '../../src/audit/bundle.js';
import { leafHashBytes } from '../../src/audit/log-hash.js';
import { MerkleTree } from '../../src/audit/merkle-tree.js';
import { logKeyFromJwk, signCheckpoint, signReceipt, signReceipts, verifierKeyOf, type LogKey } from '../../src/audit/signed-note.js';

// Offline verification of bundles, on bundles made here the way the export
// makes them, then altered line by line as someone holding the file (or the
// database, or the key) could.

const newKey = (): LogKey => logKeyFromJwk('hub.test/audit-log', generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' }));
const key = newKey();
const T0 = Date.parse('2026-09-25T09:00:00Z');

const event = (i: number): Record<string, unknown> => ({
  resourceType: 'AuditEvent',
  id: `event-${i}`,
  recorded: new Date(T0 + i * 1000).toISOString(),
  outcome: '0',
  entity: [{ what: { reference: `Patient/p${i % 7}` } }],
});

interface Made {
  lines: string[];
  notes: Map<number, string>;
}

/** The sequencer's passes in these logs: 23 entries each, so receipts are signed in runs of 23 (the last shorter). */
const PASS = 23;

/**
 * A log of `size` entries with checkpoints at `checkpointSizes`, as the bundle [from, to). Receipts are signed in
 * runs, pass by pass, as the sequencer signs them; `receipts: 'alone'` signs each entry alone, as the hub did before.
 */
function bundleOf(
  size: number,
  checkpointSizes: number[],
  options: { from?: number; to?: number; signer?: LogKey; events?: (i: number) => Record<string, unknown>; receipts?: 'runs' | 'alone' } = {},
): Made {
  const signer = options.signer ?? key;
  const events = Array.from({ length: size }, (_, i) => (options.events ?? event)(i));
  const leaves = events.map((e) => leafHashBytes(e));
  const receipts =
    options.receipts === 'alone'
      ? leaves.map((leaf, i) => signReceipt(signer, i, leaf))
      : Array.from({ length: Math.ceil(size / PASS) }, (_, p) => signReceipts(signer, p * PASS, leaves.slice(p * PASS, (p + 1) * PASS))).flat();
  const tree = new MerkleTree();
  for (const leaf of leaves) tree.append(leaf);
  const notes = new Map(checkpointSizes.map((n) => [n, signCheckpoint({ origin: signer.name, treeSize: n, rootHash: tree.root(n), time: new Date(T0 + n * 1000) }, signer)]));
  const from = options.from ?? 0;
  const to = options.to ?? size;
  const header = { type: BUNDLE_TYPE, version: 1, origin: signer.name, verifierKey: verifierKeyOf(signer), from, to, exported: new Date(T0).toISOString(), frontier: tree.frontier(from).map((h) => Buffer.from(h).toString('base64')) };
  const lines = [JSON.stringify(header)];
  for (const [n, note] of notes) if (n >= from) lines.push(JSON.stringify({ type: 'checkpoint', note }));
  for (let i = from; i < to; i += 1) {
    lines.push(JSON.stringify({ type: 'entry', index: i, leafHash: Buffer.from(leaves[i] as Uint8Array).toString('hex'), receipt: receipts[i], event: events[i] }));
  }
  return { lines, notes };
}

/** The lines as a readline interface would give them, one at a time. */
async function* asLines(lines: readonly string[]): AsyncGenerator<string> {
  for (const line of lines) yield await Promise.resolve(line);
}

const pinned = verifierKeyOf(key);
/** `pinnedKey` null: trust the bundle's own key. */
const verify = (lines: readonly string[], saved?: string, pinnedKey: string | null = pinned) => verifyBundle(asLines(lines), { pinnedKey: pinnedKey ?? undefined, saved });

/** The line of entry `index` in a bundle starting at `from`, and a way to rewrite it. */
function entryLine(made: Made, index: number): { at: number; entry: { index: number; leafHash: string | null; receipt: string | null; event: Record<string, unknown> } } {
  const at = made.lines.findIndex((l) => l.includes('"type":"entry"') && (JSON.parse(l) as { index: number }).index === index);
  return { at, entry: JSON.parse(made.lines[at] ?? '') as never };
}

function withEntry(made: Made, index: number, change: (e: ReturnType<typeof entryLine>['entry']) => unknown): string[] {
  const { at, entry } = entryLine(made, index);
  const lines = [...made.lines];
  lines[at] = JSON.stringify(change(entry));
  return lines;
}

const rehashed = (e: { index: number; event: Record<string, unknown> }, event: Record<string, unknown>) => ({ ...e, event, leafHash: Buffer.from(leafHashBytes(event)).toString('hex') });

describe('a clean bundle', () => {
  it('verifies, against every checkpoint in it and the checkpoint saved earlier', async () => {
    const made = bundleOf(50, [10, 20, 37, 50]);
    const report = await verify(made.lines, made.notes.get(20));
    expect(report).toMatchObject({ ok: true, entries: 50, treeSize: 50, checkpointsChecked: 4, keySource: 'pinned', latest: { treeSize: 50 } });
    expect(report.warnings).toEqual([]);
  });

  it('verifies a stretch that starts after 0, from the compact range in its header', async () => {
    const made = bundleOf(50, [10, 20, 37, 50], { from: 23 });
    expect(await verify(made.lines, made.notes.get(37))).toMatchObject({ ok: true, entries: 27, treeSize: 50, checkpointsChecked: 2 });
  });

  it('says when the key was only the bundle\'s own', async () => {
    const report = await verify(bundleOf(5, [5]).lines, undefined, null);
    expect(report.ok).toBe(true);
    expect(report.keySource).toBe('bundle');
    expect(report.warnings.join(' ')).toMatch(/pin the key/);
  });
});

describe('a bundle someone changed is caught, naming the index', () => {
  const made = bundleOf(50, [10, 20, 37, 50]);

  it('an edited event (leaf hash left alone)', async () => {
    const lines = withEntry(made, 13, (e) => ({ ...e, event: { ...e.event, outcome: '8' } }));
    expect((await verify(lines)).finding).toMatchObject({ problem: 'event-changed', index: 13 });
  });

  it('an edited event with its leaf hash recomputed: its receipt names it', async () => {
    const lines = withEntry(made, 13, (e) => rehashed(e, { ...e.event, outcome: '8' }));
    expect((await verify(lines)).finding).toMatchObject({ problem: 'receipt-mismatch', index: 13 });
  });

  it('an edited event with no receipt to name it: the stretch between checkpoints', async () => {
    const lines = withEntry(made, 13, (e) => ({ ...rehashed(e, { ...e.event, outcome: '8' }), receipt: null }));
    const report = await verify(lines);
    expect(report.finding).toMatchObject({ problem: 'root-mismatch', index: 10, treeSize: 20 });
    expect(report.finding?.detail).toMatch(/index 10 to 19/);
  });

  it('a removed entry (a gap) and a removed entry with the rest renumbered', async () => {
    const { at } = entryLine(made, 30);
    const gap = made.lines.filter((_, i) => i !== at);
    expect((await verify(gap)).finding).toMatchObject({ problem: 'index-gap', index: 30 });
    const renumbered = gap.map((l) => {
      const e = JSON.parse(l) as { type: string; index: number };
      return e.type === 'entry' && e.index > 30 ? JSON.stringify({ ...e, index: e.index - 1 }) : l;
    });
    expect((await verify(renumbered)).finding).toMatchObject({ problem: 'receipt-mismatch', index: 30 });
  });

  it('a reordered pair (indices kept in order)', async () => {
    const a = entryLine(made, 21);
    const b = entryLine(made, 22);
    const lines = [...made.lines];
    lines[a.at] = JSON.stringify({ ...b.entry, index: 21 });
    lines[b.at] = JSON.stringify({ ...a.entry, index: 22 });
    expect((await verify(lines)).finding).toMatchObject({ problem: 'receipt-mismatch', index: 21 });
  });

  it('a reordered pair on either side of a run\'s end, and receipts swapped within a run', async () => {
    const a = entryLine(made, PASS - 1);
    const b = entryLine(made, PASS);
    const across = [...made.lines];
    across[a.at] = JSON.stringify({ ...b.entry, index: PASS - 1 });
    across[b.at] = JSON.stringify({ ...a.entry, index: PASS });
    expect((await verify(across)).finding).toMatchObject({ problem: 'receipt-mismatch', index: PASS - 1 });
    // Entries 14 and 15 edited and rehashed, each given the other's receipt (same run, same signature): 14 is named.
    const c = entryLine(made, 14);
    const d = entryLine(made, 15);
    const swapped = [...made.lines];
    swapped[c.at] = JSON.stringify({ ...rehashed(c.entry, { ...c.entry.event, outcome: '4' }), receipt: d.entry.receipt });
    swapped[d.at] = JSON.stringify({ ...rehashed(d.entry, { ...d.entry.event, outcome: '4' }), receipt: c.entry.receipt });
    expect((await verify(swapped)).finding).toMatchObject({ problem: 'receipt-mismatch', index: 14 });
  });

  it('a truncated tail: the bundle\'s own checkpoint, the saved checkpoint, or the header says so', async () => {
    const { at } = entryLine(made, 45);
    const cut = made.lines.slice(0, at);
    expect((await verify(cut)).finding).toMatchObject({ problem: 'truncated', index: 45, treeSize: 50 });
    const noLastCheckpoint = bundleOf(45, [10, 20, 37]);
    const saved = made.notes.get(50);
    expect((await verify(noLastCheckpoint.lines, saved)).finding).toMatchObject({ problem: 'truncated', index: 45, treeSize: 50 });
    const header = JSON.parse(noLastCheckpoint.lines[0] ?? '') as Record<string, unknown>;
    const lying = [JSON.stringify({ ...header, to: 50 }), ...noLastCheckpoint.lines.slice(1)];
    expect((await verify(lying)).finding).toMatchObject({ problem: 'truncated', index: 45 });
  });

  it('two checkpoints of the same size with different roots (a fork), in the bundle or against the saved one', async () => {
    // Whoever stole the key rewrote entry 3 and signed everything again: the bundle agrees with itself.
    const forged = bundleOf(50, [10, 20, 37, 50], { events: (i) => (i === 3 ? { ...event(i), outcome: '8' } : event(i)) });
    expect((await verify(forged.lines)).ok).toBe(true);
    const saved = made.notes.get(37) ?? '';
    const report = await verify(forged.lines, saved);
    expect(report.finding).toMatchObject({ problem: 'fork', treeSize: 37 });
    const both = [...forged.lines];
    both.splice(1, 0, JSON.stringify({ type: 'checkpoint', note: made.notes.get(50) }));
    expect((await verify(both)).finding).toMatchObject({ problem: 'fork', treeSize: 50 });
  });

  it('a checkpoint not signed by the pinned key, or altered', async () => {
    const stranger = bundleOf(20, [10, 20], { signer: newKey() });
    expect((await verify(stranger.lines)).finding).toMatchObject({ problem: 'bad-checkpoint' });
    const note = made.notes.get(20) ?? '';
    const altered = made.lines.map((l) => (l.includes('"type":"checkpoint"') && l.includes('\\n20\\n') ? JSON.stringify({ type: 'checkpoint', note: note.replace('\n20\n', '\n21\n') }) : l));
    expect((await verify(altered)).finding).toMatchObject({ problem: 'bad-checkpoint' });
  });

  it('a saved checkpoint from before the stretch cannot be checked against it, and says so', async () => {
    const late = bundleOf(50, [10, 20, 37, 50], { from: 25 });
    expect((await verify(late.lines, made.notes.get(10))).finding).toMatchObject({ problem: 'unverifiable', treeSize: 10 });
  });

  it('lines that are not a bundle\'s are refused with the line number', async () => {
    expect((await verify(['not json'])).finding?.detail).toMatch(/line 1 is not JSON/);
    expect((await verify([made.lines[0] ?? '', '{"type":"entry","index":0}'])).finding?.detail).toMatch(/line 2 is not an entry line/);
    expect((await verify([])).finding?.detail).toMatch(/empty/);
    const header = JSON.parse(made.lines[0] ?? '') as Record<string, unknown>;
    expect((await verify([JSON.stringify({ ...header, frontier: ['AAAA'] }), ...made.lines.slice(1)])).ok).toBe(false);
  });
});

describe('a log whose receipts were signed one by one (sequenced before receipts were signed in runs)', () => {
  const made = bundleOf(50, [10, 20, 37, 50], { receipts: 'alone' });

  it('verifies, and an edit with its leaf recomputed, a removed entry renumbered, or a reordered pair is named by its receipt', async () => {
    expect(await verify(made.lines, made.notes.get(20))).toMatchObject({ ok: true, entries: 50, checkpointsChecked: 4 });
    expect((await verify(withEntry(made, 13, (e) => rehashed(e, { ...e.event, outcome: '8' })))).finding).toMatchObject({ problem: 'receipt-mismatch', index: 13 });
    const { at } = entryLine(made, 30);
    const renumbered = made.lines
      .filter((_, i) => i !== at)
      .map((l) => {
        const e = JSON.parse(l) as { type: string; index: number };
        return e.type === 'entry' && e.index > 30 ? JSON.stringify({ ...e, index: e.index - 1 }) : l;
      });
    expect((await verify(renumbered)).finding).toMatchObject({ problem: 'receipt-mismatch', index: 30 });
  });

  it('past the last checkpoint, every receipt is checked in either form', async () => {
    // Entries 40 to 44 keep the receipts they were signed with alone; the rest are signed in runs.
    const mixed = bundleOf(45, [10, 20, 37]).lines.map((l) => {
      const e = JSON.parse(l) as { type: string; index: number };
      return e.type === 'entry' && e.index >= 40 ? JSON.stringify({ ...e, receipt: entryLine(made, e.index).entry.receipt }) : l;
    });
    expect(await verify(mixed)).toMatchObject({ ok: true, entries: 45 });
    const edited = mixed.map((l) => (l.includes('"index":41,') ? JSON.stringify(rehashed(JSON.parse(l) as { index: number; event: Record<string, unknown> }, { ...event(41), outcome: '8' })) : l));
    expect((await verify(edited)).finding).toMatchObject({ problem: 'receipt-mismatch', index: 41 });
  });
});
