import type { Bundle, Patient, Resource, Task } from 'fhir/r4.js';
import { randomUUID } from 'node:crypto';
import type { RestInteraction } from '../audit/audit-event.js';
import type { Principal } from '../auth/principal.js';
import type { Db, Tx } from '../db/database.js';
import { patientsOfStored, seal } from '../db/undisclosed.js';
import { allows } from '../auth/scopes.js';
import {
  lockCriteria,
  readCurrent,
  readHistory,
  readVersion,
  writeVersion,
  type StoredResource,
} from '../db/resource-queries.js';
import type { CursorCodec } from '../fhir/cursor-codec.js';
import { capabilityStatement } from '../fhir/capability.js';
import { problem, type Problem } from '../fhir/operation-outcome.js';
import { isPublicType } from '../fhir/resource-types.js';
import { ID_PATTERN, parseSearch, type ParamList, type SearchRequest } from '../fhir/search-request.js';
import { validateAgainstProfile } from '../fhir/profiles.js';
import { requesterOf, type AuditRecorder, type RequestMeta } from './audit-recorder.js';
import { countNoDenial, recordDecisions, refuse, versionConflict, versionedReference, type DenialBurst } from './decision-audit.js';
import { explainDisclosure } from './explain-service.js';
import { scanDisclosed, searchDisclosed } from './search-service.js';
import { toResult, type FhirResult } from './fhir-result.js';
import type { DisclosureContext, DisclosureService, Judged } from './disclosure-service.js';
import { readForDecision } from './read-for-decision.js';
import { noticeNarrowing } from './narrowing-notices.js';
import { noticeWithdrawal } from './withdrawal-notices.js';
import { isHubTask, updateFollowUp, type TaskRestDeps } from './task-rest.js';
import { followUpWrittenDoses } from './dose-follow-ups.js';
import type { OverdueDoseDeps } from './overdue-dose-tasks.js';
import type { Schedule } from '../followup/schedule-schema.js';
import { createPatient, hasStatement, lockPatientIdentity, updatePatient, type PatientRestDeps } from './patient-rest.js';

// The imperative shell of the FHIR REST API: every interaction reads or writes
// in one transaction together with its AuditEvent, and every row that leaves
// passes the access decision. See: https://hl7.org/fhir/R4/http.html

export type { FhirResult } from './fhir-result.js';
export { toResult } from './fhir-result.js';

export interface FhirServiceDeps {
  db: Db;
  disclosure: DisclosureService;
  cursors: CursorCodec;
  audit: AuditRecorder;
  clock: () => Date;
  baseUrl: string;
  version: string;
  denialBurst?: DenialBurst | undefined;
  /** The national schedules: a dose written through REST completes the overdue-dose work it satisfies. */
  schedules: readonly Schedule[];
}

const MAX_HISTORY = 100;

export class FhirService {
  constructor(private readonly deps: FhirServiceDeps) {}

  private get fhirBase(): string {
    return `${this.deps.baseUrl}/fhir`;
  }

  private get tasks(): TaskRestDeps {
    return { db: this.deps.db, audit: this.deps.audit, clock: this.deps.clock, denialBurst: this.deps.denialBurst, disclosure: this.deps.disclosure, fhirBase: this.fhirBase };
  }

  private get followUps(): OverdueDoseDeps {
    return { audit: this.deps.audit, clock: this.deps.clock, protocols: this.deps.disclosure.protocols, disclosure: this.deps.disclosure, schedules: this.deps.schedules };
  }

  private get patients(): PatientRestDeps {
    return { audit: this.deps.audit, clock: this.deps.clock, protocols: this.deps.disclosure.protocols, fhirBase: this.fhirBase };
  }

  async capabilities(meta: RequestMeta): Promise<FhirResult> {
    await this.deps.audit.transaction(this.deps.db, async (tx) => {
      await this.deps.audit.rest(tx, meta, {}, { interaction: 'capabilities', outcome: 'success' });
    });
    return { status: 200, body: capabilityStatement(this.deps.baseUrl, this.deps.version, '2026-11-22') };
  }

