import type { Bundle } from 'fhir/r4.js';
import type { RestInteraction } from '../audit/audit-event.js';
import type { Principal } from '../auth/principal.js';
import type { Db, Tx } from '../db/database.js';
import { readHistory, readVersion, type StoredResource } from '../db/resource-queries.js';
import type { CursorCodec } from '../fhir/cursor-codec.js';
import { capabilityStatement } from '../fhir/capability.js';
import { problem } from '../fhir/operation-outcome.js';
import { ID_PATTERN, type ParamList } from '../fhir/search-request.js';
import type { Schedule } from '../followup/schedule-schema.js';
import { requesterOf, type AuditRecorder, type RequestMeta } from './audit-recorder.js';
import { countNoDenial, recordDecisions, refuse, versionedReference, type DenialBurst } from './decision-audit.js';
import type { DisclosureService, Judged } from './disclosure-service.js';
import { explainDisclosure } from './explain-service.js';
import { answerHeaders, fhirBase, toResult, type FhirResult } from './fhir-result.js';
import { createResource, updateResource } from './fhir-writes.js';
import { readForDecision } from './read-for-decision.js';
import { searchDisclosed } from './search-service.js';

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
    return fhirBase(this.deps.baseUrl);
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
    return createResource(this.deps, principal, type, body, ifNoneExist, meta);
  }

  async update(principal: Principal, type: string, id: string, body: unknown, ifMatch: string | undefined, meta: RequestMeta): Promise<FhirResult> {
    return updateResource(this.deps, principal, type, id, body, ifMatch, meta);
  }

}

/** The one answer for a record the requester cannot have: unknown, or not disclosed to it. */
export function notKnown(type: string, id: string): FhirResult {
  return toResult(problem(404, 'not-found', `${type}/${id} is not known`));
}
