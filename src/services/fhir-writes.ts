import type { Patient, Resource, Task } from 'fhir/r4.js';
import { randomUUID } from 'node:crypto';
import type { Principal } from '../auth/principal.js';
import { allows } from '../auth/scopes.js';
import type { Tx } from '../db/database.js';
import { lockCriteria, readCurrent, writeVersion, type StoredResource } from '../db/resource-queries.js';
import { patientsOfStored, seal } from '../db/undisclosed.js';
import { problem, type Problem } from '../fhir/operation-outcome.js';
import { validateAgainstProfile } from '../fhir/profiles.js';
import { isPublicType } from '../fhir/resource-types.js';
import { ID_PATTERN, parseSearch, type SearchRequest } from '../fhir/search-request.js';
import { requesterOf, type RequestMeta } from './audit-recorder.js';
import { recordDecisions, refuse, versionConflict, versionedReference } from './decision-audit.js';
import type { DisclosureContext } from './disclosure-service.js';
import { followUpWrittenDoses } from './dose-follow-ups.js';
import type { FhirServiceDeps } from './fhir-service.js';
import { answerHeaders, fhirBase as baseOf, toResult, versionHeaders, type FhirResult } from './fhir-result.js';
import { noticeNarrowing } from './narrowing-notices.js';
import type { OverdueDoseDeps } from './overdue-dose-tasks.js';
import { createdPatientKey, createPatient, hasStatement, lockPatientIdentity, updatePatient, type PatientRestDeps } from './patient-rest.js';
import { scanDisclosed } from './search-service.js';
import { isHubTask, updateFollowUp, type TaskRestDeps } from './task-rest.js';
import { noticeWithdrawal } from './withdrawal-notices.js';

// Create and update through the FHIR REST API: the body checked against its
// profile, the write and what it sets going (follow-up work, notices) in one
// transaction with its AuditEvent, and the answer passed through the decision
// like any read. A Patient is the caller's statement (patient-rest.ts); the
// hub's follow-up Tasks are moved on by their owner (task-rest.ts).
// See: https://hl7.org/fhir/R4/http.html#create and #update

function fhirBase(deps: FhirServiceDeps): string {
  return baseOf(deps.baseUrl);
}

function taskDeps(deps: FhirServiceDeps): TaskRestDeps {
  return { db: deps.db, audit: deps.audit, clock: deps.clock, denialBurst: deps.denialBurst, disclosure: deps.disclosure, fhirBase: fhirBase(deps) };
}

function followUpDeps(deps: FhirServiceDeps): OverdueDoseDeps {
  return { audit: deps.audit, clock: deps.clock, protocols: deps.disclosure.protocols, disclosure: deps.disclosure, schedules: deps.schedules };
}

function patientDeps(deps: FhirServiceDeps): PatientRestDeps {
  return { audit: deps.audit, clock: deps.clock, protocols: deps.disclosure.protocols, fhirBase: fhirBase(deps) };
}