  async read(principal: Principal, type: string, id: string, meta: RequestMeta): Promise<FhirResult> {
    return this.readOne(principal, meta, 'read', type, id, undefined);
  }

  async vread(principal: Principal, type: string, id: string, vid: string, meta: RequestMeta): Promise<FhirResult> {
    if (!/^[1-9]\d{0,8}$/.test(vid)) return refuse(this.deps, principal, meta, 'vread', type, problem(400, 'invalid', 'version id must be a positive integer', 'vid'));
    return this.readOne(principal, meta, 'vread', type, id, Number(vid));
  }

  /**
   * read and vread. The current version decides whether the record is
   * disclosed at all, as for history: a denied record answers like an unknown
   * id whatever version is asked for, so vread cannot count its versions.
   */
  private async readOne(
    principal: Principal,
    meta: RequestMeta,
    interaction: RestInteraction,
    type: string,
    id: string,
    versionId: number | undefined,
  ): Promise<FhirResult> {
    if (!ID_PATTERN.test(id)) return refuse(this.deps, principal, meta, interaction, type, problem(400, 'invalid', 'id is not a valid resource id', 'id'));
    // Writes nothing but its audit: it may share its transaction with reads that came with it (shared-transactions.ts).
    return this.deps.audit.shared(this.deps.db, async (tx) => {
      const { organisations, current, known } = await readForDecision(tx, this.deps.disclosure, principal, type, id);
      const ctx = this.deps.disclosure.contextOf(principal, meta.overrideReason, organisations);
      if (current === undefined) return this.notFound(tx, principal, meta, interaction, type, id);
      const judge = (rows: readonly StoredResource[], sources?: readonly string[]): Promise<Judged[]> =>
        known === undefined ? this.deps.disclosure.judge(tx, ctx, rows, sources) : this.deps.disclosure.judgeKnowing(tx, ctx, rows, known, sources);
      const [now] = await judge([current]);
      if (now === undefined) throw new Error('no decision for a record');
      if (now.statement !== undefined && versionId !== undefined) {
        // A Patient answered with the requester's own statement has no versions to read: they would count others' writes.
        // The decision audited is the one on the composed Patient (for a co-writer no flow reaches, a denial).
        await recordDecisions(this.deps, tx, principal, meta, [{ ...now, decision: now.statement.composed }]);
        await this.deps.audit.rest(tx, meta, requesterOf(principal), {
          interaction,
          outcome: 'minor-failure',
          outcomeDesc: "not found: a Patient's versions are not disclosed with the caller's own statement",
          resourceType: type,
          resources: [versionedReference(now.row)],
          patients: now.patients,
        });
        return notKnown(type, id);
      }
      if (now.decision.effect === 'deny' || versionId === undefined || versionId === current.versionId) {
        await recordDecisions(this.deps, tx, principal, meta, [now]);
        if (now.decision.effect === 'deny') return this.denied(tx, principal, meta, interaction, type, id, now);
        return this.disclosed(tx, principal, meta, interaction, now);
      }
      // An older version of a record the requester may see: decided on its own content.
      const row = await readVersion(tx, type, id, versionId);
      if (row === undefined) return this.notFound(tx, principal, meta, interaction, type, id);
      const [judged] = await judge([row], current.sourceOrgs);
      if (judged === undefined) throw new Error('no decision for a record');
      await recordDecisions(this.deps, tx, principal, meta, [judged]);
      if (judged.decision.effect === 'deny') return this.denied(tx, principal, meta, interaction, type, id, judged);
      return this.disclosed(tx, principal, meta, interaction, judged);
    });
  }

  private async disclosed(tx: Tx, principal: Principal, meta: RequestMeta, interaction: RestInteraction, judged: Judged): Promise<FhirResult> {
    await this.deps.audit.rest(tx, meta, requesterOf(principal), {
      interaction,
      outcome: 'success',
      resources: [versionedReference(judged.row)],
      patients: judged.patients,
    });
    return { status: 200, body: judged.body, headers: answerHeaders(judged) };
  }

