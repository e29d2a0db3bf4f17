import { createHash } from 'node:crypto';

/** A statement run through the driver itself: fixed text, a name (a prepared statement per connection on PostgreSQL; '' runs it unnamed). */
export interface Statement {
  name: string;
  text: string;
}

/** How many shapes of each kind (prefix) of composed statement a process prepares under a name (composedStatement). */
const MAX_COMPOSED_NAMES = 256;
const composedNames = new Map<string, Set<string>>();

/**
 * A statement whose text is composed per request (a search's conditions),
 * named by a digest of its text: each shape is parsed once per connection,
 * and PostgreSQL can keep a plan for it (a generic plan after five runs, when
 * that costs no more than planning each time; planning was most of a
 * search's time in the database). The names one process gives are bounded,
 * since every prepared statement holds memory in each connection that ran it
 * and callers can make many shapes: beyond the bound a shape runs unnamed,
 * parsed and planned each time, as before. Each kind has a bound of its own,
 * so that searches of many shapes (which callers choose) cannot use up the
 * names of the writes.
 */
export function composedStatement(prefix: string, text: string): Statement {
  const name = `${prefix}_${createHash('sha256').update(text).digest('hex').slice(0, 32)}`;
  let named = composedNames.get(prefix);
  if (named === undefined) {
    named = new Set();
    composedNames.set(prefix, named);
  }
  if (named.has(name)) return { name, text };
  if (named.size >= MAX_COMPOSED_NAMES) return { name: '', text };
  named.add(name);
  return { name, text };
}
