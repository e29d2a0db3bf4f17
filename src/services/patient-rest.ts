import type { Patient } from 'fhir/r4.js';
import { randomUUID } from 'node:crypto';
import { NHS_NUMBER_SYSTEM, validNhsNumber } from '../adapters/nhs-number.js';
import type { Principal } from '../auth/principal.js';
import type { Tx } from '../db/database.js';
import { findByIdentifier, lockIdentity } from '../db/ingest-queries.js';
import { readStatements } from '../db/patient-source-queries.js';
import { readCurrent, writeVersion, type StoredResource } from '../db/resource-queries.js';
import { problem } from '../fhir/operation-outcome.js';
import { sameContent } from '../fhir/resource-edits.js';
import { statementResource } from '../fhir/patient-sources.js';
import { requesterOf, type RequestMeta } from './audit-recorder.js';
import { versionedReference } from './decision-audit.js';
import { toResult, type FhirResult } from './fhir-result.js';
import { statePatient, type PatientStatementDeps, type StatedPatient } from './patient-statements.js';
import { contentForRules, seal } from '../db/undisclosed.js';

// A Patient written through the REST API follows the identity rule of ingest:
// one Patient per NHS number, whoever can see it. A POST for an NHS number the
// hub holds, or a PUT, is the caller's statement about that Patient, composed
// with every other source's by the protocol's precedence (patient-statements.ts).
// The answer is the caller's own statement, never what others said: it reveals
// nothing of the record beyond what the caller itself sent.

export interface PatientRestDeps extends PatientStatementDeps {
  fhirBase: string;
}

/** The identity lock a create of this Patient takes first (lockIdentity's key): its NHS number's, if it has a valid one. */
export function createdPatientKey(body: Patient): string | undefined {
  const nhs = nhsNumberOf(body);
  return typeof nhs === 'string' ? nhsNumberKey(nhs) : undefined;
}

function nhsNumberKey(nhs: string): string {
  return `Patient|${NHS_NUMBER_SYSTEM}|${nhs}`;
}

/**
 * POST /fhir/Patient (after any If-None-Exist found nothing of the caller's
 * own). It writes only about the Patient of its NHS number, or a new one, and
 * takes that number's identity lock (createdPatientKey) before anything else.
 */
export async function createPatient(deps: PatientRestDeps, tx: Tx, principal: Principal, meta: RequestMeta, body: Patient): Promise<FhirResult> {
  const nhs = nhsNumberOf(body);
  if (nhs === false) return refuse(deps, tx, principal, meta, 'create', 'the NHS number is not ten digits with a valid modulus-11 check digit');
  if (nhs !== undefined) await lockIdentity(tx, nhsNumberKey(nhs));
  const found = nhs === undefined ? undefined : await findByIdentifier(tx, 'Patient', NHS_NUMBER_SYSTEM, nhs);
  const id = found?.id ?? randomUUID();
  const stated = await statePatient(deps, tx, principal, meta, { id, found }, body, 'merge');
  const row = await store(deps, tx, principal, found, stated.composed);
  await deps.audit.rest(tx, meta, requesterOf(principal), {
    interaction: 'create',
    outcome: 'success',
    outcomeDesc: found === undefined ? undefined : 'a statement about a Patient the hub holds (one per NHS number)',
    resources: [versionedReference(row)],
    patients: [`Patient/${id}`],
  });
  return statementAnswer(201, stated, row, deps, 'Location');
}

/**
 * Takes the identity lock of a stored Patient's NHS number before its row is locked for update: every writer of a
 * Patient takes the two in this order (identity, then row), so a PUT and a message about one person neither
 * deadlock nor compose from statements the other is changing.
 */
export async function lockPatientIdentity(tx: Tx, id: string): Promise<void> {
  const stored = await readCurrent(tx, 'Patient', id);
  const nhs = stored === undefined ? undefined : nhsNumberOf(contentForRules(stored.content) as Patient);
  // A Patient without an NHS number, or an id the hub does not hold, takes a lock of its id instead: the same
  // statements whatever the id, so their cost does not tell a held id from an unknown one.
  await lockIdentity(tx, typeof nhs === 'string' ? nhsNumberKey(nhs) : `Patient|id|${id}`);
}