  async history(principal: Principal, type: string, id: string, meta: RequestMeta): Promise<FhirResult> {
    if (!ID_PATTERN.test(id)) return refuse(this.deps, principal, meta, 'history-instance', type, problem(400, 'invalid', 'id is not a valid resource id', 'id'));
    return this.deps.audit.transaction(this.deps.db, async (tx) => {
      // Read as for a read by id: an unknown id and a denied one do the same work.
      const { organisations, current, known } = await readForDecision(tx, this.deps.disclosure, principal, type, id);
      const ctx = this.deps.disclosure.contextOf(principal, meta.overrideReason, organisations);
      if (current === undefined) return this.notFound(tx, principal, meta, 'history-instance', type, id);
      // The current version decides whether the record is disclosed at all; each older version is then judged on its own content.
      const [now] = await (known === undefined ? this.deps.disclosure.judge(tx, ctx, [current]) : this.deps.disclosure.judgeKnowing(tx, ctx, [current], known));
      if (now === undefined) throw new Error('no decision for a record');
      if (now.decision.effect === 'deny') {
        await recordDecisions(this.deps, tx, principal, meta, [now]);
        return this.denied(tx, principal, meta, 'history-instance', type, id, now);
      }
      // A Patient answered with the requester's own statement: its history is that statement alone (the hub keeps
      // each source's current word, and the Patient's versions would count others' writes).
      if (now.statement !== undefined) return this.statementHistory(tx, principal, meta, now, now.statement.saidAt);
      const judged = await this.deps.disclosure.judge(tx, ctx, await readHistory(tx, type, id, MAX_HISTORY), current.sourceOrgs);
      await recordDecisions(this.deps, tx, principal, meta, judged);
      const visible = judged.filter((j) => j.body !== undefined);
      await this.deps.audit.rest(tx, meta, requesterOf(principal), {
        interaction: 'history-instance',
        outcome: 'success',
        resources: visible.map((j) => versionedReference(j.row)),
        patients: [...new Set(visible.flatMap((j) => j.patients))],
      });
      const bundle: Bundle = {
        resourceType: 'Bundle',
        type: 'history',
        total: visible.length,
        link: [{ relation: 'self', url: `${this.fhirBase}/${type}/${id}/_history` }],
        entry: visible.map(({ row: v, body }) => ({
          fullUrl: `${this.fhirBase}/${type}/${id}`,
          resource: body,
          request: { method: v.versionId === 1 ? 'POST' : 'PUT', url: v.versionId === 1 ? type : `${type}/${id}` },
          response: { status: v.versionId === 1 ? '201 Created' : '200 OK', etag: `W/"${v.versionId}"`, lastModified: v.lastUpdated.toISOString() },
        })),
      };
      return { status: 200, body: bundle };
    });
  }

  private async statementHistory(tx: Tx, principal: Principal, meta: RequestMeta, judged: Judged, saidAt: Date): Promise<FhirResult> {
    await recordDecisions(this.deps, tx, principal, meta, [judged]);
    await this.deps.audit.rest(tx, meta, requesterOf(principal), {
      interaction: 'history-instance',
      outcome: 'success',
      outcomeDesc: "the caller's own statement about the Patient",
      resources: [versionedReference(judged.row)],
      patients: judged.patients,
    });
    const { type, id } = judged.row;
    const bundle: Bundle = {
      resourceType: 'Bundle',
      type: 'history',
      total: 1,
      link: [{ relation: 'self', url: `${this.fhirBase}/${type}/${id}/_history` }],
      entry: [
        {
          fullUrl: `${this.fhirBase}/${type}/${id}`,
          resource: judged.body,
          request: { method: 'PUT', url: `${type}/${id}` },
          response: { status: '200 OK', lastModified: saidAt.toISOString() },
        },
      ],
    };
    return { status: 200, body: bundle };
  }

  /** A type-level search, filtered record by record (see search-service.ts). */
  async search(principal: Principal, type: string, params: ParamList, lenient: boolean, meta: RequestMeta): Promise<FhirResult> {
    return searchDisclosed(this.deps, principal, type, params, lenient, meta);
  }

