import type { Database } from '../../src/db/database.js';

// Records the text of every statement the hub sends to its database, at the
// driver (as row-counter.ts counts rows): each is one round trip.

export interface StatementLog {
  statements(): string[];
  stop(): void;
}

type Query = (...args: unknown[]) => unknown;

export function recordStatements(database: Database): StatementLog {
  const texts: string[] = [];
  let active = true;
  const textOf = (q: unknown): string => (typeof q === 'string' ? q : typeof q === 'object' && q !== null && 'text' in q ? String(q.text) : '');
  const wrap = (target: { query: Query }): void => {
    const original = target.query.bind(target);
    target.query = (...args: unknown[]): unknown => {
      if (active) texts.push(textOf(args[0]));
      return original(...args);
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
    const client = (database.db as unknown as { $client: { query: Query; transaction: Query; exec?: Query } }).$client;
    wrap(client);
    const transaction = client.transaction.bind(client);
    client.transaction = (callback: unknown): unknown =>
      transaction(async (tx: { query: Query }) => {
        wrap(tx);
        return (callback as (t: unknown) => Promise<unknown>)(tx);
      });
  }
  return {
    statements: () => [...texts],
    stop: () => {
      active = false;
    },
  };
}
