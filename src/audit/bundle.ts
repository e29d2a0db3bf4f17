import { z } from 'zod';
import { hexMatches, splitEntryLine } from './bundle-entry-line.js';
import { leafHashInPlace } from './log-hash.js';
import { AuditLogVerifier, type LogVerdict } from './log-verifier.js';
import { ReceiptPrefetch } from './receipt-prefetch.js';
import { parseVerifierKey, strictBase64, type LogVerifier } from './signed-note.js';

// An audit bundle: one JSON Lines file that lets anyone check a stretch of the
// log offline. Line 1 is the header (the log, its public key, the stretch and
// the compact range of the entries before it); then every signed checkpoint
// whose size falls in the stretch; then the entries, in index order, each with
// its stored leaf hash, its receipt and its event as its RFC 8785 canonical
// JSON (older exports wrote it in jsonb's key order: still read, by the full
// parse).

export const BUNDLE_TYPE = 'eyhub-audit-bundle';

export const bundleHeader = z.object({
  type: z.literal(BUNDLE_TYPE),
  version: z.literal(1),
  origin: z.string().min(1),
  /** The log's verifier key, as GET /audit/checkpoint gives it. Pin your own copy with --key. */
  verifierKey: z.string().min(1),
  /** First index in the bundle, and one past the last. */
  from: z.number().int().min(0),
  to: z.number().int().min(0),
  exported: z.string(),
  /** The compact range of entries [0, from): base64 hashes, largest subtree first. */
  frontier: z.array(z.string()),
});
export type BundleHeader = z.infer<typeof bundleHeader>;

export const bundleCheckpoint = z.object({ type: z.literal('checkpoint'), note: z.string().min(1) });

export const bundleEntry = z.object({
  type: z.literal('entry'),
  index: z.number().int().min(0),
  leafHash: z.string().regex(/^[0-9a-f]{64}$/).nullable(),
  receipt: z.string().nullable(),
  /** Null when the stored event is gone (the verifier names that index). */
  event: z.record(z.string(), z.unknown()).nullable(),
});
export type BundleEntry = z.infer<typeof bundleEntry>;

export interface BundleReport extends LogVerdict {
  header?: BundleHeader | undefined;
  /** Where the verifier key came from: pinned by the reader, or the bundle's own (weaker). */
  keySource: 'pinned' | 'bundle';
}

/**
 * Verifies a bundle read line by line. `pinnedKey` is the verifier key the
 * reader trusts (else the bundle's own, with a warning); `saved` is a
 * checkpoint note she kept from an earlier look.
 */
