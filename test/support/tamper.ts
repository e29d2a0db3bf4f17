import { sql, type SQL } from 'drizzle-orm';
import { openDatabase, type Db } from '../../src/db/database.js';

/** A test database, or a bare Db the caller opened as a superuser. */
export type TamperTarget = Db | { db: Db; adminUrl: string | undefined };

/**
 * Runs `work` on a superuser's connection to the test database: on
 * PostgreSQL a connection of its own (adminUrl), since the hub's own role may
 * not do what tampering tests do; PGlite's one connection is the superuser's.
 */
export async function withSuperuser<T>(target: TamperTarget, work: (db: Db) => Promise<T>): Promise<T> {
  const [own, adminUrl] = 'adminUrl' in target ? [target.db, target.adminUrl] : [target, undefined];
  const admin = adminUrl === undefined ? undefined : await openDatabase({ kind: 'postgres', url: adminUrl, poolSize: 1 });
  try {
    return await work(admin?.db ?? own);
  } finally {
    await admin?.close();
  }
}

/**
 * Runs statements as a superuser would to get past the append-only triggers:
 * session_replication_role = replica silences user triggers and foreign keys
 * for this transaction only. Used only on a test database of the test's own.
 */
export async function asSuperuser(target: TamperTarget, statements: SQL[]): Promise<void> {
  await withSuperuser(target, (db) =>
    db.transaction(async (tx) => {
      await tx.execute(sql`set local session_replication_role = replica`);
      for (const statement of statements) await tx.execute(statement);
    }),
  );
}
