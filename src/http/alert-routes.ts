import { Router, type Request, type Response } from 'express';
import type { Principal } from '../auth/principal.js';
import { problem } from '../fhir/operation-outcome.js';
import { listAlertsFor, reviewAlert, type AlertResult } from '../services/alert-service.js';
import { bodyErrors, refuseAudited } from './guard.js';
import { igGuard, type IgGuardDeps } from './ig-guard.js';
import { jsonBody } from './json-body.js';
import { metaOf, principalOf } from './request-context.js';
import { sendProblem } from './send.js';

// Alerts the IG lead must review: safeguarding overrides and denial bursts.

const JSON_TYPES = ['application/json', 'application/fhir+json'];
const REVIEW_LIMIT = '16kb';

export function alertRouter(deps: IgGuardDeps): Router {
  const router = Router();
  const parseJson = jsonBody(JSON_TYPES, REVIEW_LIMIT);

  /** A review may come without a body; a body that is not JSON is refused, not ignored. */
  const jsonOrNothing = (req: Request, res: Response, next: (err?: unknown) => void): void => {
    if (req.get('content-length') === '0' || req.is(JSON_TYPES) !== false) {
      next();
      return;
    }
    refuseAudited(deps, req, res, 'update', problem(415, 'not-supported', 'send the review as application/json ({"note": "…"})', 'Content-Type')).catch(next);
  };

  router.get('/audit/alerts', igGuard(deps, 'operation'), async (req, res) => {
    send(res, await listAlertsFor(deps, must(res), queryPairs(req), metaOf(req, res), queryOf(req)));
  });

  router.post('/audit/alerts/:id/review', igGuard(deps, 'update'), jsonOrNothing, parseJson, async (req, res) => {
    send(res, await reviewAlert(deps, must(res), String(req.params['id']), req.body as unknown, metaOf(req, res)));
  });

  router.use(bodyErrors(deps, REVIEW_LIMIT, () => 'update'));
  return router;
}

function send<T>(res: Response, result: AlertResult<T>): void {
  if (result.ok) res.status(200).json(result.value);
  else sendProblem(res, result.problem);
}

function must(res: Response): Principal {
  const principal = principalOf(res);
  if (principal === undefined) throw new Error('route reached without a principal');
  return principal;
}

function queryOf(req: Request): string | undefined {
  const q = req.originalUrl.indexOf('?');
  return q < 0 ? undefined : req.originalUrl.slice(q + 1);
}

function queryPairs(req: Request): [string, string][] {
  const query = queryOf(req);
  return query === undefined ? [] : [...new URLSearchParams(query)];
}
