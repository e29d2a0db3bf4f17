import express, { Router, type Request, type Response } from 'express';
import type { OperationOutcomeIssue } from 'fhir/r4.js';
import { z } from 'zod';
import { adaptCaf } from '../adapters/caf.js';
import { adaptCafResponse } from '../adapters/caf-response.js';
import { adaptFhirMessage } from '../adapters/fhir-message.js';
import { adaptImmunisationCsv } from '../adapters/immunisation-csv.js';
import { completeHistoryUnits } from '../adapters/immunisation-history.js';
import type { AdapterResult, IngestUnit } from '../adapters/ingest-unit.js';
import type { Principal } from '../auth/principal.js';
import { allows } from '../auth/scopes.js';
import { outcome, problem } from '../fhir/operation-outcome.js';
import { HL7_MEDIA_TYPE, hl7Timestamp, ingestHl7 } from '../services/hl7-ingest.js';
import type { IngestService, RawMessage, UnitOutcome } from '../services/ingest-service.js';
import { jsonBody, rawBodyOf } from './json-body.js';
import { bodyErrors, guard, refuseAudited, type GuardDeps } from './guard.js';
import { metaOf, principalOf } from './request-context.js';
import { FHIR_JSON, sendFhir } from './send.js';

// Where partners push what their systems can send. Each route needs a token
// with the create scope of the message's focus resource type, adapts the body
// (pure), and hands the units to the ingest service.

const INGEST_LIMIT = '20mb';

/** The CSV route's one parameter: history=complete, the practice's statement that the file is each child's whole history. */
const csvQuery = z.object({ history: z.literal('complete').optional() });

/** The resource type whose create scope each FHIR message event needs. */
const EVENT_FOCUS: Record<string, string> = {
  'pregnancy-notification-1': 'EpisodeOfCare',
  'pds-birth-notification-1': 'Patient',
  'vaccinations-1': 'Immunization',
};

export function ingestRouter(deps: GuardDeps & { ingest: IngestService }): Router {
  const router = Router();
  const json = jsonBody(['application/fhir+json', 'application/json'], INGEST_LIMIT);
  const text = (types: string[]) => express.text({ type: types, limit: INGEST_LIMIT });
  const rawOf = (req: Request, contentType: string): RawMessage => ({
    contentType,
    text: typeof req.body === 'string' ? req.body : (rawBodyOf(req) ?? ''),
  });

  router.post('/fhir/\\$process-message', guard(deps, 'operation', 'c', null), json, async (req, res) => {
    const principal = must(res);
    const result = adaptFhirMessage(req.body as unknown);
    const focus = result.ok ? EVENT_FOCUS[result.value.event] : undefined;
    if (focus !== undefined && !allows(principal.scopes, focus, 'c')) {
      await refuseAudited(deps, req, res, 'operation', problem(403, 'forbidden', `${result.ok ? result.value.event : ''} needs a scope allowing create on ${focus}`, 'scope'));
      return;
    }
    const outcomes = await deps.ingest.ingest(principal, rawOf(req, 'application/fhir+json'), [{ label: 'Bundle', result }], metaOf(req, res));
    answer(res, outcomes);
  });

  router.post(
    '/ingest/hl7v2',
    guard(deps, 'operation', 'c', 'Immunization'),
    text([HL7_MEDIA_TYPE, 'application/hl7-v2', 'application/hl7-v2+er7', 'text/plain']),
    async (req, res) => {
      const body = typeof req.body === 'string' ? req.body : '';
      const options = { now: hl7Timestamp(deps.clock()), ackControlIdPrefix: `${String(res.locals['requestId'])}-` };
      const { outcomes, ack } = await ingestHl7(deps.ingest, must(res), body, metaOf(req, res), options);
      if (req.accepts([FHIR_JSON, 'application/json', HL7_MEDIA_TYPE]) === HL7_MEDIA_TYPE) {
        res.status(200).type(HL7_MEDIA_TYPE).send(ack);
        return;
      }
      answer(res, outcomes);
    },
  );

  router.post('/ingest/immunisations-csv', guard(deps, 'operation', 'c', 'Immunization'), text(['text/csv', 'text/plain', 'application/csv']), async (req, res) => {
    const query = csvQuery.safeParse(req.query);
    if (!query.success) {
      await refuseAudited(deps, req, res, 'operation', problem(400, 'value', 'history must be "complete" (the file is every dose the practice has given each child in it) or absent', 'history'));
      return;
    }
    const body = typeof req.body === 'string' ? req.body : '';
    const adapted = adaptImmunisationCsv(body);
    const units = adapted.ok
      ? adapted.value.rows.map((r) => ({ label: `row ${r.row}`, result: r.result }))
      : [{ label: 'file', result: adapted as AdapterResult<IngestUnit> }];
    const raw = { contentType: 'text/csv', text: body };
    const outcomes = await deps.ingest.ingest(must(res), raw, units, metaOf(req, res));
    if (query.data.history === 'complete') {
      const refused = adapted.ok ? adapted.value.rows.filter((_, i) => outcomes[i]?.status === 'refused').map((r) => r.row) : [];
      outcomes.push(...(await deps.ingest.ingest(must(res), raw, completeHistoryUnits(adapted, refused), metaOf(req, res))));
    }
    answer(res, outcomes);
  });

  router.post('/ingest/caf', guard(deps, 'operation', 'c', 'QuestionnaireResponse'), json, async (req, res) => {
    const principal = must(res);
    // Two shapes of one assessment: the CAF JSON export, or a QuestionnaireResponse answering the hub's CAF Questionnaire.
    const options = { senderSystem: principal.organisationSystem };
    const body = req.body as unknown;
    const result = isQuestionnaireResponse(body) ? adaptCafResponse(body, options) : adaptCaf(body, options);
    answer(res, await deps.ingest.ingest(principal, rawOf(req, 'application/json'), [{ label: 'assessment', result }], metaOf(req, res)));
  });

  router.use(bodyErrors(deps, INGEST_LIMIT, () => 'operation'));
  return router;
}

