import { sql, type SQL } from 'drizzle-orm';
import { openDatabase, type Db } from '../../src/db/database.js';

/**
 * Runs statements as a superuser would to get past the append-only triggers:
 * session_replication_role = replica silences user triggers and foreign keys
 * for this transaction only. Used only on a test database of the test's own.
 * On PostgreSQL it connects as the superuser (adminUrl): the hub's own role
 * may not do this. PGlite's one connection is the superuser's. A bare Db is a
 * connection the caller opened as a superuser.
 */
export async function asSuperuser(target: Db | { db: Db; adminUrl: string | undefined }, statements: SQL[]): Promise<void> {
  const [own, adminUrl] = 'adminUrl' in target ? [target.db, target.adminUrl] : [target, undefined];
  const admin = adminUrl === undefined ? undefined : await openDatabase({ kind: 'postgres', url: adminUrl, poolSize: 1 });
  try {
    await (admin?.db ?? own).transaction(async (tx) => {
      await tx.execute(sql`set local session_replication_role = replica`);
      for (const statement of statements) await tx.execute(statement);
    });
  } finally {
    await admin?.close();
  }
}
