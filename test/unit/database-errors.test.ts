import { describe, expect, it } from 'vitest';
import { summariseError, troubleOf } from '../../src/db/database-errors.js';

// Which database failures are worth a retry (503 transient + Retry-After) and which are bugs (500).
// See: https://www.postgresql.org/docs/current/errcodes-appendix.html

function pgError(code: string): Error {
  return Object.assign(new Error('message that may quote data'), { code });
}

describe('transient database trouble', () => {
  it.each([
    ['57014', 'statement-timeout'],
    ['55P03', 'lock-timeout'],
    ['53300', 'too-many-connections'],
    ['57P01', 'connection-lost'],
    ['57P02', 'connection-lost'],
    ['57P03', 'unavailable'],
    ['08006', 'connection-lost'],
    ['ECONNREFUSED', 'unavailable'],
    ['ECONNRESET', 'connection-lost'],
  ])('%s is %s, also as the cause of a wrapping error', (code, trouble) => {
    expect(troubleOf(pgError(code))).toBe(trouble);
    expect(troubleOf(new Error('Failed query: select …', { cause: pgError(code) }))).toBe(trouble);
  });

  it.each([
    ['timeout exceeded when trying to connect', 'pool-exhausted'],
    ['Connection terminated unexpectedly', 'connection-lost'],
    ['Connection terminated due to connection timeout', 'pool-exhausted'],
  ])('node-postgres\'s "%s" is %s', (message, trouble) => {
    expect(troubleOf(new Error(message))).toBe(trouble);
  });

  it('reads a refused connection to a host with several addresses (AggregateError)', () => {
    expect(troubleOf(new AggregateError([pgError('ECONNREFUSED'), pgError('ECONNREFUSED')]))).toBe('unavailable');
  });

  it.each(['23505', '42P01', '28P01', '3D000', '22P02', undefined])('%s is not transient: a 500', (code) => {
    expect(troubleOf(code === undefined ? new Error('bug') : pgError(code))).toBeUndefined();
    expect(summariseError(code === undefined ? new TypeError('bug') : pgError(code)).trouble).toBeUndefined();
  });
});
