import type { NextFunction, Request, Response } from 'express';
import type { Logger } from 'pino';
import { summariseError, type DatabaseTrouble } from '../db/database-errors.js';
import { problem } from '../fhir/operation-outcome.js';
import { sendIgProblem } from './ig-error-page.js';
import { sendProblem } from './send.js';

interface BodyParserError {
  type?: string;
  status?: number;
}

/** Seconds a client is asked to wait before retrying when the database is busy (RFC 9110 section 10.2.3). */
export const BUSY_RETRY_AFTER_SECONDS = 5;

/** What a 503 says happened; nothing about the query or its data. */
const TROUBLE_TEXT: Readonly<Record<DatabaseTrouble, string>> = {
  'statement-timeout': 'a database statement took longer than the hub allows',
  'lock-timeout': 'a database row was held by another request for longer than the hub waits',
  'pool-exhausted': 'no database connection was free in time',
  'too-many-connections': 'the database has no connection to spare',
  'connection-lost': 'the connection to the database was lost',
  unavailable: 'the database cannot be reached',
};

/**
 * The one place exceptions become HTTP: body-parser faults are the caller's
 * (4xx, naming what was wrong); a database too busy to answer (statement
 * or lock timeout, no pool connection free in time, a connection lost or refused) is a 503 `transient` with
 * Retry-After; anything else is a generic 500 with no stack and no SQL. The
 * log gets the error's class, code, stack frames and a fingerprint of the
 * query, never its message or parameters, which can quote personal data.
 */
export function errorHandler(logger: Logger) {
  return (err: unknown, req: Request, res: Response, next: NextFunction): void => {
    if (res.headersSent) {
      next(err);
      return;
    }
    const e = (typeof err === 'object' && err !== null ? err : {}) as BodyParserError;
    switch (e.type) {
      case 'entity.parse.failed':
        sendProblem(res, problem(400, 'structure', 'the request body is not valid JSON', 'body'));
        return;
      case 'entity.too.large':
        sendProblem(res, problem(413, 'too-costly', 'the request body is too large', 'body'));
        return;
      case 'encoding.unsupported':
      case 'charset.unsupported':
        sendProblem(res, problem(415, 'not-supported', 'unsupported body encoding or charset', 'Content-Type'));
        return;
      case 'request.aborted':
        return;
      case undefined:
      default:
        break;
    }
    if (err instanceof URIError) {
      // A route parameter that cannot be percent-decoded (RFC 3986 section 2.1).
      sendIgProblem(req, res, problem(400, 'invalid', 'the request path has a malformed percent-escape (RFC 3986 section 2.1)', 'path'), {
        title: 'This address is not valid',
        message: 'The address has a malformed percent-escape, so the hub cannot read it.',
      });
      return;
    }
    const summary = summariseError(err);
    const log = {
      requestId: String(res.locals['requestId']),
      path: req.path,
      err: { type: summary.type, code: summary.code, query: summary.queryFingerprint, trouble: summary.trouble, stack: summary.frames },
    };
    if (summary.trouble !== undefined) {
      logger.warn(log, 'database busy or unreachable: request answered 503');
      res.setHeader('Retry-After', String(BUSY_RETRY_AFTER_SECONDS));
      const why = TROUBLE_TEXT[summary.trouble];
      sendIgProblem(req, res, problem(503, 'transient', `the hub is busy (${why}); retry after ${BUSY_RETRY_AFTER_SECONDS} s`), {
        title: 'The hub is busy',
        message: `The hub could not answer in time. Try again in ${BUSY_RETRY_AFTER_SECONDS} seconds.`,
      });
      return;
    }
    logger.error(log, 'request failed');
    // A browser on the /ig page gets the page's own error page; everyone else the OperationOutcome. Neither holds the error.
    sendIgProblem(req, res, problem(500, 'exception', 'the server could not complete the request'), {
      title: 'Something went wrong',
      message: 'The hub could not complete the request.',
      next: 'Try again. If it happens again, give the reference below to whoever runs the hub: the hub\'s log has the details.',
    });
  };
}
