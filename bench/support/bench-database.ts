import type { BenchContext } from './benchmark.js';
import { Cleanup } from './cleanup.js';
import { redact } from './hub-db.js';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { withDeadline } from './time.js';

/** A database of the benchmark's own on the server of the admin URL. */
export interface BenchDatabase {
  name: string;
  url: string;
  /** Dropping the database is the only way its audit rows are ever removed. */
  drop(): Promise<void>;
}

const ADMIN_MS = 60_000;

async function withAdmin<T>(adminUrl: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 10_000, application_name: 'hubbench-admin' });
  await client.connect();
  try {
    return await withDeadline(work(client), ADMIN_MS, 'admin statement');
  } finally {
    await client.end();
  }
}

export async function createBenchDatabase(adminUrl: string): Promise<BenchDatabase> {
  const name = `hubbench_${randomBytes(6).toString('hex')}`;
  await withAdmin(adminUrl, async (client) => {
    await client.query(`create database "${name}"`);
    // BENCH.md rule 3: durability on for every connection, whatever the server default.
    await client.query(`alter database "${name}" set synchronous_commit = on`);
  });
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    drop: async () => {
      // WITH (FORCE) ends connections a crashed step left behind (PostgreSQL 13+).
      await withAdmin(adminUrl, (client) => client.query(`drop database if exists "${name}" with (force)`));
    },
  };
}

/**
 * Runs a benchmark's body in a database of its own, dropped afterwards
 * whatever happens (with everything else the body deferred); a failed
 * cleanup fails the run.
 */
export async function withBenchDatabase(
  context: BenchContext,
  label: string,
  body: (database: BenchDatabase, cleanup: Cleanup) => Promise<void>,
): Promise<void> {
  const cleanup = new Cleanup(context.log);
  let failed: Error | undefined;
  try {
    context.log(`${label}: creating a bench database on ${redact(context.options.adminUrl)}`);
    const database = await createBenchDatabase(context.options.adminUrl);
    cleanup.defer(`drop database ${database.name}`, async () => {
      await database.drop();
      context.log(`${label}: dropped database ${database.name}`);
    });
    context.log(`${label}: database ${database.name}`);
    await body(database, cleanup);
  } catch (err) {
    failed = err instanceof Error ? err : new Error(String(err));
  } finally {
    const cleaned = await cleanup.runAll();
    if (failed === undefined && !cleaned) failed = new Error('cleanup failed (see above)');
  }
  if (failed !== undefined) throw failed;
}
