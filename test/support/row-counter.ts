import type { Database } from '../../src/db/database.js';

// Counts the rows the database returns to queries that name a table, at the
// driver (PGlite's query and its transactions' queries; node-postgres's
// checked-out clients), so a test can say how much of a table the hub read
// without trusting the hub's own code to report it.

export interface RowCounter {
  /** Rows returned so far to queries naming the table. */
  rows(): number;
  /** Queries naming the table so far. */
  queries(): number;
  stop(): void;
}

type Query = (...args: unknown[]) => unknown;

export function countRowsOf(database: Database, table: string): RowCounter {
  let rows = 0;
  let queries = 0;
  let active = true;
  const names = new RegExp(`\\b${table}\\b`);
  const textOf = (q: unknown): string => (typeof q === 'string' ? q : typeof q === 'object' && q !== null && 'text' in q ? String((q).text) : '');
  const seen = (q: unknown, result: unknown): void => {
    if (!active || !names.test(textOf(q))) return;
    queries += 1;
    rows += (result as { rows?: unknown[] } | undefined)?.rows?.length ?? 0;
  };
  const wrap = (target: { query: Query }): void => {
    const original = target.query.bind(target);
    target.query = (...args: unknown[]): unknown => {
      const callback = args.at(-1);
      if (typeof callback === 'function') {
        args[args.length - 1] = (err: unknown, result: unknown): void => {
          if (err === null || err === undefined) seen(args[0], result);
          (callback as (e: unknown, r: unknown) => void)(err, result);
        };
        return original(...args);
      }
      const out = original(...args);
      return out instanceof Promise ? out.then((result: unknown) => (seen(args[0], result), result)) : out;
    };
  };
  if (database.pool !== undefined) {
    const patched = new WeakSet<object>();
    database.pool.on('acquire', (client) => {
      if (patched.has(client)) return;
      patched.add(client);
      wrap(client);
    });
  } else {
    const client = (database.db as unknown as { $client: { query: Query; transaction: Query } }).$client;
    wrap(client);
    const transaction = client.transaction.bind(client);
    client.transaction = (callback: unknown): unknown =>
      transaction(async (tx: { query: Query }) => {
        wrap(tx);
        return (callback as (t: unknown) => Promise<unknown>)(tx);
      });
  }
  return {
    rows: () => rows,
    queries: () => queries,
    stop: () => {
      active = false;
    },
  };
}
