import type { ChainVerdict } from '../audit/verify-chain.js';
import { ChainVerifier } from '../audit/verify-chain.js';
import type { LogKey } from '../audit/signed-note.js';
import type { Db } from '../db/database.js';
import { drainAuditQueue, findOrphanEvents, readLogRows } from '../db/audit-queries.js';
import { catchUpTiles } from '../db/audit-tile-queries.js';
import { StoredTileCheck } from './tile-check.js';

export type AuditVerifyReport =
  | (Extract<ChainVerdict, { ok: true }> & { sequenced: number })
  | (Extract<ChainVerdict, { ok: false }> & { sequenced: number })
  | { ok: false; problem: 'orphan-event'; index: number; eventSeq: number; detail: string; sequenced: number }
  /** A stored tile disagrees with the verified leaf hashes; index is the first entry it covers. */
  | { ok: false; problem: 'tile-mismatch'; index: number; tile: { level: number; index: number }; detail: string; sequenced: number };

/**
 * Checks the whole log: every entry's event still hashes to its leaf, the chain
 * is unbroken, indices have no gaps, no event sits outside the log, and the
 * stored tiles are the ones the verified leaf hashes make. Names the first bad
 * index (and, for tiles, the first bad tile).
 */
export async function verifyAuditLog(db: Db, now: () => Date, key?: LogKey): Promise<AuditVerifyReport> {
  const sequenced = await drainAuditQueue(db, now, key);
  // A log sequenced before migration 0012 gets its tiles here, from its stored leaf hashes, as at a start
  // (only after the last stored tile: a tile removed from the middle stays missing, and is reported).
  await catchUpTiles(db);
  const verifier = new ChainVerifier();
  const tiles = new StoredTileCheck(db);
  for await (const row of readLogRows(db)) {
    if (!verifier.push(row)) break;
    await tiles.push(row.leafHash);
  }
  const verdict = verifier.verdict();
  if (!verdict.ok) return { ...verdict, sequenced };
  const badTile = await tiles.finish();
  if (badTile !== undefined) {
    return { ok: false, problem: 'tile-mismatch', index: badTile.firstEntry, tile: { level: badTile.level, index: badTile.index }, detail: badTile.detail, sequenced };
  }
  const orphans = await findOrphanEvents(db);
  const first = orphans[0];
  if (first !== undefined) {
    return {
      ok: false,
      problem: 'orphan-event',
      index: verdict.size,
      eventSeq: first,
      detail: `audit_event seq ${first} is in no log entry: a row was inserted behind the sequencer`,
      sequenced,
    };
  }
  return { ...verdict, sequenced };
}
