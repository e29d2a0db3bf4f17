import type { Patient } from 'fhir/r4.js';
import { z } from 'zod';
import { NHS_NUMBER_SYSTEM } from '../adapters/nhs-number.js';
import type { Principal } from '../auth/principal.js';
import type { Db, Tx } from '../db/database.js';
import { lockIdentity } from '../db/ingest-queries.js';
import { writeStatement } from '../db/patient-source-queries.js';
import { readCurrent, writeVersion, type StoredResource } from '../db/resource-queries.js';
import { problem, type Problem } from '../fhir/operation-outcome.js';
import { composePatient, demographicsOf, liftLabel } from '../fhir/patient-sources.js';
import { ID_PATTERN } from '../fhir/search-request.js';
import { requesterOf, type RequestMeta } from './audit-recorder.js';
import { versionedReference } from './decision-audit.js';
import { statementsOf, type PatientStatementDeps } from './patient-statements.js';
import { seal } from '../db/undisclosed.js';

// The IG lead lifts a confidentiality label from a shared Patient: the one
// way, besides the source that set it, a label is removed (DESIGN.md §10,
// "Labels are sticky"). The label goes from every source's statement that
// carries it, the Patient is composed again, and the lift is audited with its
// stated reason in the same transaction. A source that sends the label again
// sets it again.

export interface PatientLabelDeps extends PatientStatementDeps {
  db: Db;
}

const CONFIDENTIALITY = 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality';
const plain = (name: string, max: number) =>
  z
    .string({ error: `${name} must be a string` })
    .trim()
    .min(1, `${name} is required`)
    .max(max, `${name} must be at most ${max} characters`)
    // eslint-disable-next-line no-control-regex -- control characters are what is refused
    .refine((s) => s.isWellFormed() && !/[\u0000-\u001f]/.test(s), `${name} must be plain text`);

export const liftLabelBodySchema = z
  .object(
    {
      system: plain('system', 256).default(CONFIDENTIALITY),
      code: plain('code', 64),
      reason: plain('reason', 1000),
    },
    { error: 'the body must be a JSON object' },
  )
  .strict();

export interface LiftedLabel {
  patient: string;
  versionId: number;
  lifted: { system: string; code: string };
  /** The organisations whose statements carried the label. */
  setBy: string[];
  auditEvent: string;
}

export type LiftResult = { ok: true; value: LiftedLabel } | { ok: false; problem: Problem };

/** POST /audit/patients/:id/lift-label, for the IG lead only (the route's gate). */
export async function liftPatientLabel(deps: PatientLabelDeps, principal: Principal, id: string, body: unknown, meta: RequestMeta): Promise<LiftResult> {
  const parsed = liftLabelBodySchema.safeParse(body ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue?.code === 'unrecognized_keys' ? issue.keys.join(', ') : (issue?.path.map(String).join('.') ?? '');
    return refuse(deps, principal, meta, problem(400, 'invalid', issue?.code === 'unrecognized_keys' ? `${field} is not supported` : (issue?.message ?? 'invalid body'), field === '' ? 'body' : field));
  }
  if (!ID_PATTERN.test(id)) return refuse(deps, principal, meta, problem(404, 'not-found', 'no Patient has this id', 'id'));
  const { system, code, reason } = parsed.data;
  return deps.audit.transaction(deps.db, async (tx): Promise<LiftResult> => {
    const seen = await readCurrent(tx, 'Patient', id);
    const nhs = (seen?.content as Patient | undefined)?.identifier?.find((i) => i.system === NHS_NUMBER_SYSTEM)?.value;
    // The identity lock first, as every writer of this Patient takes it: no message composes from statements read before the lift.
    if (nhs !== undefined) await lockIdentity(tx, `Patient|${NHS_NUMBER_SYSTEM}|${nhs}`);
    const current = await readCurrent(tx, 'Patient', id, true);
    if (current === undefined) return refuseIn(deps, tx, principal, meta, problem(404, 'not-found', `Patient/${id} is not known`, 'id'));
    const lifted = liftLabel(await statementsOf(tx, id, current), { system, code });
    if (lifted.setBy.length === 0) return refuseIn(deps, tx, principal, meta, problem(409, 'conflict', `Patient/${id} carries no label ${system}|${code}`, 'code'), current);
    for (const statement of lifted.statements) if (lifted.setBy.includes(statement.organisation)) await writeStatement(tx, id, statement, deps.clock());
    const composed: Patient = { ...composePatient(lifted.statements, demographicsOf(deps.protocols)), id };
    const row = version(current, composed, deps.clock());
    await writeVersion(tx, row);
    const event = await deps.audit.rest(tx, meta, requesterOf(principal), {
      interaction: 'update',
      outcome: 'success',
      outcomeDesc: `label ${system}|${code} lifted by the information governance lead (set by ${lifted.setBy.join(', ')}): ${reason}`,
      resourceType: 'Patient',
      resources: [versionedReference(row)],
      patients: [`Patient/${id}`],
    });
    return { ok: true, value: { patient: `Patient/${id}`, versionId: row.versionId, lifted: { system, code }, setBy: lifted.setBy, auditEvent: event.id ?? '' } };
  });
}

/** The new version keeps its last writer: the hub operator lifting a label does not become a source of the record. */
function version(current: StoredResource, composed: Patient, now: Date): StoredResource {
  const versionId = current.versionId + 1;
  return {
    type: 'Patient',
    id: current.id,
    versionId,
    lastUpdated: now,
    sourceOrg: current.sourceOrg,
    content: seal({ ...composed, meta: { ...(composed.meta ?? {}), versionId: String(versionId), lastUpdated: now.toISOString() } }),
  };
}

async function refuse(deps: PatientLabelDeps, principal: Principal, meta: RequestMeta, refusal: Problem): Promise<LiftResult> {
  return deps.audit.transaction(deps.db, (tx) => refuseIn(deps, tx, principal, meta, refusal));
}

async function refuseIn(deps: PatientLabelDeps, tx: Tx, principal: Principal, meta: RequestMeta, refusal: Problem, current?: StoredResource): Promise<LiftResult> {
  await deps.audit.rest(tx, meta, requesterOf(principal), {
    interaction: 'update',
    outcome: 'minor-failure',
    outcomeDesc: refusal.outcome.issue.map((i) => i.diagnostics ?? i.code).join('; '),
    resourceType: 'Patient',
    ...(current === undefined ? {} : { resources: [versionedReference(current)], patients: [`Patient/${current.id}`] }),
  });
  return { ok: false, problem: refusal };
}