  async explain(principal: Principal, type: string, id: string, params: ParamList, meta: RequestMeta): Promise<FhirResult> {
    return explainDisclosure(this.deps, principal, type, id, params, meta);
  }

  private async notFound(tx: Tx, principal: Principal, meta: RequestMeta, interaction: RestInteraction, type: string, id: string): Promise<FhirResult> {
    await countNoDenial(this.deps, tx, principal);
    await this.deps.audit.rest(tx, meta, requesterOf(principal), { interaction, outcome: 'minor-failure', outcomeDesc: 'not found', resourceType: type });
    return notKnown(type, id);
  }

  /**
   * A denial answers exactly as an unknown id does (status, body, headers):
   * to the requester, a record it may not see does not exist (DESIGN.md §10).
   * The reason goes only to the audit log (here and in the decision event)
   * and to the IG lead's $explain-disclosure.
   */
  private async denied(tx: Tx, principal: Principal, meta: RequestMeta, interaction: RestInteraction, type: string, id: string, judged: Judged): Promise<FhirResult> {
    const d = judged.decision;
    if (d.effect !== 'deny') throw new Error('denied() needs a denial');
    await this.deps.audit.rest(tx, meta, requesterOf(principal), {
      interaction,
      outcome: 'minor-failure',
      outcomeDesc: `denied: ${d.reason}`,
      resourceType: type,
      resources: [versionedReference(judged.row)],
      patients: judged.patients,
    });
    return notKnown(type, id);
  }

