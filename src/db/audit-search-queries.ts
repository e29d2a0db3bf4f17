import type { AuditEvent } from 'fhir/r4.js';
import { and, asc, count, desc, eq, gt, gte, lt, or, sql, type SQL } from 'drizzle-orm';
import { SYSTEMS } from '../fhir/systems.js';
import { rawRows, type Db, type Tx } from './database.js';
import { auditEvents, resources, resourceTokens } from './schema/index.js';

// The IG lead's reads of the audit log: AuditEvent search and the monthly
// reports. Every filter on the event is a JSON containment (`event @> doc`)
// so the GIN jsonb_path_ops index serves it; dates use the btree on recorded.
// See: https://www.postgresql.org/docs/current/datatype-json.html#JSON-INDEXING

/** A JSON document an event must contain. */
export type Containment = Record<string, unknown>;

export interface AuditEventFilter {
  /** Each inner array is an OR of documents the event must contain; the outer array is an AND. An empty inner array matches nothing. */
  contains: readonly (readonly Containment[])[];
  /** recorded >= at (ge) or recorded < at (lt), all of them. */
  recorded: readonly { op: 'ge' | 'lt'; at: Date }[];
}

/** A place in the (recorded, seq) order. */
export interface AuditPosition {
  recorded: Date;
  seq: number;
}

export interface StoredAuditEvent {
  seq: number;
  recorded: Date;
  event: AuditEvent;
}

function whereOf(filter: AuditEventFilter): SQL | undefined {
  const where: (SQL | undefined)[] = filter.contains.map((alternatives) =>
    alternatives.length === 0 ? sql`false` : or(...alternatives.map((doc) => sql`${auditEvents.event} @> ${JSON.stringify(doc)}::jsonb`)),
  );
  for (const bound of filter.recorded) where.push(bound.op === 'ge' ? gte(auditEvents.recorded, bound.at) : lt(auditEvents.recorded, bound.at));
  return and(...where);
}

/** One page in (recorded, seq) order after `after`; one row more than `limit`, to know whether there are more. */
export async function searchAuditEvents(
  db: Db | Tx,
  filter: AuditEventFilter,
  page: { limit: number; descending: boolean; after: AuditPosition | undefined },
): Promise<StoredAuditEvent[]> {
  const { after, descending } = page;
  const keyset =
    after === undefined
      ? undefined
      : descending
        ? or(lt(auditEvents.recorded, after.recorded), and(eq(auditEvents.recorded, after.recorded), lt(auditEvents.seq, after.seq)))
        : or(gt(auditEvents.recorded, after.recorded), and(eq(auditEvents.recorded, after.recorded), gt(auditEvents.seq, after.seq)));
  return db
    .select({ seq: auditEvents.seq, recorded: auditEvents.recorded, event: auditEvents.event })
    .from(auditEvents)
    .where(and(whereOf(filter), keyset))
    .orderBy(...(descending ? [desc(auditEvents.recorded), desc(auditEvents.seq)] : [asc(auditEvents.recorded), asc(auditEvents.seq)]))
    .limit(page.limit + 1);
}

export async function countAuditEvents(db: Db | Tx, filter: AuditEventFilter): Promise<number> {
  const [row] = await db.select({ n: count() }).from(auditEvents).where(whereOf(filter));
  return row?.n ?? 0;
}

export async function readAuditEvent(db: Db | Tx, id: string): Promise<AuditEvent | undefined> {
  const [row] = await db.select({ event: auditEvents.event }).from(auditEvents).where(eq(auditEvents.eventId, id)).limit(1);
  return row?.event;
}

/** Ids of every current Patient carrying the identifier (any system when none is given). */
export async function patientIdsByIdentifier(db: Db | Tx, system: string | undefined, value: string): Promise<string[]> {
  const rows = await db
    .selectDistinct({ id: resourceTokens.id })
    .from(resourceTokens)
    .where(
      and(
        eq(resourceTokens.type, 'Patient'),
        eq(resourceTokens.param, 'identifier'),
        eq(resourceTokens.value, value),
        system === undefined ? undefined : eq(resourceTokens.system, system),
      ),
    );
  return rows.map((r) => r.id).sort();
}