export async function createResource(
  deps: FhirServiceDeps,
  principal: Principal,
  type: string,
  body: unknown,
  ifNoneExist: string | undefined,
  meta: RequestMeta,
): Promise<FhirResult> {
  const checked = checkBody(type, body, undefined);
  if (!checked.ok) return refuse(deps, principal, meta, 'create', type, checked.problem);
  let criteria: SearchRequest | undefined;
  if (ifNoneExist !== undefined) {
    const parsed = parseSearch(type, [...new URLSearchParams(ifNoneExist.replace(/^\?/, ''))]);
    if (!parsed.ok) return refuse(deps, principal, meta, 'create', type, withExpression(parsed.problem, 'If-None-Exist'));
    if (parsed.request.cursor !== undefined || !hasCriteria(parsed.request)) {
      return refuse(deps, principal, meta, 'create', type, problem(400, 'invalid', 'If-None-Exist needs search criteria', 'If-None-Exist'));
    }
    criteria = { ...parsed.request, count: 2 };
  }
  if (criteria === undefined && checked.resource.resourceType === 'Patient') {
    // One Patient per NHS number, whoever can see it: a Patient is the caller's statement (see patient-rest.ts). It
    // writes about that one Patient, so creates of different NHS numbers may share a transaction (AuditRecorder.sharedWrite).
    const patient = checked.resource as Patient;
    return deps.audit.sharedWrite(deps.db, createdPatientKey(patient), (tx) => createPatient(patientDeps(deps), tx, principal, meta, patient));
  }
  return deps.audit.transaction(deps.db, async (tx) => {
    // The registry is read where a decision needs it: a Patient's create is the caller's statement, and decides nothing.
    let read: DisclosureContext | undefined;
    const context = async (): Promise<DisclosureContext> => (read ??= await deps.disclosure.context(tx, principal, meta.overrideReason));
    if (criteria !== undefined) {
      const ctx = await context();
      await lockCriteria(tx, `${type}?${principal.organisationCode}?${ifNoneExist ?? ''}`);
      // Conditional create. See: https://hl7.org/fhir/R4/http.html#ccreate
      // The criteria are matched like a search, record by record through the
      // decision: only a match the caller may read counts. A match it may not
      // see is treated as no match at all: the record is created (201), as
      // if the hub held nothing. Answering 200 with nothing, or 412, would
      // tell the caller that a record it may not see matches its criteria
      // (an NHS number, an identifier): the oracle DESIGN.md §10 forbids.
      // The hidden match's decision is audited like any other.
      const { shown: visible, considered, more } = await scanDisclosed(deps, tx, { ctx }, { ...criteria, count: 1 });
      await recordDecisions(deps, tx, principal, meta, considered);
      if (more) {
        await deps.audit.rest(tx, meta, requesterOf(principal), {
          interaction: 'create',
          outcome: 'minor-failure',
          outcomeDesc: 'If-None-Exist matched more than one resource',
          resourceType: type,
        });
        return toResult(problem(412, 'duplicate', 'If-None-Exist matched more than one resource', 'If-None-Exist'));
      }
      const existing = visible[0];
      if (existing !== undefined) {
        await deps.audit.rest(tx, meta, requesterOf(principal), {
          interaction: 'create',
          outcome: 'success',
          outcomeDesc: 'If-None-Exist matched an existing resource; nothing created',
          resources: [versionedReference(existing.row)],
          patients: existing.patients,
        });
        // 200 with the record as the decision discloses it; without a body to a token that may not read the type.
        const body = allows(principal.scopes, type, 'r') ? existing.body : undefined;
        const location = existing.statement === undefined ? versionLocation(deps, existing.row) : `${fhirBase(deps)}/${existing.row.type}/${existing.row.id}`;
        return { status: 200, ...(body === undefined ? {} : { body }), headers: { ...answerHeaders(existing), Location: location } };
      }
    }
    if (checked.resource.resourceType === 'Patient') return createPatient(patientDeps(deps), tx, principal, meta, checked.resource as Patient);
    const ctx = await context();
    const row = await storeCreated(deps, tx, principal, checked.resource);
    // A missed dose raises follow-up work, a dose given completes it: as ingest does (dose-follow-ups.ts).
    await followUpWrittenDoses(followUpDeps(deps), tx, meta, [row]);
    // A refusal or deny any party records: those whose consent it overrides are told in this transaction.
    await noticeNarrowing(deps, tx, meta, undefined, row);
    await deps.audit.rest(tx, meta, requesterOf(principal), {
      interaction: 'create',
      outcome: 'success',
      resources: [versionedReference(row)],
      patients: patientsOfStored(row),
    });
    return answerWritten(deps, tx, principal, meta, ctx, 201, row, [row.sourceOrg], { Location: versionLocation(deps, row) });
  });
}

