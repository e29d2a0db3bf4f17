import type { Parameters } from 'fhir/r4.js';
import type { Principal } from '../auth/principal.js';
import { allows } from '../auth/scopes.js';
import { readCurrent } from '../db/resource-queries.js';
import { DENY_REASON_SYSTEM, problem } from '../fhir/operation-outcome.js';
import { ID_PATTERN, type ParamList } from '../fhir/search-request.js';
import { requesterOf, type RequestMeta } from './audit-recorder.js';
import { refuse, versionedReference, type DecisionAuditDeps } from './decision-audit.js';
import type { DisclosureService } from './disclosure-service.js';
import { toResult, type FhirResult } from './fhir-result.js';

// The IG lead's $explain-disclosure. See README ("What the hub serves").

const PERMIT_BASIS_SYSTEM = 'https://eastside.example/fhir/CodeSystem/permit-basis';

export interface ExplainDeps extends DecisionAuditDeps {
  disclosure: DisclosureService;
}

/**
 * The IG lead's question: would organisation X, for purpose P, see this
 * record now, and why? Answers with the decision alone (a Parameters
 * resource): nothing of the record leaves, and nothing is disclosed to X.
 */
export async function explainDisclosure(
  deps: ExplainDeps,
  principal: Principal,
  type: string,
  id: string,
  params: ParamList,
  meta: RequestMeta,
): Promise<FhirResult> {
  if (principal.organisationType !== 'hub-operator' || principal.purposeOfUse !== 'audit') {
    return refuse(deps, principal, meta, 'operation', type, problem(403, 'forbidden', '$explain-disclosure is for the information governance lead (a hub-operator client, purpose audit)', 'purpose_of_use'));
  }
  if (!allows(principal.scopes, 'AuditEvent', 'r')) {
    return refuse(deps, principal, meta, 'operation', type, problem(403, 'forbidden', 'the access token has no scope allowing r on AuditEvent (system/AuditEvent.r), which explaining a decision needs', 'scope'));
  }
  if (!ID_PATTERN.test(id)) return refuse(deps, principal, meta, 'operation', type, problem(400, 'invalid', 'id is not a valid resource id', 'id'));
  const one = (name: string): string | undefined => params.find(([k]) => k === name)?.[1].trim();
  const organisation = one('organisation');
  const purpose = one('purpose');
  for (const [name, value] of [['organisation', organisation], ['purpose', purpose]] as const) {
    if (value === undefined || !/^[A-Za-z0-9][A-Za-z0-9.-]{0,63}$/.test(value)) {
      return refuse(deps, principal, meta, 'operation', type, problem(400, 'required', `${name} is required (a code)`, name));
    }
  }
  const unknown = params.find(([k]) => !['organisation', 'purpose', 'override-reason'].includes(k));
  if (unknown !== undefined) return refuse(deps, principal, meta, 'operation', type, problem(400, 'not-supported', `parameter ${unknown[0].replace(/[^\x20-\x7e]/g, '?')} is not supported`, unknown[0].replace(/[^\x20-\x7e]/g, '?')));
  return deps.audit.transaction(deps.db, async (tx) => {
    const ctx = await deps.disclosure.contextFor(tx, organisation ?? '', purpose ?? '', one('override-reason'));
    if (ctx === undefined) {
      await deps.audit.rest(tx, meta, requesterOf(principal), { interaction: 'operation', outcome: 'minor-failure', outcomeDesc: 'explain: unknown organisation', resourceType: type });
      return toResult(problem(400, 'invalid', `organisation ${organisation ?? ''} is not a registered organisation`, 'organisation'));
    }
    const row = await readCurrent(tx, type, id);
    if (row === undefined) {
      await deps.audit.rest(tx, meta, requesterOf(principal), { interaction: 'operation', outcome: 'minor-failure', outcomeDesc: 'not found', resourceType: type });
      return toResult(problem(404, 'not-found', `${type}/${id} is not known`));
    }
    const [judged] = await deps.disclosure.judge(tx, ctx, [row]);
    if (judged === undefined) throw new Error('no decision for a record');
    const d = judged.decision;
    const code = d.effect === 'deny' ? d.reason : d.basis;
    await deps.audit.rest(tx, meta, requesterOf(principal), {
      interaction: 'operation',
      outcome: 'success',
      outcomeDesc: `explain: would ${ctx.requester.organisationCode} for ${ctx.requester.purpose} see it now? ${d.effect}: ${code}`,
      resources: [versionedReference(row)],
      patients: judged.patients,
    });
    const flow = d.effect === 'deny' || d.basis === 'flow' ? d.flow : undefined;
    const consent = d.effect === 'deny' || d.basis === 'flow' ? d.consent : undefined;
    const parameters: Parameters = {
      resourceType: 'Parameters',
      parameter: [
        { name: 'decision', valueCode: d.effect },
        { name: d.effect === 'deny' ? 'reason' : 'basis', valueCoding: { system: d.effect === 'deny' ? DENY_REASON_SYSTEM : PERMIT_BASIS_SYSTEM, code } },
        ...(d.effect === 'deny' ? [{ name: 'detail', valueString: d.detail }] : []),
        // A consent the decision did not count, and why (recorded by an organisation the flow does not take consent from).
        ...(d.effect === 'deny' ? (d.ignored ?? []).map((note) => ({ name: 'ignoredConsent', valueString: note })) : []),
        ...(flow === undefined ? [] : [{ name: 'flow', valueString: `${flow.protocol}|${flow.version}|${flow.flow}` }]),
        ...(consent === undefined ? [] : [{ name: 'consent', valueReference: { reference: consent } }]),
        ...(d.effect === 'permit' && d.basis === 'flow'
          ? [...d.items.map((i) => ({ name: 'dataItem', valueString: i })), ...d.elements.map((e) => ({ name: 'element', valueString: `${type}.${e}` }))]
          : []),
        ...(d.effect === 'permit' && d.basis === 'flow' && d.override !== undefined ? [{ name: 'override', valueBoolean: true }] : []),
      ],
    };
    return { status: 200, body: parameters };
  });
}
