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
