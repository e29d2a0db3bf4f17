import type { NextFunction, Request, Response } from 'express';
import { problem } from '../fhir/operation-outcome.js';
import { checkParameterBounds } from '../fhir/search-bounds.js';
import { sendIgProblem } from './ig-error-page.js';
import { sendProblem } from './send.js';

/**
 * Refuses, before any route or database work, a request whose path cannot be
 * decoded (a malformed `%`-escape: RFC 3986 section 2.1) or whose query string
 * asks for more than a search may (too many parameters, repetitions or
 * OR-alternatives). Each answer is a 400 OperationOutcome naming what was wrong
 * (a browser on the /ig page gets the page's own error page).
 */
export function requestBounds() {
  return (req: Request, res: Response, next: NextFunction): void => {
    const url = req.originalUrl;
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    try {
      decodeURIComponent(path);
    } catch {
      sendIgProblem(req, res, problem(400, 'invalid', 'the request path has a malformed percent-escape (RFC 3986 section 2.1)', 'path'), {
        title: 'This address is not valid',
        message: 'The address has a malformed percent-escape, so the hub cannot read it.',
      });
      return;
    }
    if (q >= 0) {
      const tooCostly = checkParameterBounds([...new URLSearchParams(url.slice(q + 1))]);
      if (tooCostly !== undefined) {
        sendProblem(res, tooCostly);
        return;
      }
    }
    next();
  };
}
