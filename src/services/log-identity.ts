import { openCheckpoint, verifyReceipt, type LogKey } from '../audit/signed-note.js';
import { latestCheckpoint } from '../db/audit-queries.js';
import type { Db } from '../db/database.js';
import { latestReceipt } from '../db/log-head-queries.js';

// Instances sharing a database write one log, so they must sign as one log:
// the same origin (the checkpoint's first line, C2SP tlog-checkpoint) and the
// same Ed25519 key. A checkpoint signed under another name or key can never be
// verified with the log's, and checkpoints are append-only, so an instance
// that differs refuses to start rather than sign one.
// See: https://c2sp.org/tlog-checkpoint

export type LogIdentityCheck = { ok: true } | { ok: false; reason: string };

/** Checks the log key against what the database's log was signed with: its newest checkpoint and newest receipt. */
export async function checkLogIdentity(db: Db, key: LogKey): Promise<LogIdentityCheck> {
  const advice = 'every instance sharing a database must mount the same log key file (AUDIT_LOG_KEY_FILE; README "Several instances, one log")';
  const checkpoint = await latestCheckpoint(db);
  if (checkpoint !== undefined) {
    const origin = checkpoint.note.slice(0, checkpoint.note.indexOf('\n'));
    if (origin !== key.name) {
      return { ok: false, reason: `the log in this database is named "${origin}" (its signed checkpoints say so), but this instance's log key names "${key.name}": ${advice}` };
    }
    const opened = openCheckpoint(checkpoint.note, key);
    if (!opened.ok) return { ok: false, reason: `the log's checkpoint of size ${checkpoint.treeSize} was not signed by this instance's log key (${opened.reason}): ${advice}` };
  }
  const receipt = await latestReceipt(db);
  if (receipt !== undefined && !verifyReceipt(key, receipt.idx, Buffer.from(receipt.leafHash, 'hex'), receipt.receipt)) {
    return { ok: false, reason: `the log's entry ${receipt.idx} carries a receipt this instance's log key "${key.name}" did not sign: ${advice}` };
  }
  return { ok: true };
}