/**
 * One OperationOutcome for the whole request: an information issue per unit
 * stored (or recognised as already received), error issues per fault of each
 * refused unit. 200 if any unit was accepted; else the refusal's own status
 * (409 for a revision older than the one held).
 */
function answer(res: Response, outcomes: readonly UnitOutcome[]): void {
  const issues: OperationOutcomeIssue[] = outcomes.flatMap((o): OperationOutcomeIssue[] => {
    switch (o.status) {
      case 'stored':
      case 'unchanged':
      case 'duplicate':
        return [
          {
            severity: 'information',
            code: o.status === 'duplicate' ? 'duplicate' : 'informational',
            diagnostics: `${o.label}: ${describe(o)}`,
            expression: [o.label],
          },
        ];
      case 'refused':
        return o.issues.map((i) => ({ severity: 'error', code: i.code, diagnostics: `${o.label}: ${i.diagnostics}`, expression: [i.location] }));
    }
  });
  const accepted = outcomes.some((o) => o.status !== 'refused');
  const refusals = outcomes.flatMap((o) => (o.refusal === undefined ? [] : [o.refusal]));
  const status = accepted ? 200 : refusals.includes(400) ? 400 : refusals.includes(403) ? 403 : refusals.includes(409) ? 409 : 422;
  sendFhir(res, { status, body: outcome(issues.map((i) => ({ severity: i.severity, code: i.code, diagnostics: i.diagnostics ?? '', expression: i.expression }))) });
}

function describe(o: UnitOutcome): string {
  switch (o.status) {
    case 'stored':
      return `stored ${named(o)}`;
    case 'unchanged':
      return 'nothing new: every resource already held this content';
    case 'duplicate':
      return `${o.messageKey ?? ''} was already received; nothing changed (first stored ${named(o) || 'nothing'})`;
    case 'refused':
      return 'refused';
  }
}

/** What the unit wrote, by reference (see UnitOutcome.resources: nothing of what others hold). */
function named(o: UnitOutcome): string {
  return o.resources.join(', ');
}

function isQuestionnaireResponse(body: unknown): boolean {
  return typeof body === 'object' && body !== null && (body as { resourceType?: unknown }).resourceType === 'QuestionnaireResponse';
}

function must(res: Response): Principal {
  const principal = principalOf(res);
  if (principal === undefined) throw new Error('route reached without a principal');
  return principal;
}
