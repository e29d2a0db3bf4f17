import type { NextFunction, Request, Response } from 'express';
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Principal } from '../auth/principal.js';
import type { RequestMeta } from '../services/audit-recorder.js';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;

export interface Locals {
  requestId: string;
  principal?: Principal;
}

/** Takes a well-formed X-Request-Id from the caller, or makes one; echoes it on every response. */
export function requestContext(logger: Logger) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const offered = req.get('x-request-id');
    const requestId = offered !== undefined && REQUEST_ID.test(offered) ? offered : randomUUID();
    res.locals['requestId'] = requestId;
    res.setHeader('X-Request-Id', requestId);
    // Personal data can sit in query strings (identifier=…|NHS number) and bodies: log neither.
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      logger.info(
        {
          requestId,
          method: req.method,
          path: req.baseUrl + req.path,
          status: res.statusCode,
          ms: Number(process.hrtime.bigint() - started) / 1e6,
          client: principalOf(res)?.clientId,
        },
        'request',
      );
    });
    next();
  };
}

export function metaOf(req: Request, res: Response): RequestMeta {
  // eslint-disable-next-line no-control-regex -- a stated reason is one line of text
  const reason = req.get('x-override-reason')?.replace(/[\u0000-\u001f\u007f]/g, ' ').trim().slice(0, 500);
  return {
    requestId: String(res.locals['requestId']),
    // The peer, or with TRUST_PROXY the client behind the trusted proxies (see trusted-proxies.ts).
    clientAddress: req.ip ?? req.socket.remoteAddress,
    ...(reason === undefined || reason === '' ? {} : { overrideReason: reason }),
  };
}

export function principalOf(res: Response): Principal | undefined {
  return res.locals['principal'] as Principal | undefined;
}
