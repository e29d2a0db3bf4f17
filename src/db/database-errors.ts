import { createHash } from 'node:crypto';

// What an error from the database layer may say in a log or an answer. Query
// text and parameters carry personal data (NHS numbers, names): drizzle's
// DrizzleQueryError quotes both in its message, so a log keeps only the
// error's class, its SQLSTATE and a fingerprint of the query text.

/** Why the database could not answer, when that is worth a retry rather than a 500. */
export type DatabaseTrouble = 'statement-timeout' | 'pool-exhausted' | 'too-many-connections';

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
  const messages = chain.map((e) => (e instanceof Error ? e.message : ''));
  // pg-pool's own errors carry no code: its waiting queue timed out (connectionTimeoutMillis), or a new connection did.
  const poolTimeout = messages.some((m) => m === 'timeout exceeded when trying to connect' || m === 'Connection terminated due to connection timeout');
  // SQLSTATE 57014 query_canceled: statement_timeout fired. 53300 too_many_connections.
  // See: https://www.postgresql.org/docs/current/errcodes-appendix.html
  const trouble: DatabaseTrouble | undefined =
    code === '57014' ? 'statement-timeout' : code === '53300' ? 'too-many-connections' : poolTimeout ? 'pool-exhausted' : undefined;
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
