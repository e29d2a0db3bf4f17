import { Router, type Request, type Response } from 'express';
import { problem } from '../fhir/operation-outcome.js';
import { AuditSearchService } from '../services/audit-search-service.js';
import type { FhirService } from '../services/fhir-service.js';
import { jsonBody } from './json-body.js';
import { bodyErrors, guard, refuseAudited } from './guard.js';
import { igGuard, type IgGuardDeps } from './ig-guard.js';
import { metaOf, principalOf } from './request-context.js';
import { sendFhir, sendProblem } from './send.js';

// FHIR R4 RESTful API. See: https://hl7.org/fhir/R4/http.html
// Handlers are thin: parse, call one service function, respond.

const FHIR_JSON_TYPES = ['application/fhir+json', 'application/json', 'application/json-patch+json'];

export function fhirRouter(deps: IgGuardDeps & { fhir: FhirService; bodyLimit: string }): Router {
  const router = Router();
  const fhir = deps.fhir;
  const auditEvents = new AuditSearchService(deps);
  const parseJson = jsonBody(FHIR_JSON_TYPES, deps.bodyLimit);

  /** The body must be FHIR JSON; anything else is refused with a 4xx naming it, and audited. */
  const requireJson = (req: Request, res: Response, next: (err?: unknown) => void): void => {
    if (req.get('content-type') !== undefined && req.is(FHIR_JSON_TYPES) !== false) {
      next();
      return;
    }
    refuseAudited(deps, req, res, interactionOf(req), problem(415, 'not-supported', 'send the resource as application/fhir+json', 'Content-Type')).catch(next);
  };

  router.get('/metadata', async (req, res) => {
    sendFhir(res, await fhir.capabilities(metaOf(req, res)));
  });

  // The audit log, for the IG lead only (token or /ig session); before the generic routes.
  router.get('/AuditEvent', igGuard(deps, 'search-type'), async (req, res) => {
    sendFhir(res, await auditEvents.search(must(res), queryPairs(req), lenient(req), metaOf(req, res)));
  });

  router.get('/AuditEvent/:id', igGuard(deps, 'read'), async (req, res) => {
    sendFhir(res, await auditEvents.read(must(res), param(req, 'id'), metaOf(req, res)));
  });

  router.get('/:type', guard(deps, 'search-type', 's'), async (req, res) => {
    sendFhir(res, await fhir.search(must(res), type(req), queryPairs(req), lenient(req), metaOf(req, res)));
  });

  router.get('/:type/:id', guard(deps, 'read', 'r'), async (req, res) => {
    sendFhir(res, await fhir.read(must(res), type(req), param(req, 'id'), metaOf(req, res)));
  });

  // The IG lead's question about one record; the service checks the caller is the IG client.
  router.get('/:type/:id/$explain-disclosure', guard(deps, 'operation', 'r', null), async (req, res) => {
    sendFhir(res, await fhir.explain(must(res), type(req), param(req, 'id'), queryPairs(req), metaOf(req, res)));
  });

  router.get('/:type/:id/_history', guard(deps, 'history-instance', 'r'), async (req, res) => {
    sendFhir(res, await fhir.history(must(res), type(req), param(req, 'id'), metaOf(req, res)));
  });

  router.get('/:type/:id/_history/:vid', guard(deps, 'vread', 'r'), async (req, res) => {
    sendFhir(res, await fhir.vread(must(res), type(req), param(req, 'id'), param(req, 'vid'), metaOf(req, res)));
  });

  router.post('/:type', guard(deps, 'create', 'c'), requireJson, parseJson, async (req, res) => {
    const ifNoneExist = req.get('if-none-exist');
    sendFhir(res, await fhir.create(must(res), type(req), req.body as unknown, ifNoneExist, metaOf(req, res)));
  });

  router.put('/:type/:id', guard(deps, 'update', 'u'), requireJson, parseJson, async (req, res) => {
    const ifMatch = req.get('if-match');
    sendFhir(res, await fhir.update(must(res), type(req), param(req, 'id'), req.body as unknown, ifMatch, metaOf(req, res)));
  });

  router.use(bodyErrors(deps, deps.bodyLimit, interactionOf));

  router.use((req, res) => {
    sendProblem(res, problem(404, 'not-supported', `${req.method} ${req.path} is not an interaction this server supports`));
  });
  return router;
}

function interactionOf(req: Request): 'create' | 'update' {
  return req.method === 'PUT' ? 'update' : 'create';
}

/** Prefer: handling=lenient: unknown search parameters are ignored. See: https://hl7.org/fhir/R4/search.html#errors */
function lenient(req: Request): boolean {
  return /\bhandling=lenient\b/.test(req.get('prefer') ?? '');
}

/** The principal a guard admitted. */
export function must(res: Response): NonNullable<ReturnType<typeof principalOf>> {
  const principal = principalOf(res);
  if (principal === undefined) throw new Error('route reached without a principal');
  return principal;
}

function type(req: Request): string {
  return param(req, 'type');
}

function param(req: Request, name: string): string {
  return String(req.params[name]);
}

/** Query parameters in order, repeated ones kept (AND semantics). */
export function queryPairs(req: Request): [string, string][] {
  const q = req.originalUrl.indexOf('?');
  return q < 0 ? [] : [...new URLSearchParams(req.originalUrl.slice(q + 1))];
}
