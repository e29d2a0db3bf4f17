import { readFile } from 'node:fs/promises';
import pg from 'pg';
import { inject } from 'vitest';
import { openDatabase, type Database, type PoolBounds } from '../../src/db/database.js';

export interface TestDatabase extends Database {
  /** A connection string for this database (PostgreSQL only). */
  url: string | undefined;
}

let counter = 0;

export interface PoolOptions extends PoolBounds {
  poolSize?: number;
}

/**
 * A fresh, migrated database of this test file's own: a PGlite loaded from the
 * run's snapshot, or a new database on the PostgreSQL server in DATABASE_URL.
 */
export async function openTestDatabase(pool: PoolOptions = {}): Promise<TestDatabase> {
  const serverUrl = inject('databaseUrl');
  if (serverUrl === '') {
    const snapshot = await readFile(inject('pgliteSnapshot'));
    const database = await openDatabase({ kind: 'pglite', loadDataDir: new Blob([snapshot]) });
    return { ...database, url: undefined };
  }
  counter += 1;
  const name = `hubtest_${inject('runId')}_${process.pid}_${counter}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`create database "${name}"`);
  } finally {
    await admin.end();
  }
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  const database = await openDatabase({ kind: 'postgres', url: url.toString(), poolSize: pool.poolSize ?? 8, bounds: pool });
  await database.migrate();
  return { ...database, url: url.toString() };
}
