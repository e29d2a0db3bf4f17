import { readFile } from 'node:fs/promises';
import pg from 'pg';
import { inject } from 'vitest';
import { openDatabase, type Database, type PoolBounds } from '../../src/db/database.js';
import { grantDatabase, roleOfUrl } from '../../src/db/roles.js';

export interface TestDatabase extends Database {
  /** A connection string for this database as the hub connects (PostgreSQL only): the application role when the run has two roles. */
  url: string | undefined;
  /** The owner role's connection string (migrations), when the run has two roles. */
  ownerUrl: string | undefined;
  /** A superuser's connection string (PostgreSQL only), for tests that tamper as an attacker holding the server would. */
  adminUrl: string | undefined;
}

let counter = 0;

export interface PoolOptions extends PoolBounds {
  poolSize?: number;
}

/** The server URL with another database name. */
export function onDatabase(serverUrl: string, name: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/**
 * A fresh, migrated database of this test file's own: a PGlite loaded from the
 * run's snapshot, or a new database on the PostgreSQL server in DATABASE_URL.
 * With MIGRATION_DATABASE_URL too (as .ci/run sets), the database is set up
 * as `hub db roles` would, migrated as the owner role, and the hub's
 * connection is the application role's (DATABASE_URL); a superuser
 * (DATABASE_ADMIN_URL) creates and drops it.
 */
export async function openTestDatabase(pool: PoolOptions = {}): Promise<TestDatabase> {
  const adminServer = inject('databaseUrl');
  if (adminServer === '') {
    const snapshot = await readFile(inject('pgliteSnapshot'));
    const database = await openDatabase({ kind: 'pglite', loadDataDir: new Blob([snapshot]) });
    return { ...database, url: undefined, ownerUrl: undefined, adminUrl: undefined };
  }
  counter += 1;
  const name = `hubtest_${inject('runId')}_${process.pid}_${counter}`;
  const admin = new pg.Client({ connectionString: adminServer });
  await admin.connect();
  try {
    await admin.query(`create database "${name}"`);
  } finally {
    await admin.end();
  }
  const adminUrl = onDatabase(adminServer, name);
  const roles = inject('databaseRoles');
  const poolOptions = { poolSize: pool.poolSize ?? 8, bounds: pool };
  if (roles === undefined) {
    const database = await openDatabase({ kind: 'postgres', url: adminUrl, ...poolOptions });
    await database.migrate();
    return { ...database, url: adminUrl, ownerUrl: undefined, adminUrl };
  }
  await prepareForRoles(adminUrl);
  const url = onDatabase(roles.appUrl, name);
  const ownerUrl = onDatabase(roles.ownerUrl, name);
  const database = await openDatabase({ kind: 'postgres', url, migrationUrl: ownerUrl, ...poolOptions });
  await database.migrate();
  return { ...database, url, ownerUrl, adminUrl };
}

/** As `hub db roles` does on a deployment's database (the roles themselves are the run's, made by .ci/run). */
export async function prepareForRoles(adminUrl: string): Promise<void> {
  const roles = inject('databaseRoles');
  if (roles === undefined) return;
  const admin = await openDatabase({ kind: 'postgres', url: adminUrl, poolSize: 1 });
  try {
    await grantDatabase(admin.db, { owner: roleOfUrl(roles.ownerUrl), app: roleOfUrl(roles.appUrl) });
  } finally {
    await admin.close();
  }
}
