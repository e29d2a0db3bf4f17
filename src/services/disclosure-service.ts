import type { Patient, Resource } from 'fhir/r4.js';
import type { Principal } from '../auth/principal.js';
import { listOrganisationFacts, readCurrentMany, type OrganisationFacts, type ReferringLookups } from '../db/disclosure-queries.js';
import type { Db, Tx } from '../db/database.js';
import type { SearchCandidates, StoredResource } from '../db/resource-queries.js';
import { readOwnStatements } from '../db/patient-source-queries.js';
import { readOrganisationFacts } from '../db/request-queries.js';
import { statementResource } from '../fhir/patient-sources.js';
import { contentForRules, patientsOfStored } from '../db/undisclosed.js';
import { decide, focusOf } from '../decision/decide.js';
import { HUB_ORGANISATION, type Decision, type RecordFacts, type Requester } from '../decision/decision-types.js';
import { describeRecord } from '../decision/record-description.js';
import { flowNeeds } from '../decision/search-narrowing.js';
import { redact } from '../decision/redact.js';
import { ADDRESSED_TYPES, localReference, patientsOf } from '../fhir/resource-types.js';
import type { LoadedProtocol } from '../protocol/protocol-schema.js';
import { loadSubjects, subjectLookups, type KnownSubjectFacts, type Loaded, type StatementsRead } from './subject-facts.js';

export type { KnownSubjectFacts, StatementsRead } from './subject-facts.js';

// The shell around the decision: loads, for a batch of stored records, the
// facts the pure decision needs (fresh from the database on every request, so
// a withdrawal applies to the very next one), decides each record, and
// projects what is permitted to the flow's data items.

export interface DisclosureDeps {
  protocols: readonly LoadedProtocol[];
  clock: () => Date;
}

export interface Judged {
  row: StoredResource;
  decision: Decision;
  /** "Patient/id" of each patient the record is about. */
  patients: string[];
  /**
   * What may leave the hub: the record, or its projection; undefined when
   * denied. The one place stored content becomes response content.
   */
  body: Resource | undefined;
  /** What the record is, for the audit log ("a mother's registration, E1"): never an answer. */
  description: string;
  /**
   * Set when the record is a Patient answered with the requester's own
   * statement about it (see ownStatements): the answer carries no version,
   * and its time is when the requester last said it. `composed` is the decision on the composed Patient (what
   * the audit records when a version of it is asked for).
   */
  statement?: { saidAt: Date; composed: Decision } | undefined;
}

/** The requester of one request, with the organisation facts the decision reads. */
export interface DisclosureContext {
  requester: Requester;
  organisations: Map<string, OrganisationFacts>;
  now: Date;
}

/** Rows to decide for one requester (judgeAmong). */
export interface Ask {
  ctx: DisclosureContext;
  rows: readonly StoredResource[];
}

export class DisclosureService {
  /**
   * The registry as a request of this process last read it: a guess at what
   * the next request will read, for a search to narrow its first batch by
   * before the registry is read (with that batch, in one statement). Never
   * decided on: the search checks the guess against the registry read with
   * the batch and reads the batch again when they differ (search-service.ts).
   */
  private lastRegistry = new Map<string, OrganisationFacts>();

  constructor(private readonly deps: DisclosureDeps) {}

  get protocols(): readonly LoadedProtocol[] {
    return this.deps.protocols;
  }

  async context(db: Db | Tx, principal: Principal, overrideReason: string | undefined): Promise<DisclosureContext> {
    return this.contextOf(principal, overrideReason, await readOrganisationFacts(db));
  }

  /** The context from organisation facts read in this request's transaction (with the record, in one statement). */
  contextOf(principal: Principal, overrideReason: string | undefined, organisations: Map<string, OrganisationFacts>): DisclosureContext {
    this.lastRegistry = organisations;
    return this.contextFrom(principal, overrideReason, organisations);
  }

  /** The context the registry last read would give: a guess to narrow a search by, never to decide on (lastRegistry). */
  predictedContext(principal: Principal, overrideReason: string | undefined): DisclosureContext {
    return this.contextFrom(principal, overrideReason, this.lastRegistry);
  }