/** Stores a created resource as version 1 under a new id (a Patient is stored by patient-rest.ts, one per NHS number). */
async function storeCreated(deps: FhirServiceDeps, tx: Tx, principal: Principal, resource: Resource): Promise<StoredResource> {
  const row = newVersion(deps, principal, resource, randomUUID(), 1);
  await writeVersion(tx, row);
  return row;
}

/**
 * The answer to a create or update: what was stored, through the decision
 * like any read (the stored version may be composed from several sources).
 * The caller's own record is its own (basis originator); a version others
 * have written too is disclosed only as a flow permits, and otherwise
 * answered without a body. See: https://hl7.org/fhir/R4/http.html#ops (Prefer return=minimal)
 */
async function answerWritten(
  deps: FhirServiceDeps,
  tx: Tx,
  principal: Principal,
  meta: RequestMeta,
  ctx: DisclosureContext,
  status: 200 | 201,
  row: StoredResource,
  writers: readonly string[],
  location: Record<string, string>,
): Promise<FhirResult> {
  const [judged] = await deps.disclosure.judge(tx, ctx, [row], writers);
  if (judged === undefined) throw new Error('no decision for a record');
  // Reading back one's own write is not a disclosure (as for a read, only other bases are audited as decisions).
  if (judged.decision.effect === 'deny' || judged.decision.basis !== 'originator') await recordDecisions(deps, tx, principal, meta, [judged]);
  return { status, ...(judged.body === undefined ? {} : { body: judged.body }), headers: { ...versionHeaders(row), ...location } };
}

export async function updateResource(
  deps: FhirServiceDeps,
  principal: Principal,
  type: string,
  id: string,
  body: unknown,
  ifMatch: string | undefined,
  meta: RequestMeta,
): Promise<FhirResult> {
  if (!ID_PATTERN.test(id)) return refuse(deps, principal, meta, 'update', type, problem(400, 'invalid', 'id is not a valid resource id', 'id'));
  const checked = checkBody(type, body, id);
  if (!checked.ok) return refuse(deps, principal, meta, 'update', type, checked.problem);
  let expectedVersion: number | undefined;
  if (ifMatch !== undefined) {
    const m = /^W\/"(\d{1,9})"$/.exec(ifMatch.trim());
    if (m === null) return refuse(deps, principal, meta, 'update', type, problem(400, 'invalid', 'If-Match must be W/"<versionId>"', 'If-Match'));
    expectedVersion = Number(m[1]);
    // A Patient is answered with the caller's own statement, which has no version (see patient-rest.ts): the
    // Patient's version counts every source's writes, and matching it would tell whether others hold the record.
    if (type === 'Patient') {
      return refuse(deps, principal, meta, 'update', type, problem(400, 'not-supported', "a Patient's answers carry no version, so If-Match cannot name one", 'If-Match'));
    }
  }
  return deps.audit.transaction(deps.db, async (tx) => {
    if (type === 'Patient') await lockPatientIdentity(tx, id);
    const current = await readCurrent(tx, type, id, true);
    // The hub's follow-up work: its owner moves it on (task-rest.ts); to anyone else it is not there to update.
    if (current !== undefined && isHubTask(current)) return updateFollowUp(taskDeps(deps), tx, principal, meta, current, checked.resource as Task, expectedVersion);
    // Only an organisation that has written a record (for a Patient: said something about them) may change it;
    // to anyone else it does not exist. Whether the caller said something is asked for an unknown Patient id too,
    // so that an id others hold and one the hub never held cost the same statements.
    const said = type === 'Patient' && (await hasStatement(tx, id, principal.organisationCode));
    const writer = current !== undefined && ((current.sourceOrgs ?? [current.sourceOrg]).includes(principal.organisationCode) || said);
    if (current === undefined || !writer) {
      await deps.audit.rest(tx, meta, requesterOf(principal), {
        interaction: 'update',
        outcome: 'minor-failure',
        outcomeDesc: current === undefined ? 'not found' : 'denied: not-a-writer',
        resourceType: type,
        ...(current === undefined ? {} : { resources: [versionedReference(current)] }),
      });
      return toResult(problem(404, 'not-found', `${type}/${id} is not known; this server does not create resources on update`));
    }
    const conflict = await versionConflict(deps.audit, tx, principal, meta, current, expectedVersion);
    if (conflict !== undefined) return conflict;
    if (checked.resource.resourceType === 'Patient') return updatePatient(patientDeps(deps), tx, principal, meta, current, checked.resource as Patient);
    const ctx = await deps.disclosure.context(tx, principal, meta.overrideReason);
    const row = newVersion(deps, principal, checked.resource, id, current.versionId + 1);
    await writeVersion(tx, row);
    await followUpWrittenDoses(followUpDeps(deps), tx, meta, [row]);
    // A withdrawn Consent: its recipients are told in this transaction (fails with it, commits with it).
    await noticeWithdrawal({ audit: deps.audit, clock: deps.clock, protocols: deps.disclosure.protocols }, tx, meta, current, row);
    await noticeNarrowing(deps, tx, meta, current, row);
    await deps.audit.rest(tx, meta, requesterOf(principal), {
      interaction: 'update',
      outcome: 'success',
      resources: [versionedReference(row)],
      patients: [...new Set([...patientsOfStored(current), ...patientsOfStored(row)])],
    });
    const writers = [...new Set([...(current.sourceOrgs ?? [current.sourceOrg]), row.sourceOrg])];
    return answerWritten(deps, tx, principal, meta, ctx, 200, row, writers, { 'Content-Location': versionLocation(deps, row) });
  });
}

