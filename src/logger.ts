import { pino, type Logger } from 'pino';

/**
 * Lines are gathered until this many bytes are waiting, then written at once.
 * A line per request each written alone was a write system call (and, written
 * asynchronously, a thread pool task and a wake-up of the event loop) per
 * request: about a quarter of the hub's socket and file writes under load.
 */
const LOG_BUFFER_BYTES = 4096;
/** The longest a line waits in the buffer when the hub is quiet. */
const LOG_FLUSH_MS = 1000;

/**
 * JSON logs on stdout. Callers log ids, routes and codes, never personal data.
 * What is buffered is written when the process exits (pino flushes on `exit`),
 * so only a process killed outright (SIGKILL, the machine lost) can lose it:
 * at most a second's lines. The audit log, not this, is the record of access.
 */
export function createLogger(level: string): Logger {
  const destination = pino.destination({ dest: 1, sync: false, minLength: LOG_BUFFER_BYTES, periodicFlush: LOG_FLUSH_MS });
  return pino({ level, base: { service: 'early-years-hub' }, redact: ['req.headers.authorization', '*.access_token'] }, destination);
}
