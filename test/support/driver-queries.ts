import type { Database } from '../../src/db/database.js';

// Where the hub's statements meet the driver: every node-postgres client the
// pool hands out, or PGlite's client and each of its transactions. The
// statement log and the row counter watch the hub there, without trusting its
// own code to report what it sent.

export type Query = (...args: unknown[]) => unknown;

/** Calls `wrap` once on each object whose `query` the hub's statements go through, now and later. */
export function wrapDriverQueries(database: Database, wrap: (target: { query: Query }) => void): void {
  if (database.pool !== undefined) {
    const patched = new WeakSet<object>();
    database.pool.on('acquire', (client) => {
      if (patched.has(client)) return;
      patched.add(client);
      wrap(client);
    });
    return;
  }
  const client = (database.db as unknown as { $client: { query: Query; transaction: Query } }).$client;
  wrap(client);
  const transaction = client.transaction.bind(client);
  client.transaction = (callback: unknown): unknown =>
    transaction(async (tx: { query: Query }) => {
      wrap(tx);
      return (callback as (t: unknown) => Promise<unknown>)(tx);
    });
}

/** The SQL text of a query's first argument (a string or a query config). */
export function queryText(q: unknown): string {
  return typeof q === 'string' ? q : typeof q === 'object' && q !== null && 'text' in q ? String(q.text) : '';
}