/** Has this organisation said anything about the Patient (it may then restate it with PUT)? */
export async function hasStatement(tx: Tx, patientId: string, organisation: string): Promise<boolean> {
  return (await readStatements(tx, patientId)).some((s) => s.organisation === organisation);
}

/** PUT /fhir/Patient/{id} by an organisation that has written it (identity locked first): replaces the caller's own statement, and only that. */
export async function updatePatient(deps: PatientRestDeps, tx: Tx, principal: Principal, meta: RequestMeta, current: StoredResource, body: Patient): Promise<FhirResult> {
  const held = nhsNumberOf(contentForRules(current.content) as Patient);
  const sent = nhsNumberOf(body);
  if (sent === false) return refuse(deps, tx, principal, meta, 'update', 'the NHS number is not ten digits with a valid modulus-11 check digit');
  if (sent !== undefined && held !== undefined && sent !== held) {
    return refuse(deps, tx, principal, meta, 'update', "a Patient's NHS number cannot change: the hub keeps one Patient per NHS number");
  }
  const stated = await statePatient(deps, tx, principal, meta, { id: current.id, found: current }, body, 'replace');
  const row = await store(deps, tx, principal, current, stated.composed);
  await deps.audit.rest(tx, meta, requesterOf(principal), {
    interaction: 'update',
    outcome: 'success',
    outcomeDesc: 'the caller replaced its own statement about the Patient',
    resources: [versionedReference(row)],
    patients: [`Patient/${current.id}`],
  });
  return statementAnswer(200, stated, row, deps, 'Content-Location');
}

/** Stores the composed Patient as a new version when it changed; answers the version that stands. */
async function store(deps: PatientRestDeps, tx: Tx, principal: Principal, found: StoredResource | undefined, composed: Patient): Promise<StoredResource> {
  if (found !== undefined && sameContent(contentForRules(found.content) as Patient, composed)) return found;
  const versionId = (found?.versionId ?? 0) + 1;
  const lastUpdated = deps.clock();
  const row: StoredResource = {
    type: 'Patient',
    id: composed.id ?? '',
    versionId,
    lastUpdated,
    sourceOrg: principal.organisationCode,
    content: seal({ ...composed, meta: { ...(composed.meta ?? {}), versionId: String(versionId), lastUpdated: lastUpdated.toISOString() } }),
  };
  await writeVersion(tx, row);
  return row;
}

/**
 * The caller's own statement under the Patient's id, as a read answers it
 * (statementResource): never a version or ETag, whether or not others have
 * spoken of the Patient, so the answer for an NHS number new to the hub and
 * for one others hold is the same. Its time is the statement's.
 */
function statementAnswer(status: 200 | 201, stated: StatedPatient, row: StoredResource, deps: PatientRestDeps, location: 'Location' | 'Content-Location'): FhirResult {
  const body = statementResource(stated.statement, row.id, stated.saidAt);
  const headers: Record<string, string> = { 'Last-Modified': stated.saidAt.toUTCString(), [location]: `${deps.fhirBase}/Patient/${row.id}` };
  return { status, body, headers };
}

/** The Patient's NHS number; false when one is given but invalid. */
function nhsNumberOf(p: Patient): string | undefined | false {
  const value = p.identifier?.find((i) => i.system === NHS_NUMBER_SYSTEM)?.value;
  if (value === undefined) return undefined;
  return validNhsNumber(value) ?? false;
}

async function refuse(deps: PatientRestDeps, tx: Tx, principal: Principal, meta: RequestMeta, interaction: 'create' | 'update', diagnostics: string): Promise<FhirResult> {
  await deps.audit.rest(tx, meta, requesterOf(principal), { interaction, outcome: 'minor-failure', outcomeDesc: diagnostics, resourceType: 'Patient' });
  return toResult(problem(422, 'business-rule', diagnostics, 'Patient.identifier'));
}