  private contextFrom(principal: Principal, overrideReason: string | undefined, organisations: Map<string, OrganisationFacts>): DisclosureContext {
    const own = organisations.get(principal.organisationCode);
    return {
      requester: {
        organisationCode: principal.organisationCode,
        // The registry is the authority on what an organisation is; the token carries a copy.
        organisationType: own?.type ?? principal.organisationType,
        catchment: own?.catchment ?? [],
        clientId: principal.clientId,
        purpose: principal.purposeOfUse,
        overrideReason,
      },
      organisations,
      now: this.deps.clock(),
    };
  }

  /** A requester as if an organisation asked, for the IG lead's "would they see it?" question. */
  async contextFor(db: Db | Tx, organisationCode: string, purpose: string, overrideReason: string | undefined): Promise<DisclosureContext | undefined> {
    return this.contextAmong(await listOrganisationFacts(db), organisationCode, purpose, overrideReason);
  }

  /** As contextFor, from organisation facts already read in this transaction. */
  contextAmong(organisations: Map<string, OrganisationFacts>, organisationCode: string, purpose: string, overrideReason: string | undefined): DisclosureContext | undefined {
    const org = organisations.get(organisationCode);
    if (org === undefined) return undefined;
    return {
      requester: { organisationCode, organisationType: org.type, catchment: org.catchment, clientId: 'explain', purpose, overrideReason },
      organisations,
      now: this.deps.clock(),
    };
  }

  /**
   * Decides every row for the requester. `sources` gives the organisations
   * behind rows read from history (which do not carry them).
   */
  async judge(db: Db | Tx, ctx: DisclosureContext, rows: readonly StoredResource[], sources?: readonly string[]): Promise<Judged[]> {
    return this.judgeRows(db, ctx, rows, sources, 0, undefined);
  }

  /** As judge, for rows about one subject whose facts were read with them (a read by id): no further statement for them. */
  async judgeKnowing(db: Db | Tx, ctx: DisclosureContext, rows: readonly StoredResource[], known: KnownSubjectFacts, sources?: readonly string[]): Promise<Judged[]> {
    return this.judgeRows(db, ctx, rows, sources, 0, known);
  }

  /** The lookups of a subject's facts (what loadSubjects reads), with the records a flow's `where` reads when Patients are decided. */
  subjectLookups(withRecords: boolean): ReferringLookups {
    return subjectLookups(this.deps.protocols, withRecords);
  }

  /**
   * Decides, for each requester asked about, the rows asked for it, reading the facts about all the rows once:
   * for the owners a follow-up Task could go to, each asked about its own copy of one Task. The requesters
   * must share one registry read (contextAmong over the same organisations). `focuses`: current versions of
   * records the rows name as focus, as this transaction wrote them (not read again). `known`: facts about the
   * rows' subjects already in hand (subject-facts.ts mintedSubjectFacts), for the rows and their focuses alike.
   */
  async judgeAmong(db: Db | Tx, asks: readonly Ask[], focuses: readonly StoredResource[] = [], known?: KnownSubjectFacts): Promise<Judged[][]> {
    return (await this.judgeAsks(db, asks, { depth: 0, focuses, known })).judged;
  }

  private async judgeRows(
    db: Db | Tx,
    ctx: DisclosureContext,
    rows: readonly StoredResource[],
    sources: readonly string[] | undefined,
    depth: number,
    known: KnownSubjectFacts | undefined,
  ): Promise<Judged[]> {
    const [judged] = (await this.judgeAsks(db, [{ ctx, rows }], { sources, depth, known })).judged;
    if (judged === undefined) throw new Error('no decisions for the requester');
    return judged;
  }

