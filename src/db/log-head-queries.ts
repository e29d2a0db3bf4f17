import { sql } from 'drizzle-orm';
import { rawRows, type Db } from './database.js';

/** The newest log entry that carries a receipt (the log key's signature over its place and leaf hash), if any. */
export async function latestReceipt(db: Db): Promise<{ idx: number; leafHash: string; receipt: string } | undefined> {
  const rows = await rawRows<{ idx: string | number; leaf_hash: string; receipt: string }>(
    db,
    sql`select idx, leaf_hash, receipt from audit_log where receipt is not null order by idx desc limit 1`,
  );
  const row = rows[0];
  return row === undefined ? undefined : { idx: Number(row.idx), leafHash: row.leaf_hash, receipt: row.receipt };
}
