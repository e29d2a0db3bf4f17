import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { openDatabase } from '../../src/db/database.js';

declare module 'vitest' {
  export interface ProvidedContext {
    pgliteSnapshot: string;
    databaseUrl: string;
    runId: string;
    /** The two roles' server URLs when the run has them (MIGRATION_DATABASE_URL set beside DATABASE_URL). */
    databaseRoles: { appUrl: string; ownerUrl: string } | undefined;
  }
}

const SNAPSHOT_DIR = path.resolve('test-results');

/**
 * PGlite: migrate one in-memory database and snapshot it, so each test file
 * loads a ready database in about a second instead of running initdb.
 * PostgreSQL: nothing to prepare; files create (and teardown drops) their own databases,
 * as DATABASE_ADMIN_URL (default DATABASE_URL). With MIGRATION_DATABASE_URL set
 * too, the hubs under test connect as DATABASE_URL's role and migrate as the
 * owner's (.ci/run makes both roles with `hub db roles`).
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const serving = process.env['DATABASE_URL'] ?? '';
  const owner = process.env['MIGRATION_DATABASE_URL'];
  const databaseUrl = serving === '' ? '' : (process.env['DATABASE_ADMIN_URL'] ?? serving);
  project.provide('databaseRoles', serving !== '' && owner !== undefined && owner !== '' ? { appUrl: serving, ownerUrl: owner } : undefined);
  const runId = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
  project.provide('databaseUrl', databaseUrl);
  project.provide('runId', runId);
  if (databaseUrl !== '') {
    project.provide('pgliteSnapshot', '');
    return async () => {
      await dropRunDatabases(databaseUrl, runId);
    };
  }
  const database = await openDatabase({ kind: 'pglite' });
  await database.migrate();
  const client = (database as unknown as { db: { $client: PGlite } }).db.$client;
  const dump = await client.dumpDataDir('none');
  await mkdir(SNAPSHOT_DIR, { recursive: true });
  const file = path.join(SNAPSHOT_DIR, `pglite-${runId}.tar`);
  await writeFile(file, Buffer.from(await dump.arrayBuffer()));
  await database.close();
  project.provide('pgliteSnapshot', file);
  return async () => {
    const { rm } = await import('node:fs/promises');
    await rm(file, { force: true });
  };
}

/** Drops the databases this run created (the only way audit rows are ever removed). */
async function dropRunDatabases(databaseUrl: string, runId: string): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const rows = await client.query<{ datname: string }>('select datname from pg_database where datname like $1', [`hubtest_${runId}_%`]);
    for (const { datname } of rows.rows) {
      await client.query(`drop database if exists "${datname}" with (force)`);
    }
  } finally {
    await client.end();
  }
}
