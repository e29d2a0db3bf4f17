import { Router, type Response } from 'express';
import { ReportService, type ReportAnswer } from '../services/report-service.js';
import { must, queryPairs } from './fhir-routes.js';
import { igGuard, type IgGuardDeps } from './ig-guard.js';
import { metaOf } from './request-context.js';
import { sendFhir } from './send.js';

// The IG lead's reports over the audit log (CSV and JSON).

export function reportRouter(deps: IgGuardDeps): Router {
  const router = Router();
  const reports = new ReportService(deps);

  router.get('/audit/report/disclosures', igGuard(deps, 'operation'), async (req, res) => {
    send(res, await reports.disclosures(must(res), queryPairs(req), req.get('accept'), metaOf(req, res)));
  });

  router.get('/audit/report/denials', igGuard(deps, 'operation'), async (req, res) => {
    send(res, await reports.denials(must(res), queryPairs(req), req.get('accept'), metaOf(req, res)));
  });

  router.get('/audit/report/follow-ups', igGuard(deps, 'operation', 'Task'), async (req, res) => {
    send(res, await reports.followUps(must(res), queryPairs(req), req.get('accept'), metaOf(req, res)));
  });

  return router;
}

function send(res: Response, answer: ReportAnswer): void {
  if (answer.kind === 'refused') {
    sendFhir(res, answer.result);
    return;
  }
  for (const [name, value] of Object.entries(answer.headers)) res.setHeader(name, value);
  res.status(200).type(answer.contentType).send(answer.body);
}