/** The current version number of a stored record, or undefined. */
export async function currentVersion(db: Db | Tx, type: string, id: string): Promise<number | undefined> {
  const [row] = await db
    .select({ versionId: resources.versionId })
    .from(resources)
    .where(and(eq(resources.type, type), eq(resources.id, id)))
    .limit(1);
  return row?.versionId;
}

// ---------------------------------------------------------------------------
// Reports: disclosure decisions (BALP AuthZ-Consent) grouped by UTC month.

/** [from, to) on recorded; either end may be open. */
export interface RecordedRange {
  from: Date | undefined;
  to: Date | undefined;
}

export interface DisclosureReportRow {
  month: string;
  organisationCode: string;
  organisationName: string;
  organisationType: string;
  /** "protocol|version" */
  protocol: string;
  flow: string;
  disclosureEvents: number;
  records: number;
  people: number;
}

export interface DenialReportRow {
  month: string;
  organisationCode: string;
  organisationName: string;
  clientId: string;
  reason: string;
  denialEvents: number;
  people: number;
}

const AUTHZ_CONSENT = { subtype: [{ system: SYSTEMS.balpAuthZSubType, code: 'AuthZ-Consent' }] };
const ORG_AGENT = { type: { coding: [{ system: SYSTEMS.auditAgentRole, code: 'requesting-organisation' }] } };
const CLIENT_AGENT = { who: { identifier: { system: SYSTEMS.client } } };
const FLOW_ENTITY = { what: { identifier: { system: SYSTEMS.protocolFlow } } };
const DECISION_ENTITY = { type: { system: SYSTEMS.auditEntityKind, code: 'decision' } };
const PATIENT_ENTITY = { role: { system: SYSTEMS.objectRole, code: '1' } };
const RECORD_ENTITY = { type: { system: SYSTEMS.auditEntityType, code: '2' }, role: { system: SYSTEMS.objectRole, code: '4' } };

const jsonb = (doc: Containment): SQL => sql`${JSON.stringify(doc)}::jsonb`;

function rangeOf(range: RecordedRange): SQL {
  return sql.join(
    [
      sql`true`,
      ...(range.from === undefined ? [] : [sql`e.recorded >= ${range.from.toISOString()}::timestamptz`]),
      ...(range.to === undefined ? [] : [sql`e.recorded < ${range.to.toISOString()}::timestamptz`]),
    ],
    sql` and `,
  );
}

/** The first agent matching `doc`: its who.identifier.value, or ''. */
const agentValue = (doc: Containment): SQL =>
  sql`coalesce((select a.value->'who'->'identifier'->>'value' from jsonb_array_elements(e.event->'agent') a where a.value @> ${jsonb(doc)} limit 1), '')`;

/** A detail's valueString in a jsonb entity. */
const detailOf = (entity: SQL, type: string): SQL =>
  sql`coalesce((select d.value->>'valueString' from jsonb_array_elements(${entity}->'detail') d where d.value->>'type' = ${type} limit 1), '')`;

/**
 * Permit decisions that rest on a protocol flow (disclosures to another party),
 * per (UTC month, requesting organisation, protocol, flow): the events, the
 * distinct records (Type/id, any version) and the distinct people (Patient references).
 */
