import { Router, type NextFunction, type Request, type Response } from 'express';
import type { FigureAnswer, FiguresService } from '../services/figures-service.js';
import { must, queryPairs } from './fhir-routes.js';
import { guard } from './guard.js';
import { cookieValue, IG_COOKIE, igGuard, type IgGuardDeps } from './ig-guard.js';
import { metaOf } from './request-context.js';
import { sendFhir } from './send.js';

// The commissioners' figures under /fhir, before the generic routes:
// GET /fhir/Measure/{id}/$evaluate-measure?periodStart=&periodEnd=  (a MeasureReport)
// GET /fhir/MeasureReport?measure={canonical}&period=geDATE&period=leDATE  (a searchset Bundle)
// Either as CSV with _format=csv or Accept: text/csv. The service decides who may have them.

export function figuresRouter(deps: IgGuardDeps & { figures: FiguresService }): Router {
  const router = Router();
  const figures = deps.figures;

  router.get('/Measure/:id/$evaluate-measure', authenticated(deps), async (req, res) => {
    send(res, await figures.evaluate(must(res), String(req.params['id']), queryPairs(req), req.get('accept'), metaOf(req, res)));
  });

  router.get('/MeasureReport', authenticated(deps), async (req, res) => {
    send(res, await figures.search(must(res), queryPairs(req), req.get('accept'), metaOf(req, res)));
  });

  return router;
}

/** A hub access token (scopes and purpose checked by the service), or the /ig page's session (the IG lead's chart). */
function authenticated(deps: IgGuardDeps) {
  const byToken = guard(deps, 'operation', 'r', null);
  const bySession = igGuard(deps, 'operation', 'MeasureReport');
  return (req: Request, res: Response, next: NextFunction): Promise<void> =>
    req.get('authorization') === undefined && cookieValue(req.get('cookie'), IG_COOKIE) !== undefined ? bySession(req, res, next) : byToken(req, res, next);
}

function send(res: Response, answer: FigureAnswer): void {
  if (answer.kind === 'fhir') {
    sendFhir(res, answer.result);
    return;
  }
  res.setHeader('Content-Disposition', `attachment; filename="${answer.filename}"`);
  res.status(200).type('text/csv; charset=utf-8').send(answer.body);
}
