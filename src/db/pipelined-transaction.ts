import { NodePgSession, NodePgTransaction } from 'drizzle-orm/node-postgres';
import type pg from 'pg';
import type { Db, Statement, Tx } from './database.js';
import { beginWrites, causeOf, settleWrites } from './sent-writes.js';

// A transaction on node-postgres with its BEGIN and COMMIT carried by the
// statements next to them: BEGIN goes out in one write with the work's first
// statement, and the final statement (the request's AuditEvents) in one write
// with COMMIT. On this kind of machine a socket write costs the sender more
// than the statements' own work, and a read was BEGIN, a statement, the audit
// insert and COMMIT: four writes and four round trips, now two.
//
// The pool's clients run in node-postgres's pipeline mode (each query is
// sent as it is issued, each with its own Sync), which is what lets a second
// statement go out before the first is answered. The order on the wire is
// the order of issue, so BEGIN is always first and COMMIT always last.
// See: https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-FLOW-PIPELINING

/** A statement to run last in a transaction, sent with its COMMIT. */
export interface FinalStatement {
  statement: Statement;
  values: unknown[];
  /**
   * The row this statement locks, for a statement that locks one (a client's
   * denial window). A transaction shared by several requests runs such
   * statements in the order of this key, so that two of them never wait on
   * each other's locks (services/shared-transactions.ts).
   */
  lock?: string;
}

/** What a transaction runs last: none, one, or several in order. */
export type FinalStatements = FinalStatement | readonly (FinalStatement | undefined)[] | undefined;

/** The statements to run last, in order. */
export function finalList(finals: FinalStatements): FinalStatement[] {
  if (finals === undefined) return [];
  if ('statement' in finals) return [finals];
  return finals.filter((f): f is FinalStatement => f !== undefined);
}

/** The socket under a client (node-postgres keeps it as `connection.stream`). */
function socketOf(client: pg.PoolClient): { cork(): void; uncork(): void } {
  return (client as unknown as { connection: { stream: { cork(): void; uncork(): void } } }).connection.stream;
}

interface SessionParts {
  dialect: ConstructorParameters<typeof NodePgSession>[1];
  schema: ConstructorParameters<typeof NodePgSession>[2];
  options: ConstructorParameters<typeof NodePgSession>[3];
}

/** Whether the pool was opened in pipeline mode (openDatabase does this for PostgreSQL). */
export function isPipelined(pool: pg.Pool): boolean {
  return (pool.options as { pipeline?: boolean }).pipeline === true;
}

export async function pipelinedTransaction<T>(db: Db, pool: pg.Pool, work: (tx: Tx) => Promise<T>, last: ((result: T) => FinalStatements) | undefined): Promise<T> {
  const client = await pool.connect();
  // A client whose state is unknown (a rollback that failed) is destroyed, not returned to the pool.
  let broken: Error | undefined;
  try {
    const tx = transactionOn(db, client);
    const stream = socketOf(client);
    stream.cork();
    const begun = client.query('begin').then(
      () => undefined,
      (err: unknown) => toError(err),
    );
    // The work's first statement joins BEGIN in the buffer if it is issued before the event loop turns.
    setImmediate(() => {
      stream.uncork();
    });
    let result: T;
    let finals: FinalStatement[] = [];
    beginWrites(tx);
    try {
      result = await work(tx);
      const failed = await begun;
      if (failed !== undefined) throw failed;
      finals = finalList(last?.(result));
    } catch (err) {
      await begun;
      const cause = await causeOf(tx, err);
      await client.query('rollback').catch((rollbackErr: unknown) => {
        broken = toError(rollbackErr);
      });
      throw cause;
    }
    // The final statements and COMMIT go out without waiting for the writes the work sent (sent-writes.ts): often in
    // the same socket write, since those are held until the event loop turns. A sent write that failed aborted the
    // transaction, so what follows it fails and the COMMIT answers ROLLBACK: nothing is stored, and the sent
    // write's failure, the cause, is what the request fails with.
    stream.cork();
    const ran = finals.map((final) => client.query({ name: final.statement.name, text: final.statement.text, values: final.values }).then(() => undefined, toError));
    const committed = client.query('commit').then((r) => r, toError);
    stream.uncork();
    const [finalErrors, commit] = await Promise.all([Promise.all(ran), committed]);
    const sentError = await settled(tx);
    // The first that failed aborted the transaction; those after it failed only for that.
    const finalError = sentError ?? finalErrors.find((e) => e !== undefined);
    if (commit instanceof Error) {
      broken = commit;
      throw finalError ?? commit;
    }
    // A statement that failed aborted the transaction: its COMMIT was a rollback.
    if (finalError !== undefined) throw finalError;
    if (commit.command !== 'COMMIT') throw new Error(`the transaction ended in ${commit.command}, not COMMIT`);
    return result;
  } finally {
    client.release(broken);
  }
}

/** What drizzle's own transaction builds over a pooled client (with an awaited BEGIN): kept per client, as it holds no state of its own. */
const transactions = new WeakMap<pg.PoolClient, Tx>();

function transactionOn(db: Db, client: pg.PoolClient): Tx {
  const kept = transactions.get(client);
  if (kept !== undefined) return kept;
  const parts = (db as unknown as { session: SessionParts }).session;
  const session = new NodePgSession(client, parts.dialect, parts.schema, parts.options);
  const tx = new NodePgTransaction(parts.dialect, session, parts.schema) as unknown as Tx;
  transactions.set(client, tx);
  return tx;
}

/** The first write the work sent that failed, if any (the transaction's sent writes are then forgotten). */
async function settled(tx: Tx): Promise<Error | undefined> {
  try {
    await settleWrites(tx);
    return undefined;
  } catch (err) {
    return toError(err);
  }
}

function toError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}