  async create(principal: Principal, type: string, body: unknown, ifNoneExist: string | undefined, meta: RequestMeta): Promise<FhirResult> {
    const checked = this.checkBody(type, body, undefined);
    if (!checked.ok) return refuse(this.deps, principal, meta, 'create', type, checked.problem);
    let criteria: SearchRequest | undefined;
    if (ifNoneExist !== undefined) {
      const parsed = parseSearch(type, [...new URLSearchParams(ifNoneExist.replace(/^\?/, ''))]);
      if (!parsed.ok) return refuse(this.deps, principal, meta, 'create', type, withExpression(parsed.problem, 'If-None-Exist'));
      if (parsed.request.cursor !== undefined || !hasCriteria(parsed.request)) {
        return refuse(this.deps, principal, meta, 'create', type, problem(400, 'invalid', 'If-None-Exist needs search criteria', 'If-None-Exist'));
      }
      criteria = { ...parsed.request, count: 2 };
    }
    return this.deps.audit.transaction(this.deps.db, async (tx) => {
      // The registry is read where a decision needs it: a Patient's create is the caller's statement, and decides nothing.
      let read: DisclosureContext | undefined;
      const context = async (): Promise<DisclosureContext> => (read ??= await this.deps.disclosure.context(tx, principal, meta.overrideReason));
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
        const { shown: visible, considered, more } = await scanDisclosed(this.deps, tx, { ctx }, { ...criteria, count: 1 });
        await recordDecisions(this.deps, tx, principal, meta, considered);
        if (more) {
          await this.deps.audit.rest(tx, meta, requesterOf(principal), {
            interaction: 'create',
            outcome: 'minor-failure',
            outcomeDesc: 'If-None-Exist matched more than one resource',
            resourceType: type,
          });
          return toResult(problem(412, 'duplicate', 'If-None-Exist matched more than one resource', 'If-None-Exist'));
        }
        const existing = visible[0];
        if (existing !== undefined) {
          await this.deps.audit.rest(tx, meta, requesterOf(principal), {
            interaction: 'create',
            outcome: 'success',
            outcomeDesc: 'If-None-Exist matched an existing resource; nothing created',
            resources: [versionedReference(existing.row)],
            patients: existing.patients,
          });
          // 200 with the record as the decision discloses it; without a body to a token that may not read the type.
          const body = allows(principal.scopes, type, 'r') ? existing.body : undefined;
          const location = existing.statement === undefined ? this.location(existing.row) : `${this.fhirBase}/${existing.row.type}/${existing.row.id}`;
          return { status: 200, ...(body === undefined ? {} : { body }), headers: { ...answerHeaders(existing), Location: location } };
        }
      }
      // One Patient per NHS number, whoever can see it: a Patient is the caller's statement (see patient-rest.ts).
      if (checked.resource.resourceType === 'Patient') return createPatient(this.patients, tx, principal, meta, checked.resource as Patient);
      const ctx = await context();
      const row = await this.storeCreated(tx, principal, checked.resource);
      // A missed dose raises follow-up work, a dose given completes it: as ingest does (dose-follow-ups.ts).
      await followUpWrittenDoses(this.followUps, tx, meta, [row]);
      // A refusal or deny any party records: those whose consent it overrides are told in this transaction.
      await noticeNarrowing(this.deps, tx, meta, undefined, row);
      await this.deps.audit.rest(tx, meta, requesterOf(principal), {
        interaction: 'create',
        outcome: 'success',
        resources: [versionedReference(row)],
        patients: patientsOfStored(row),
      });
      return this.answerWritten(tx, principal, meta, ctx, 201, row, [row.sourceOrg], { Location: this.location(row) });
    });
  }

  /**
   * Stores a created resource as version 1 under a new id.
   * The seam for the identity rule of issue 10: a Patient created through
   * REST for an NHS number the hub already holds must join that Patient
   * (one Patient per NHS number, whoever can see it), as ingest does, not
   * make a second one. That rule belongs to the Patient path and hooks in
   * here, returning the row it wrote; the answer still passes the decision.
   */
  private async storeCreated(tx: Tx, principal: Principal, resource: Resource): Promise<StoredResource> {
    const row = this.newVersion(principal, resource, randomUUID(), 1);
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
  private async answerWritten(
    tx: Tx,
    principal: Principal,
    meta: RequestMeta,
    ctx: DisclosureContext,
    status: 200 | 201,
    row: StoredResource,
    writers: readonly string[],
    location: Record<string, string>,
  ): Promise<FhirResult> {
    const [judged] = await this.deps.disclosure.judge(tx, ctx, [row], writers);
    if (judged === undefined) throw new Error('no decision for a record');
    // Reading back one's own write is not a disclosure (as for a read, only other bases are audited as decisions).
    if (judged.decision.effect === 'deny' || judged.decision.basis !== 'originator') await recordDecisions(this.deps, tx, principal, meta, [judged]);
    return { status, ...(judged.body === undefined ? {} : { body: judged.body }), headers: { ...versionHeaders(row), ...location } };
  }

  async update(
    principal: Principal,
    type: string,
    id: string,
    body: unknown,
    ifMatch: string | undefined,
    meta: RequestMeta,
  ): Promise<FhirResult> {
    if (!ID_PATTERN.test(id)) return refuse(this.deps, principal, meta, 'update', type, problem(400, 'invalid', 'id is not a valid resource id', 'id'));
    const checked = this.checkBody(type, body, id);
    if (!checked.ok) return refuse(this.deps, principal, meta, 'update', type, checked.problem);
    let expectedVersion: number | undefined;
    if (ifMatch !== undefined) {
      const m = /^W\/"(\d{1,9})"$/.exec(ifMatch.trim());
      if (m === null) return refuse(this.deps, principal, meta, 'update', type, problem(400, 'invalid', 'If-Match must be W/"<versionId>"', 'If-Match'));
      expectedVersion = Number(m[1]);
      // A Patient is answered with the caller's own statement, which has no version (see patient-rest.ts): the
      // Patient's version counts every source's writes, and matching it would tell whether others hold the record.
      if (type === 'Patient') {
        return refuse(this.deps, principal, meta, 'update', type, problem(400, 'not-supported', "a Patient's answers carry no version, so If-Match cannot name one", 'If-Match'));
      }
    }
    return this.deps.audit.transaction(this.deps.db, async (tx) => {
      if (type === 'Patient') await lockPatientIdentity(tx, id);
      const current = await readCurrent(tx, type, id, true);
      // The hub's follow-up work: its owner moves it on (task-rest.ts); to anyone else it is not there to update.
      if (current !== undefined && isHubTask(current)) return updateFollowUp(this.tasks, tx, principal, meta, current, checked.resource as Task, expectedVersion);
      // Only an organisation that has written a record (for a Patient: said something about them) may change it;
      // to anyone else it does not exist. Whether the caller said something is asked for an unknown Patient id too,
      // so that an id others hold and one the hub never held cost the same statements.
      const said = type === 'Patient' && (await hasStatement(tx, id, principal.organisationCode));
      const writer = current !== undefined && ((current.sourceOrgs ?? [current.sourceOrg]).includes(principal.organisationCode) || said);
      if (current === undefined || !writer) {
        await this.deps.audit.rest(tx, meta, requesterOf(principal), {
          interaction: 'update',
          outcome: 'minor-failure',
          outcomeDesc: current === undefined ? 'not found' : 'denied: not-a-writer',
          resourceType: type,
          ...(current === undefined ? {} : { resources: [versionedReference(current)] }),
        });
        return toResult(problem(404, 'not-found', `${type}/${id} is not known; this server does not create resources on update`));
      }
      const conflict = await versionConflict(this.deps.audit, tx, principal, meta, current, expectedVersion);
      if (conflict !== undefined) return conflict;
      if (checked.resource.resourceType === 'Patient') return updatePatient(this.patients, tx, principal, meta, current, checked.resource as Patient);
      const ctx = await this.deps.disclosure.context(tx, principal, meta.overrideReason);
      const row = this.newVersion(principal, checked.resource, id, current.versionId + 1);
      await writeVersion(tx, row);
      await followUpWrittenDoses(this.followUps, tx, meta, [row]);
      // A withdrawn Consent: its recipients are told in this transaction (fails with it, commits with it).
      await noticeWithdrawal({ audit: this.deps.audit, clock: this.deps.clock, protocols: this.deps.disclosure.protocols }, tx, meta, current, row);
      await noticeNarrowing(this.deps, tx, meta, current, row);
      await this.deps.audit.rest(tx, meta, requesterOf(principal), {
        interaction: 'update',
        outcome: 'success',
        resources: [versionedReference(row)],
        patients: [...new Set([...patientsOfStored(current), ...patientsOfStored(row)])],
      });
      const writers = [...new Set([...(current.sourceOrgs ?? [current.sourceOrg]), row.sourceOrg])];
      return this.answerWritten(tx, principal, meta, ctx, 200, row, writers, { 'Content-Location': this.location(row) });
    });
  }

  private checkBody(type: string, body: unknown, id: string | undefined): { ok: true; resource: Resource } | { ok: false; problem: Problem } {
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

  private newVersion(principal: Principal, resource: Resource, id: string, versionId: number): StoredResource {
    const lastUpdated = this.deps.clock();
    const content = {
      ...resource,
      id,
      meta: { ...(resource.meta ?? {}), versionId: String(versionId), lastUpdated: lastUpdated.toISOString() },
    } as Resource;
    return { type: resource.resourceType, id, versionId, lastUpdated, sourceOrg: principal.organisationCode, content: seal(content) };
  }

  private location(row: StoredResource): string {
    return `${this.fhirBase}/${row.type}/${row.id}/_history/${row.versionId}`;
  }

}

/** The one answer for a record the requester cannot have: unknown, or not disclosed to it. */
export function notKnown(type: string, id: string): FhirResult {
  return toResult(problem(404, 'not-found', `${type}/${id} is not known`));
}

/** A record's version and time; a Patient answered with the requester's own statement has no version, and its statement's time. */
function answerHeaders(judged: Judged): Record<string, string> {
  if (judged.statement !== undefined) return { 'Last-Modified': judged.statement.saidAt.toUTCString() };
  return versionHeaders(judged.row);
}

function versionHeaders(row: StoredResource): Record<string, string> {
  return { ETag: `W/"${row.versionId}"`, 'Last-Modified': row.lastUpdated.toUTCString() };
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

