import type { Database } from '../../src/db/database.js';
import { queryText, wrapDriverQueries } from './driver-queries.js';

// Records the text of every statement the hub sends to its database, at the
// driver (as row-counter.ts counts rows): each is one round trip.

export interface StatementLog {
  statements(): string[];
  stop(): void;
}

export function recordStatements(database: Database): StatementLog {
  const texts: string[] = [];
  let active = true;
  wrapDriverQueries(database, (target) => {
    const original = target.query.bind(target);
    target.query = (...args: unknown[]): unknown => {
      if (active) texts.push(queryText(args[0]));
      return original(...args);
    };
  });
  return {
    statements: () => [...texts],
    stop: () => {
      active = false;
    },
  };
}