  private async judgeAsks(
    db: Db | Tx,
    asks: readonly Ask[],
    how: { sources?: readonly string[] | undefined; depth: number; known?: KnownSubjectFacts | undefined; focuses?: readonly StoredResource[] },
  ): Promise<{ judged: Judged[][]; loaded: Loaded | undefined }> {
    const { sources, depth, known } = how;
    const [first] = asks;
    if (first === undefined) return { judged: [], loaded: undefined };
    const { organisations } = first.ctx;
    if (asks.some((a) => a.ctx.organisations !== organisations)) throw new Error('requesters decided together must share one registry read');
    const all = asks.flatMap((a) => a.rows);
    const focus = await this.focusesDisclosed(db, asks, depth, how.focuses ?? [], known);
    const focusDisclosed = focus.answers;
    const typesOf = (orgs: readonly string[]): string[] => [...new Set(orgs.map((o) => organisations.get(o)?.type ?? 'unknown'))];
    const subjectOf = (row: StoredResource): string | undefined => patientsOfStored(row)[0];
    const subjectRefs = [...new Set(all.map(subjectOf).filter((s): s is string => s !== undefined))];
    const needRecords = all.some((r) => r.type === 'Patient');
    const inHand = all.filter((r) => r.type === 'Patient' && r.sourceOrgs !== undefined);
    // The requester's own statements about the Patients decided come with their facts (ownStatements may need them).
    const patientIds = all.filter((r) => r.type === 'Patient').map((r) => r.id);
    const statementsFor = patientIds.length === 0 || asks.length > 1 ? undefined : { organisation: first.ctx.requester.organisationCode, patientIds };
    const { subjects, statements, loaded } = await loadSubjects(db, this.deps.protocols, { refs: subjectRefs, inHand, needRecords, typesOf, known, statementsFor, loaded: focus.loaded });
    const answers: Judged[][] = [];
    for (const [i, { ctx, rows }] of asks.entries()) {
      const judged = rows.map((row): Judged => {
        const writers = sources ?? row.sourceOrgs ?? [row.sourceOrg];
        // The disclosure path: the decision reads the record, and only what it permits is turned into an answer.
        const content = contentForRules(row.content);
        const record: RecordFacts = {
          resource: content,
          writer: row.sourceOrg,
          alsoWrittenBy: writers.filter((o) => o !== row.sourceOrg),
          sourceTypes: typesOf(writers),
          focusDisclosed: focusDisclosed[i]?.get(`${row.type}/${row.id}`),
        };
        const subjectRef = subjectOf(row);
        const subject = subjectRef === undefined ? undefined : subjects.get(subjectRef);
        const decision = decide({ requester: ctx.requester, record, subject, protocols: this.deps.protocols, now: ctx.now });
        const body = decision.effect === 'deny' ? undefined : decision.basis === 'flow' ? redact(content, decision.elements, ctx.requester.purpose) : content;
        // For the audit trail only: what the record is, from the facts the decision read.
        const described = content.resourceType === 'Patient' ? (content as Patient) : subject?.patient;
        return { row, decision, patients: patientsOf(content), body, description: describeRecord(content, described, ctx.now) };
      });
      answers.push(await this.ownStatements(db, ctx, judged, statements));
    }
    return { judged: answers, loaded };
  }

  /**
   * A Patient the requester has said something about, that no flow discloses
   * to it whole, is answered with its own statement: what it said, composed as
   * if it were the only source, under basis originator. Whether others hold
   * the record then changes nothing in the answer (a Patient it alone wrote is
   * answered the same way): the statement carries only the requester's own
   * elements and labels, never another source's, and no version. A Patient
   * a flow discloses is answered composed and redacted, as any record.
   */
  private async ownStatements(db: Db | Tx, ctx: DisclosureContext, judged: Judged[], read: StatementsRead | undefined): Promise<Judged[]> {
    const answerable = (j: Judged): boolean => j.row.type === 'Patient' && (j.decision.effect === 'deny' || j.decision.basis === 'originator');
    const ids = judged.filter(answerable).map((j) => j.row.id);
    if (ids.length === 0) return judged;
    const said = read !== undefined && ids.every((id) => read.ids.has(id)) ? read.said : await readOwnStatements(db, ids, ctx.requester.organisationCode);
    return judged.map((j) => {
      const own = answerable(j) ? said.get(j.row.id) : undefined;
      if (own === undefined) return j;
      // The requester's own word, back to it: not a disclosure of anything it did not say.
      const body = statementResource(contentForRules(own.content) as Patient, j.row.id, own.saidAt);
      return { ...j, decision: { effect: 'permit', basis: 'originator' }, body, statement: { saidAt: own.saidAt, composed: j.decision } };
    });
  }

