import type { Database } from '../../src/db/database.js';
import { queryText, wrapDriverQueries } from './driver-queries.js';

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

export function countRowsOf(database: Database, table: string): RowCounter {
  let rows = 0;
  let queries = 0;
  let active = true;
  const names = new RegExp(`\\b${table}\\b`);
  const seen = (q: unknown, result: unknown): void => {
    if (!active || !names.test(queryText(q))) return;
    queries += 1;
    rows += (result as { rows?: unknown[] } | undefined)?.rows?.length ?? 0;
  };
  wrapDriverQueries(database, (target) => {
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
  });
  return {
    rows: () => rows,
    queries: () => queries,
    stop: () => {
      active = false;
    },
  };
}
