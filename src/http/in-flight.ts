import type { NextFunction, Request, Response } from 'express';
import { problem } from '../fhir/operation-outcome.js';
import { sendProblem } from './send.js';

/** Seconds a client refused for load is asked to wait (RFC 9110 section 10.2.3). */
export const OVERLOAD_RETRY_AFTER_SECONDS = 1;

/** How many requests this instance is serving now. */
export interface InFlight {
  readonly current: number;
}

/**
 * Back-pressure: at most `max` requests at once on this instance; one more is
 * answered 503 `transient` with Retry-After at once, before any database work,
 * rather than queueing for a pool connection it may not get. A request counts
 * until its response is finished or its connection closed.
 */
export function inFlightCap(max: number): { middleware: (req: Request, res: Response, next: NextFunction) => void; inFlight: InFlight } {
  let current = 0;
  const middleware = (_req: Request, res: Response, next: NextFunction): void => {
    if (current >= max) {
      res.setHeader('Retry-After', String(OVERLOAD_RETRY_AFTER_SECONDS));
      sendProblem(res, problem(503, 'transient', `the hub is serving as many requests as it allows (${max}); retry after ${OVERLOAD_RETRY_AFTER_SECONDS} s`));
      return;
    }
    current += 1;
    res.once('close', () => {
      current -= 1;
    });
    next();
  };
  return { middleware, inFlight: { get current() { return current; } } };
}
