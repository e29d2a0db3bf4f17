import { createHash } from 'node:crypto';

// What an error from the database layer may say in a log or an answer. Query
// text and parameters carry personal data (NHS numbers, names): drizzle's
// DrizzleQueryError quotes both in its message, so a log keeps only the
// error's class, its SQLSTATE and a fingerprint of the query text.

/** Why the database could not answer, when that is worth a retry rather than a 500. */
export type DatabaseTrouble = 'statement-timeout' | 'lock-timeout' | 'pool-exhausted' | 'too-many-connections' | 'connection-lost' | 'unavailable';

// SQLSTATEs of a fault that passes: the caller may retry the same request.
// See: https://www.postgresql.org/docs/current/errcodes-appendix.html
const TRANSIENT_SQLSTATES: Readonly<Record<string, DatabaseTrouble>> = {
  '57014': 'statement-timeout', // query_canceled (statement_timeout)
  '55P03': 'lock-timeout', // lock_not_available (lock_timeout)
  '53300': 'too-many-connections',
  '57P01': 'connection-lost', // admin_shutdown (pg_terminate_backend, a fast shutdown)
  '57P02': 'connection-lost', // crash_shutdown
  '57P03': 'unavailable', // cannot_connect_now (starting up, shutting down, recovering)
  '08000': 'connection-lost', // connection_exception
  '08003': 'connection-lost', // connection_does_not_exist
  '08006': 'connection-lost', // connection_failure
  '08001': 'unavailable', // sqlclient_unable_to_establish_sqlconnection
  '08004': 'unavailable', // sqlserver_rejected_establishment_of_sqlconnection
};

// Node's socket errors when the server is not there or went away.
const TRANSIENT_SOCKET_CODES: Readonly<Record<string, DatabaseTrouble>> = {
  ECONNREFUSED: 'unavailable',
  ENOTFOUND: 'unavailable',
  EAI_AGAIN: 'unavailable',
  ETIMEDOUT: 'unavailable',
  ECONNRESET: 'connection-lost',
  EPIPE: 'connection-lost',
};

// node-postgres's own errors carry no code, only these messages.
const TRANSIENT_MESSAGES: Readonly<Record<string, DatabaseTrouble>> = {
  'timeout exceeded when trying to connect': 'pool-exhausted',
  'Connection terminated due to connection timeout': 'pool-exhausted',
  'Connection terminated unexpectedly': 'connection-lost',
  'Connection terminated': 'connection-lost',
  'Client has encountered a connection error and is not queryable': 'connection-lost',
  'Client was closed and is not queryable': 'connection-lost',
  'Cannot use a pool after calling end on the pool': 'unavailable',
};

/** The transient trouble an error (or any error in its cause chain) reports, if any. */
export function troubleOf(err: unknown): DatabaseTrouble | undefined {
  for (const e of causes(err)) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') {
      const known = TRANSIENT_SQLSTATES[code] ?? TRANSIENT_SOCKET_CODES[code];
      if (known !== undefined) return known;
    }
    const known = e instanceof Error ? TRANSIENT_MESSAGES[e.message] : undefined;
    if (known !== undefined) return known;
    // AggregateError (a host name with several addresses, all refused).
    const inner = (e as { errors?: unknown }).errors;
    if (Array.isArray(inner)) {
      const first = inner.map(troubleOf).find((t) => t !== undefined);
      if (first !== undefined) return first;
    }
  }
  return undefined;
}

export interface ErrorSummary {
  /** The class of the outermost error (e.g. DrizzleQueryError). */
  type: string;
  /** SQLSTATE or Node error code of the first error in the cause chain that has one. */
  code: string | undefined;
  /** A short hash of the failing query's text (never its parameters), to group log lines. */
  queryFingerprint: string | undefined;
  /** Stack frames only: the message line(s), which can quote data, are dropped. */
  frames: string | undefined;
  trouble: DatabaseTrouble | undefined;
}

function causes(err: unknown): unknown[] {
  const chain: unknown[] = [];
  for (let e = err; typeof e === 'object' && e !== null && chain.length < 8; e = (e as { cause?: unknown }).cause) chain.push(e);
  return chain;
}

/** Reads an error and its causes without keeping any message text. */
export function summariseError(err: unknown): ErrorSummary {
  const chain = causes(err);
  const code = chain.map((e) => (e as { code?: unknown }).code).find((c): c is string => typeof c === 'string');
  const query = chain.map((e) => (e as { query?: unknown }).query).find((q): q is string => typeof q === 'string');
  const trouble = troubleOf(err);
  return {
    type: err instanceof Error ? err.name : typeof err,
    code,
    queryFingerprint: query === undefined ? undefined : createHash('sha256').update(query).digest('hex').slice(0, 16),
    frames: err instanceof Error ? framesOf(err) : undefined,
    trouble,
  };
}

/**
 * The stack's frames without its header, which repeats the message (and, for a
 * multi-line message, could hold lines that look like frames). A stack whose
 * header is not the message as it stands now (the message was edited after the
 * error was made) gives no frames rather than a guess.
 */
function framesOf(err: Error): string | undefined {
  const stack = err.stack;
  const header = String(err);
  if (stack === undefined || !stack.startsWith(header)) return undefined;
  return stack
    .slice(header.length)
    .split('\n')
    .filter((line) => /^\s+at /.test(line))
    .join('\n');
}