function checkBody(type: string, body: unknown, id: string | undefined): { ok: true; resource: Resource } | { ok: false; problem: Problem } {
  if (isPublicType(type)) {
    return { ok: false, problem: problem(405, 'not-supported', `${type} resources are the hub's own definitions: read-only through the API`, 'type') };
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return { ok: false, problem: problem(400, 'structure', 'the body must be a FHIR resource in JSON', 'resourceType') };
  }
  const record = body as Record<string, unknown>;
  if (record['resourceType'] !== type) {
    return { ok: false, problem: problem(400, 'invalid', `resourceType must be ${type}`, 'resourceType') };
  }
  if (id !== undefined && record['id'] !== id) {
    return { ok: false, problem: problem(400, 'invalid', 'the body id must equal the id in the URL', `${type}.id`) };
  }
  // The server owns id (on create) and meta.versionId/lastUpdated; strip before validating.
  const { id: _clientId, meta, ...rest } = record;
  const candidate = { ...rest, ...(id === undefined ? {} : { id }), ...(isObject(meta) ? { meta } : {}) } as unknown as Resource;
  const valid = validateAgainstProfile(candidate);
  if (!valid.ok) return valid;
  return { ok: true, resource: candidate };
}

function newVersion(deps: FhirServiceDeps, principal: Principal, resource: Resource, id: string, versionId: number): StoredResource {
  const lastUpdated = deps.clock();
  const content = {
    ...resource,
    id,
    meta: { ...(resource.meta ?? {}), versionId: String(versionId), lastUpdated: lastUpdated.toISOString() },
  } as Resource;
  return { type: resource.resourceType, id, versionId, lastUpdated, sourceOrg: principal.organisationCode, content: seal(content) };
}

function versionLocation(deps: FhirServiceDeps, row: StoredResource): string {
  return `${fhirBase(deps)}/${row.type}/${row.id}/_history/${row.versionId}`;
}

function hasCriteria(s: SearchRequest): boolean {
  return s.ids !== undefined || s.identifiers.length > 0 || s.tokens.length > 0 || s.references.length > 0 || s.lastUpdated.length > 0;
}

function withExpression(p: Problem, expression: string): Problem {
  return { ...p, outcome: { ...p.outcome, issue: p.outcome.issue.map((i) => ({ ...i, expression: [expression, ...(i.expression ?? [])] })) } };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
