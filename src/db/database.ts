import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import type { SQL } from 'drizzle-orm';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator';
import { drizzle as drizzlePg } from 'drizzle-orm/node-postgres';
import { migrate as migratePg } from 'drizzle-orm/node-postgres/migrator';
import type { PgDatabase, PgQueryResultHKT, PgTransaction } from 'drizzle-orm/pg-core';
import type { ExtractTablesWithRelations } from 'drizzle-orm';
import pg from 'pg';
import { troubleOf } from './database-errors.js';
import { finalList, isPipelined, pipelinedTransaction, type FinalStatements } from './pipelined-transaction.js';
import { lockDataDir } from './data-dir-lock.js';
import { beginWrites, causeOf, settleWrites } from './sent-writes.js';
import { grantApplication, roleOfUrl } from './roles.js';
import type { Statement } from './statement-names.js';
import * as schema from './schema/index.js';

export { composedStatement, type Statement } from './statement-names.js';

export type Schema = typeof schema;
export type Db = PgDatabase<PgQueryResultHKT, Schema>;
export type Tx = PgTransaction<PgQueryResultHKT, Schema, ExtractTablesWithRelations<Schema>>;

export const migrationsFolder = fileURLToPath(new URL('../../migrations', import.meta.url));

/** An open database: drizzle over PGlite (embedded) or node-postgres, one interface. */
export interface Database {
  readonly db: Db;
  readonly engine: 'pglite' | 'postgres';
  /** The node-postgres pool (PostgreSQL only), for stores that share it such as the rate limiter's. */
  readonly pool?: pg.Pool;
  migrate(): Promise<void>;
  close(): Promise<void>;
}

export type DatabaseOptions =
  | {
      kind: 'postgres';
      url: string;
      poolSize?: number;
      bounds?: PoolBounds;
      /** The owner role's URL: migrations run as the owner, then the application role (url's) gets its grants again. */
      migrationUrl?: string | undefined;
    }
  | { kind: 'pglite'; dataDir?: string; loadDataDir?: Blob };

/**
 * PostgreSQL's bounds on one request's use of the database. PGlite has
 * neither: it is one connection, and its WebAssembly build has no timer
 * signal, so `statement_timeout` never fires there.
 */
export interface PoolBounds {
  /** statement_timeout of every connection (0: none). A cancelled statement is SQLSTATE 57014. */
  statementTimeoutMs?: number;
  /** lock_timeout of every connection (0: none): the longest wait for a row or table lock (SQLSTATE 55P03). */
  lockTimeoutMs?: number;
  /** idle_in_transaction_session_timeout (0: none): a transaction left open this long is ended by the server. */
  idleInTransactionTimeoutMs?: number;
  /** How long a query waits for a free pool connection before it fails (pg-pool's connectionTimeoutMillis). */
  connectionTimeoutMs?: number;
  /** How long opening the database waits, with backoff, for a server that is not there yet (0: no wait). */
  startupWaitMs?: number;
  /** Told of each failed attempt while waiting at start, and of connections lost (never with query text). */
  onTrouble?: (event: 'waiting' | 'connection-error', err: unknown) => void;
}

export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  if (options.kind === 'postgres') return openPostgres(options.url, options.poolSize ?? 10, options.bounds ?? {}, options.migrationUrl);
  return openPglite(options);
}

async function openPglite(options: { dataDir?: string; loadDataDir?: Blob }): Promise<Database> {
  let release = (): Promise<void> => Promise.resolve();
  if (options.dataDir !== undefined) {
    await mkdir(options.dataDir, { recursive: true });
    release = await lockDataDir(options.dataDir);
  }
  const client = new PGlite({
    ...(options.dataDir === undefined ? {} : { dataDir: path.resolve(options.dataDir) }),
    ...(options.loadDataDir === undefined ? {} : { loadDataDir: options.loadDataDir }),
  });
  await client.waitReady;
  const db = drizzlePglite(client, { schema }) as unknown as Db;
  return {
    db,
    engine: 'pglite',
    migrate: async () => {
      await migratePglite(drizzlePglite(client, { schema }), { migrationsFolder });
    },
    close: async () => {
      await client.close();
      await release();
    },
  };
}

async function openPostgres(url: string, poolSize: number, bounds: PoolBounds, migrationUrl: string | undefined): Promise<Database> {
  const pool = new pg.Pool({
    connectionString: url,
    max: poolSize,
    // Each query is sent as it is issued: a transaction's BEGIN and COMMIT travel with its statements (pipelined-transaction.ts).
    pipeline: true,
    // Sent at connection start, so they bound every statement, inside a transaction or not.
    // See: https://www.postgresql.org/docs/current/runtime-config-client.html
    ...(positive(bounds.statementTimeoutMs) ? { statement_timeout: bounds.statementTimeoutMs } : {}),
    ...(positive(bounds.lockTimeoutMs) ? { lock_timeout: bounds.lockTimeoutMs } : {}),
    ...(positive(bounds.idleInTransactionTimeoutMs) ? { idle_in_transaction_session_timeout: bounds.idleInTransactionTimeoutMs } : {}),
    ...(bounds.connectionTimeoutMs === undefined ? {} : { connectionTimeoutMillis: bounds.connectionTimeoutMs }),
  });
  listenForConnectionErrors(pool, bounds.onTrouble);
  const db = drizzlePg(pool, { schema }) as unknown as Db;
  await waitForServer(pool, bounds.startupWaitMs ?? 0, bounds.onTrouble);
  return {
    db,
    engine: 'postgres',
    pool,
    migrate: async () => {
      if (migrationUrl === undefined) {
        await migratePostgres(pool);
        return;
      }
      // With two roles the application role cannot create tables: the owner migrates.
      const owner = new pg.Pool({ connectionString: migrationUrl, max: 1 });
      listenForConnectionErrors(owner, bounds.onTrouble);
      try {
        await migratePostgres(owner);
        const roles = { owner: roleOfUrl(migrationUrl), app: roleOfUrl(url) };
        if (roles.owner !== roles.app) await grantApplication(drizzlePg(owner, { schema }), roles);
      } finally {
        await owner.end();
      }
    },
    close: async () => {
      await pool.end();
    },
  };
}