export async function verifyBundle(lines: AsyncIterable<string | Buffer>, options: { pinnedKey?: string | undefined; saved?: string | undefined } = {}): Promise<BundleReport> {
  let header: BundleHeader | undefined;
  let verifier: AuditLogVerifier | undefined;
  let prefetch: ReceiptPrefetch | undefined;
  let uncoveredFrom: number | undefined;
  let keySource: BundleReport['keySource'] = 'bundle';
  let lineNo = 0;
  let expectEntries = false;
  const fail = (detail: string): BundleReport => ({
    ok: false,
    entries: 0,
    treeSize: 0,
    checkpointsChecked: 0,
    finding: { problem: 'bad-checkpoint', detail },
    warnings: [],
    header,
    keySource,
  });
  for await (const raw of lines) {
    lineNo += 1;
    if (typeof raw !== 'string' && verifier !== undefined && prefetch !== undefined && !verifier.failed) {
      // An entry line in the export's own layout: its event's bytes are hashed as they stand (bundle-entry-line.ts).
      const pushed = pushExact(verifier, raw);
      if (pushed !== undefined) {
        // Past the last checkpoint every receipt is checked: start on them now, on the thread pool.
        uncoveredFrom ??= verifier.checkpointedSize;
        if (pushed.index >= uncoveredFrom && !verifier.failed) await prefetch.start(pushed.index, pushed.leaf, pushed.receipt);
        expectEntries = true;
        continue;
      }
    }
    const line = (typeof raw === 'string' ? raw : raw.toString('utf8')).trim();
    if (line === '') continue;
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch {
      return fail(`bundle line ${lineNo} is not JSON`);
    }
    if (header === undefined) {
      const parsed = bundleHeader.safeParse(json);
      if (!parsed.success) return fail(`bundle line 1 is not an ${BUNDLE_TYPE} header: ${parsed.error.issues[0]?.path.join('.') ?? ''} ${parsed.error.issues[0]?.message ?? ''}`);
      header = parsed.data;
      const key = resolveKey(options.pinnedKey, header.verifierKey);
      if (!key.ok) return fail(key.reason);
      keySource = key.source;
      const frontier = header.frontier.map((h) => strictBase64(h));
      if (frontier.some((h) => h?.length !== 32)) return fail('the bundle header\'s frontier holds a hash that is not base64 of 32 bytes');
      try {
        prefetch = new ReceiptPrefetch(key.verifier);
        verifier = new AuditLogVerifier(key.verifier, { size: header.from, frontier: frontier as Buffer[] }, { checkReceipt: prefetch.check });
      } catch (err) {
        return fail(`the bundle header's frontier does not fit its start: ${(err as Error).message}`);
      }
      if (key.source === 'bundle') verifier.warnings.push('the verifier key was taken from the bundle itself: pin the key you saved with --key');
      if (options.saved !== undefined) verifier.addSaved(options.saved);
      continue;
    }
    if (verifier === undefined) return fail('no header');
    if (verifier.failed) break;
    const kind = (json as { type?: unknown }).type;
    if (kind === 'checkpoint' && !expectEntries) {
      const cp = bundleCheckpoint.safeParse(json);
      if (!cp.success) return fail(`bundle line ${lineNo} is not a checkpoint line`);
      verifier.addCheckpoint(cp.data.note, `the bundle's checkpoint on line ${lineNo}`);
      continue;
    }
    if (kind === 'entry') {
      expectEntries = true;
      const entry = bundleEntry.safeParse(json);
      if (!entry.success) return fail(`bundle line ${lineNo} is not an entry line: ${entry.error.issues[0]?.path.join('.') ?? ''} ${entry.error.issues[0]?.message ?? ''}`);
      verifier.push(entry.data);
      continue;
    }
    return fail(`bundle line ${lineNo} is neither a checkpoint (before the entries) nor an entry`);
  }
  if (header === undefined || verifier === undefined) return fail('the bundle is empty');
  await prefetch?.settle();
  const verdict = verifier.finish();
  if (verdict.ok && verdict.treeSize < header.to) {
    return { ...verdict, ok: false, finding: { problem: 'truncated', index: verdict.treeSize, treeSize: header.to, detail: `the bundle's header says it holds entries up to ${header.to - 1}, but they end at ${verdict.treeSize - 1}: entries from index ${verdict.treeSize} are missing` }, header, keySource };
  }
  return { ...verdict, header, keySource };
}

/**
 * Feeds an entry line whose event bytes hash to the leaf hash stored beside
 * them; undefined (nothing fed) for any other line, which is then parsed in full.
 * Entries without a receipt are always parsed: past the last checkpoint
 * nothing signed would vouch for their bytes.
 */
function pushExact(verifier: AuditLogVerifier, line: Buffer): { index: number; leaf: Uint8Array; receipt: string } | undefined {
  const parts = splitEntryLine(line);
  if (parts === undefined || parts.leafHashAt === null || parts.receipt === null) return undefined;
  const leaf = leafHashInPlace(line, parts.eventStart, line.length - 1);
  if (!hexMatches(line, parts.leafHashAt, leaf)) return undefined;
  verifier.push({ index: parts.index, event: undefined, leaf, receipt: parts.receipt });
  return { index: parts.index, leaf, receipt: parts.receipt };
}

function resolveKey(pinned: string | undefined, own: string): { ok: true; verifier: LogVerifier; source: 'pinned' | 'bundle' } | { ok: false; reason: string } {
  const text = pinned ?? own;
  const parsed = parseVerifierKey(text);
  if (!parsed.ok) return { ok: false, reason: `${pinned === undefined ? 'the bundle\'s' : 'the pinned'} verifier key is not usable: ${parsed.reason}` };
  return { ok: true, verifier: parsed.value, source: pinned === undefined ? 'bundle' : 'pinned' };
}
