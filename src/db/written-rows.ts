import type { Tx } from './database.js';
import type { StoredResource } from './resource-queries.js';

// What a transaction has written so far, as the rows it stored: every version
// written through writeVersions (the only write of records that can refer to
// a Patient; the raw message's Binary refers to no one). Kept from the start
// of the transaction helper (beginWrites) to its end, and only there: outside
// it there is no list, never an empty one, so no caller can take "nothing
// written" for "nothing known".
//
// A Patient this transaction minted can be referred to by nothing stored
// before it (its id is new), so everything that refers to it is in this
// list: the facts the decision needs about it can be read from here instead
// of from the database (subject-facts.ts mintedSubjectFacts).

const written = new WeakMap<object, Map<string, StoredResource>>();

/** Starts the list for a transaction (with beginWrites). */
export function beginWritten(tx: Tx): void {
  written.set(tx, new Map());
}

/** Ends it (with settleWrites or causeOf). */
export function endWritten(tx: Tx): void {
  written.delete(tx);
}

/** Notes versions the transaction wrote: the latest of each record replaces the earlier. */
export function noteWritten(tx: Tx, rows: readonly StoredResource[]): void {
  const list = written.get(tx);
  if (list === undefined) return;
  for (const row of rows) list.set(`${row.type}/${row.id}`, row);
}

/** The latest version of each record this transaction wrote, or undefined outside a transaction helper. */
export function writtenIn(tx: Tx): ReadonlyMap<string, StoredResource> | undefined {
  return written.get(tx);
}