function positive(ms: number | undefined): ms is number {
  return ms !== undefined && ms > 0;
}

/**
 * A connection the server drops (pg_terminate_backend, a restart, a network
 * cut) makes its client emit 'error'. pg-pool listens only while the client is
 * idle in the pool; a checked-out client's error with no listener would end
 * the process. With one on every client, the error fails only the query on
 * that connection (which the request answers 503), and pg-pool discards the
 * client when it is released.
 */
function listenForConnectionErrors(pool: pg.Pool, onTrouble: PoolBounds['onTrouble']): void {
  const report = (err: unknown): void => {
    onTrouble?.('connection-error', err);
  };
  pool.on('error', report);
  pool.on('connect', (client) => {
    client.on('error', report);
  });
}

/**
 * Waits for the server at start (a supervisor may start the hub before the
 * database, or restart it during an outage): retries a transient failure with
 * exponential backoff (250 ms doubling to 5 s) until `waitMs` has passed.
 * Anything else (a wrong password, no such database) fails at once.
 */
async function waitForServer(pool: pg.Pool, waitMs: number, onTrouble: PoolBounds['onTrouble']): Promise<void> {
  const deadline = Date.now() + waitMs;
  for (let delay = 250; ; delay = Math.min(delay * 2, 5_000)) {
    try {
      await pool.query('select 1');
      return;
    } catch (err) {
      const left = deadline - Date.now();
      if (troubleOf(err) === undefined || left <= 0) throw err;
      onTrouble?.('waiting', err);
      await new Promise((resolve) => setTimeout(resolve, Math.min(delay, left)));
    }
  }
}

async function migratePostgres(pool: pg.Pool): Promise<void> {
  // Several instances may start at once: one migrates, the others wait on the lock.
  const client = await pool.connect();
  try {
    // A migration (or the wait for another instance's) is not a request: no statement timeout.
    await client.query('set statement_timeout = 0');
    await client.query('set lock_timeout = 0');
    await client.query('select pg_advisory_lock(hashtext($1))', ['eyhub:migrate']);
    await migratePg(drizzlePg(client, { schema }), { migrationsFolder });
  } finally {
    await client.query('select pg_advisory_unlock(hashtext($1))', ['eyhub:migrate']).catch(() => undefined);
    await client.query('reset statement_timeout').catch(() => undefined);
    await client.query('reset lock_timeout').catch(() => undefined);
    client.release();
  }
}

/** Runs raw SQL and returns its rows, on either driver. */
export async function rawRows<T>(db: Db | Tx, query: SQL): Promise<T[]> {
  const result: unknown = await db.execute(query);
  return (result as { rows: T[] }).rows;
}


interface DriverClient {
  query(config: { name: string; text: string; values: unknown[] }): Promise<{ rows: unknown[] }>;
  query(text: string, values: unknown[]): Promise<{ rows: unknown[] }>;
}

/**
 * Runs a fixed statement on the connection behind a drizzle database or
 * transaction, with no query building: on the request paths drizzle's builder
 * cost more CPU than the statements' own work. On PostgreSQL the statement is
 * prepared once per connection under its name (node-postgres keeps it);
 * PGlite runs the same text. Values come back as the driver parses them
 * (timestamptz as Date, jsonb parsed, bigint as a string on PostgreSQL).
 */
export async function runStatement<T>(db: Db | Tx, statement: Statement, values: unknown[]): Promise<T[]> {
  const client = (db as unknown as { session: { client: DriverClient } }).session.client;
  const result = isNodePostgres(client)
    ? await client.query({ name: statement.name, text: statement.text, values })
    : await client.query(statement.text, values);
  return result.rows as T[];
}

function isNodePostgres(client: DriverClient): boolean {
  return client instanceof pg.Pool || client instanceof pg.Client;
}

/**
 * The one transaction helper every write goes through. The callback's data and
 * the audit rows it writes commit together or not at all. `last` gives
 * statements to run after the work, in order, just before COMMIT (on
 * PostgreSQL sent with it: see pipelined-transaction.ts).
 */
export async function inTransaction<T>(db: Db, work: (tx: Tx) => Promise<T>, last?: (result: T) => FinalStatements): Promise<T> {
  const client = (db as unknown as { $client?: unknown }).$client;
  if (client instanceof pg.Pool && isPipelined(client)) return pipelinedTransaction(db, client, work, last);
  return db.transaction(async (tx) => {
    beginWrites(tx);
    const result = await work(tx).catch(async (err: unknown) => {
      throw await causeOf(tx, err);
    });
    // Writes the work sent without waiting (sent-writes.ts): the first that failed fails the transaction.
    await settleWrites(tx);
    for (const final of finalList(last?.(result))) await runStatement(tx, final.statement, final.values);
    return result;
  });
}