export async function disclosureReport(db: Db | Tx, range: RecordedRange): Promise<DisclosureReportRow[]> {
  const permits = { ...AUTHZ_CONSENT, outcome: '0', entity: [FLOW_ENTITY] };
  const rows = await rawRows<{
    month: string;
    organisation_code: string;
    organisation_name: string;
    organisation_type: string;
    protocol: string;
    version: string;
    flow: string;
    disclosure_events: number;
    records: number;
    people: number;
  }>(
    db,
    sql`with decision as (
      select e.seq, e.event, to_char(e.recorded at time zone 'UTC', 'YYYY-MM') as month, ${agentValue(ORG_AGENT)} as org,
        (select x.value from jsonb_array_elements(e.event->'entity') x where x.value @> ${jsonb(FLOW_ENTITY)} limit 1) as flow_entity
      from audit_event e
      where e.event @> ${jsonb(permits)} and ${rangeOf(range)}
    ), flowed as (
      select d.seq, d.event, d.month, d.org,
        ${detailOf(sql`d.flow_entity`, 'protocol')} as protocol,
        ${detailOf(sql`d.flow_entity`, 'version')} as version,
        ${detailOf(sql`d.flow_entity`, 'flow')} as flow
      from decision d
    )
    select f.month, f.org as organisation_code, coalesce(o.name, '') as organisation_name, coalesce(o.type, '') as organisation_type,
      f.protocol, f.version, f.flow,
      count(distinct f.seq)::int as disclosure_events,
      (count(distinct regexp_replace(x.value->'what'->>'reference', '/_history/[^/]*$', '')) filter (where x.value @> ${jsonb(RECORD_ENTITY)}))::int as records,
      (count(distinct x.value->'what'->>'reference') filter (where x.value @> ${jsonb(PATIENT_ENTITY)}))::int as people
    from flowed f
    left join lateral jsonb_array_elements(f.event->'entity') x on true
    left join organisation o on o.code = f.org
    group by f.month, f.org, o.name, o.type, f.protocol, f.version, f.flow
    order by f.month, f.org, f.protocol, f.version, f.flow`,
  );
  return rows.map((r) => ({
    month: r.month,
    organisationCode: r.organisation_code,
    organisationName: r.organisation_name,
    organisationType: r.organisation_type,
    protocol: r.version === '' ? r.protocol : `${r.protocol}|${r.version}`,
    flow: r.flow,
    disclosureEvents: r.disclosure_events,
    records: r.records,
    people: r.people,
  }));
}

/** Deny decisions per (UTC month, requesting organisation, client, reason): the events and the distinct people. */
export async function denialReport(db: Db | Tx, range: RecordedRange): Promise<DenialReportRow[]> {
  const denials = { ...AUTHZ_CONSENT, outcome: '8' };
  const rows = await rawRows<{
    month: string;
    organisation_code: string;
    organisation_name: string;
    client_id: string;
    reason: string;
    denial_events: number;
    people: number;
  }>(
    db,
    sql`with decision as (
      select e.seq, e.event, to_char(e.recorded at time zone 'UTC', 'YYYY-MM') as month,
        ${agentValue(ORG_AGENT)} as org, ${agentValue(CLIENT_AGENT)} as client,
        (select x.value from jsonb_array_elements(e.event->'entity') x where x.value @> ${jsonb(DECISION_ENTITY)} limit 1) as decision_entity
      from audit_event e
      where e.event @> ${jsonb(denials)} and ${rangeOf(range)}
    ), reasoned as (
      select d.seq, d.event, d.month, d.org, d.client, ${detailOf(sql`d.decision_entity`, 'reason')} as reason
      from decision d
    )
    select r.month, r.org as organisation_code, coalesce(o.name, '') as organisation_name, r.client as client_id, r.reason,
      count(distinct r.seq)::int as denial_events,
      (count(distinct x.value->'what'->>'reference') filter (where x.value @> ${jsonb(PATIENT_ENTITY)}))::int as people
    from reasoned r
    left join lateral jsonb_array_elements(r.event->'entity') x on true
    left join organisation o on o.code = r.org
    group by r.month, r.org, o.name, r.client, r.reason
    order by r.month, r.org, r.client, r.reason`,
  );
  return rows.map((r) => ({
    month: r.month,
    organisationCode: r.organisation_code,
    organisationName: r.organisation_name,
    clientId: r.client_id,
    reason: r.reason,
    denialEvents: r.denial_events,
    people: r.people,
  }));
}
