import { sql, type SQL } from 'drizzle-orm';
import type { Db } from '../../src/db/database.js';

/**
 * Runs statements as a superuser would to get past the append-only triggers:
 * session_replication_role = replica silences user triggers and foreign keys
 * for this transaction only. Used only on a test database of the test's own.
 */
export async function asSuperuser(db: Db, statements: SQL[]): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.execute(sql`set local session_replication_role = replica`);
    for (const statement of statements) await tx.execute(statement);
  });
}