  /**
   * For each row that names a focus (a Task), whether that record is disclosed to the same requester now (for
   * each requester asked about, its own rows): decided first, like any record. A focus that is itself a Task, or
   * that the hub does not hold, is not disclosed. `inHand`: focuses as this transaction wrote them (not read).
   */
  private async focusesDisclosed(
    db: Db | Tx,
    asks: readonly Ask[],
    depth: number,
    inHand: readonly StoredResource[],
    known: KnownSubjectFacts | undefined,
  ): Promise<{ answers: Map<string, boolean>[]; loaded?: Loaded | undefined }> {
    // Per requester: each of its rows' focus (wanted), or false where the focus is not a record here.
    const perAsk = asks.map(({ rows }) => {
      const answers = new Map<string, boolean>();
      const wanted = new Map<string, string>();
      for (const row of rows) {
        const target = localReference(focusOf(contentForRules(row.content)));
        if (target !== undefined) wanted.set(`${row.type}/${row.id}`, target);
        else if (focusOf(contentForRules(row.content)) !== undefined) answers.set(`${row.type}/${row.id}`, false);
      }
      return { answers, wanted };
    });
    const targets = new Set(perAsk.flatMap(({ wanted }) => [...wanted.values()]));
    if (targets.size === 0) return { answers: perAsk.map(({ answers }) => answers) };
    const byType = new Map<string, string[]>();
    for (const target of targets) {
      const [type = '', id = ''] = target.split('/');
      if (depth > 0 || type === 'Task') continue;
      byType.set(type, [...(byType.get(type) ?? []), id]);
    }
    const held = new Map(inHand.map((row) => [`${row.type}/${row.id}`, row]));
    const read = [...byType].map(([type, ids]) => [type, ids.filter((id) => !held.has(`${type}/${id}`))] as const).filter(([, ids]) => ids.length > 0);
    const focusRows = [...inHand.filter((row) => byType.get(row.type)?.includes(row.id) === true), ...(await Promise.all(read.map(([type, ids]) => readCurrentMany(db, type, ids)))).flat()];
    // Each requester's decisions on the focuses, from one read of their facts.
    const { judged, loaded } = focusRows.length === 0 ? { judged: [], loaded: undefined } : await this.judgeAsks(db, asks.map(({ ctx }) => ({ ctx, rows: focusRows })), { depth: depth + 1, known });
    const answers = perAsk.map(({ answers, wanted }, i) => {
      const permitted = new Set((judged[i] ?? []).filter((j) => j.decision.effect === 'permit').map((j) => `${j.row.type}/${j.row.id}`));
      for (const [row, target] of wanted) answers.set(row, permitted.has(target));
      return answers;
    });
    return { answers, loaded };
  }

  /**
   * The organisations whose records some flow could carry to this requester,
   * for its purpose, as this type (in force or not: a flow out of force still
   * decides, and denies), and, when every such flow serves only the
   * recipient's catchment, its postcode districts; and, for a type the hub
   * sends notices as, the hub's notices to it. Used to narrow a search
   * before each record is decided: it may only ever leave out records the
   * decision would deny for want of a flow, a purpose or the catchment.
   */
  candidateSources(ctx: DisclosureContext, type: string): SearchCandidates {
    const needs = flowNeeds(this.deps.protocols, ctx.requester, type);
    const sourceOrgs = [...ctx.organisations].filter(([, o]) => needs.fromTypes.has(o.type)).map(([code]) => code);
    const byArea = needs.catchment && sourceOrgs.length > 0;
    return {
      own: ctx.requester.organisationCode,
      sourceOrgs,
      ...(byArea ? { districts: ctx.requester.catchment } : {}),
      // A Patient's own facts: its district, and whether consent or a restriction already rules a flow out.
      ...(byArea && type === 'Patient' ? { subject: { consent: needs.consent, unrestricted: needs.unrestricted } } : {}),
      // The hub's notices to the requester (decided with basis addressed).
      ...(ADDRESSED_TYPES.has(type) ? { addressed: { writer: HUB_ORGANISATION, recipient: ctx.requester.organisationCode } } : {}),
    };
  }
}
