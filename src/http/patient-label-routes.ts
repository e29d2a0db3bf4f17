import { Router, type Request, type Response } from 'express';
import type { Principal } from '../auth/principal.js';
import { problem } from '../fhir/operation-outcome.js';
import type { LoadedProtocol } from '../protocol/protocol-schema.js';
import { liftPatientLabel } from '../services/patient-label-service.js';
import { bodyErrors, refuseAudited } from './guard.js';
import { igGuard, type IgGuardDeps } from './ig-guard.js';
import { jsonBody } from './json-body.js';
import { metaOf, principalOf } from './request-context.js';
import { sendProblem } from './send.js';

// The IG lead lifts a confidentiality label from a Patient, with a reason
// (audited): POST /audit/patients/:id/lift-label {"code": "R", "reason": "…"}.

const JSON_TYPES = ['application/json', 'application/fhir+json'];
const LIMIT = '16kb';

export function patientLabelRouter(deps: IgGuardDeps & { protocols: readonly LoadedProtocol[] }): Router {
  const router = Router();
  const jsonOnly = (req: Request, res: Response, next: (err?: unknown) => void): void => {
    if (req.is(JSON_TYPES) !== false) {
      next();
      return;
    }
    refuseAudited(deps, req, res, 'update', problem(415, 'not-supported', 'send the lift as application/json ({"code": "R", "reason": "…"})', 'Content-Type')).catch(next);
  };

  router.post('/audit/patients/:id/lift-label', igGuard(deps, 'update', 'Patient'), jsonOnly, jsonBody(JSON_TYPES, LIMIT), async (req, res) => {
    const principal: Principal | undefined = principalOf(res);
    if (principal === undefined) throw new Error('route reached without a principal');
    const result = await liftPatientLabel(deps, principal, String(req.params['id']), req.body as unknown, metaOf(req, res));
    if (result.ok) res.status(200).json(result.value);
    else sendProblem(res, result.problem);
  });

  router.use(bodyErrors(deps, LIMIT, () => 'update'));
  return router;
}
