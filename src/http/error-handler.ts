import type { NextFunction, Request, Response } from 'express';
import type { Logger } from 'pino';
import { problem } from '../fhir/operation-outcome.js';
import { sendProblem } from './send.js';

interface BodyParserError {
  type?: string;
  status?: number;
}

/**
 * The one place exceptions become HTTP: body-parser faults are the caller's
 * (4xx, naming what was wrong); anything else is a generic 500 with no stack
 * and no SQL. The log gets the error's type and stack frames, not its message,
 * which can quote data.
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
    logger.error(
      {
        requestId: res.locals['requestId'],
        path: req.path,
        err: {
          type: err instanceof Error ? err.name : typeof err,
          code: (err as { code?: unknown }).code,
          stack: err instanceof Error ? err.stack?.split('\n').slice(1).join('\n') : undefined,
        },
      },
      'request failed',
    );
    sendProblem(res, problem(500, 'exception', 'the server could not complete the request'));
  };
}
