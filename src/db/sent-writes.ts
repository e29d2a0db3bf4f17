import type { SQL } from 'drizzle-orm';
import type { Tx } from './database.js';
import { composedStatement, type Statement } from './statement-names.js';
import { sqlText } from './sql-text.js';
import { beginWritten, endWritten } from './written-rows.js';

// Writes whose answer nothing waits for, sent at once and waited for at the
// end of their transaction.
//
// A write path (an inbound message, a create) is mostly inserts whose result
// the code never reads: the resource rows, the subject facts, the raw
// message, the receipt's outcome. Awaited one by one, each costs a round trip
// and a socket write of its own, and on this kind of machine a socket write
// costs the sender more than the statement's own work. Sent without waiting,
// in node-postgres's pipeline mode, they go out together in one write with
// the next statement the code does wait for (the socket is corked until the
// event loop turns), and the server runs them in the order sent: a later
// statement of the transaction sees them, as if each had been awaited.
//
// They are issued synchronously, on the connection itself, so the order on
// the wire is the order of the calls. A write that fails aborts the
// transaction (every later statement fails with it, and COMMIT answers
// ROLLBACK); the transaction helper waits for every sent write before it
// answers (on a pipelined connection, after sending its last statement and
// COMMIT; elsewhere, before them) and reports the first failure, not the
// aborted statements after it, so a failing write fails its request and
// leaves nothing stored.
// PGlite runs them in the order issued too (its queries queue).

interface Client {
  query(text: string, values: unknown[]): Promise<{ rows: unknown[] }>;
  query(config: { name: string; text: string; values: unknown[] }): Promise<{ rows: unknown[] }>;
  /** A node-postgres client's (a boolean there, whether or not it pipelines); PGlite has none. */
  pipeline?: boolean;
  connection?: { stream?: { cork(): void; uncork(): void } };
}

interface Sent {
  done: Promise<void>;
  error: Error | undefined;
}

const sent = new WeakMap<object, Sent[]>();
const corked = new WeakSet<object>();

function clientOf(tx: Tx): Client {
  return (tx as unknown as { session: { client: Client } }).session.client;
}

/** Holds a pipelined connection's writes until the event loop turns, so that statements issued together share one socket write. */
function corkUntilTurn(client: Client): void {
  const stream = client.pipeline === true ? client.connection?.stream : undefined;
  if (stream === undefined || corked.has(client)) return;
  corked.add(client);
  stream.cork();
  setImmediate(() => {
    corked.delete(client);
    stream.uncork();
  });
}

/** A write to send: built by drizzle, or a fixed statement with its values (no building, no naming by digest). */
export type Write = SQL | { statement: Statement; values: unknown[] };

function issue(tx: Tx, write: Write): Promise<{ rows: unknown[] }> {
  const client = clientOf(tx);
  corkUntilTurn(client);
  if ('statement' in write) {
    if (typeof client.pipeline !== 'boolean') return client.query(write.statement.text, write.values);
    return client.query({ name: write.statement.name, text: write.statement.text, values: write.values });
  }
  const { sql, params } = sqlText(tx, write);
  // On PostgreSQL each shape of write is prepared once per connection (statement-names.ts); PGlite runs the text.
  if (typeof client.pipeline !== 'boolean') return client.query(sql, params);
  const { name, text } = composedStatement('write', sql);
  return client.query({ name, text, values: params });
}

/** Marks the start of a transaction whose helper waits for the writes sent in it (inTransaction does). */
export function beginWrites(tx: Tx): void {
  sent.set(tx, []);
  // The rows the transaction writes are kept for the same span (written-rows.ts).
  beginWritten(tx);
}

/**
 * Sends a write whose result is not read: a drizzle statement, or a fixed
 * statement and its values (the hot write paths: no query building, and each
 * is prepared once per connection under its own name). Inside a transaction that waits for
 * its sent writes (see beginWrites) it answers at once, and a failure fails
 * the transaction (settleWrites); anywhere else it runs and is waited for.
 */
export async function sendWrite(tx: Tx, query: Write): Promise<void> {
  const list = sent.get(tx);
  if (list === undefined) {
    await issue(tx, query);
    return;
  }
  const entry: Sent = { done: Promise.resolve(), error: undefined };
  entry.done = issue(tx, query).then(
    () => undefined,
    (err: unknown) => {
      entry.error = err instanceof Error ? err : new Error(String(err));
    },
  );
  list.push(entry);
}

/**
 * Sends a statement now, in order with the writes sent before and after it,
 * and answers its rows: for a write whose result is read (a delete that
 * returns what it removed) sent together with others.
 */
export async function sendRows<T>(tx: Tx, query: Write): Promise<T[]> {
  const result = await issue(tx, query).catch(async (err: unknown) => {
    throw (await firstFailure(tx)) ?? err;
  });
  return result.rows as T[];
}

async function firstFailure(tx: Tx): Promise<Error | undefined> {
  const list = sent.get(tx) ?? [];
  await Promise.all(list.map((s) => s.done));
  return list.find((s) => s.error !== undefined)?.error;
}

/** Waits for every write sent in the transaction; throws the first that failed. Called before the transaction answers. */
export async function settleWrites(tx: Tx): Promise<void> {
  const failed = await firstFailure(tx);
  sent.delete(tx);
  endWritten(tx);
  if (failed !== undefined) throw failed;
}

/**
 * For a transaction's failure path: the first sent write that failed (the
 * cause of the aborted statements after it), else the error given. Clears
 * what was sent.
 */
export async function causeOf(tx: Tx, err: unknown): Promise<unknown> {
  const failed = await firstFailure(tx);
  sent.delete(tx);
  endWritten(tx);
  return failed ?? err;
}
