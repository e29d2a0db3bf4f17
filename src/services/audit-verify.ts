import type { ChainVerdict } from '../audit/verify-chain.js';
import { ChainVerifier } from '../audit/verify-chain.js';
import type { LogKey } from '../audit/signed-note.js';
import type { Db } from '../db/database.js';
import { drainAuditQueue, findOrphanEvents, readLogRows } from '../db/audit-queries.js';

export type AuditVerifyReport =
  | (Extract<ChainVerdict, { ok: true }> & { sequenced: number })
  | (Extract<ChainVerdict, { ok: false }> & { sequenced: number })
  | { ok: false; problem: 'orphan-event'; index: number; eventSeq: number; detail: string; sequenced: number };

/**
 * Checks the whole log: every entry's event still hashes to its leaf, the chain
 * is unbroken, indices have no gaps, and no event sits outside the log.
 * Names the first bad index.
 */
export async function verifyAuditLog(db: Db, now: () => Date, key?: LogKey): Promise<AuditVerifyReport> {
  const sequenced = await drainAuditQueue(db, now, key);
  const verifier = new ChainVerifier();
  for await (const row of readLogRows(db)) {
    if (!verifier.push(row)) break;
  }
  const verdict = verifier.verdict();
  if (!verdict.ok) return { ...verdict, sequenced };
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
