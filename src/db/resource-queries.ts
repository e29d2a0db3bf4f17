import { and, desc, eq, sql } from 'drizzle-orm';
import { DISTRICT_PARAM, indexValues, isPublicType, RECIPIENT_PARAM } from '../fhir/resource-types.js';
import { namesItsRecords, type SearchRequest } from '../fhir/search-request.js';
import type { Db, Statement, Tx } from './database.js';
import { afterCursor, parameterConditions, withinBound } from './search-conditions.js';
import { searchPatients } from './patient-search-queries.js';
import { storedRows, type SearchQuery } from './stored-rows.js';
import { allOf, anyOf, fragment, namesOf, rawFragment, type Fragment } from './sql-fragment.js';
import { sendWrite } from './sent-writes.js';
import { noteWritten } from './written-rows.js';
import { keepSubjectFacts } from './subject-fact-queries.js';
import { contentForRules, type Undisclosed } from './undisclosed.js';
import { recordTopicEvents, topicEventsInsertText, topicEventRows, topicEventsJson } from './subscription-queries.js';
import { patientSources, resourceHistory, resourceReferences, resources, resourceTokens } from './schema/index.js';

export interface StoredResource {
  type: string;
  id: string;
  versionId: number;
  lastUpdated: Date;
  sourceOrg: string;
  /** Every organisation that has stored a version (absent on history rows). */
  sourceOrgs?: string[];
  /** Leaves the hub only through the disclosure decision (see undisclosed.ts). */
  content: Undisclosed;
}

export async function readCurrent(db: Db | Tx, type: string, id: string, forUpdate = false): Promise<StoredResource | undefined> {
  const query = db.select().from(resources).where(and(eq(resources.type, type), eq(resources.id, id))).limit(1);
  const rows = forUpdate ? await query.for('update') : await query;
  return rows[0];
}

export async function readVersion(db: Db | Tx, type: string, id: string, versionId: number): Promise<StoredResource | undefined> {
  const rows = await db
    .select()
    .from(resourceHistory)
    .where(and(eq(resourceHistory.type, type), eq(resourceHistory.id, id), eq(resourceHistory.versionId, versionId)))
    .limit(1);
  return rows[0];
}

export async function readHistory(db: Db | Tx, type: string, id: string, limit: number): Promise<StoredResource[]> {
  return db
    .select()
    .from(resourceHistory)
    .where(and(eq(resourceHistory.type, type), eq(resourceHistory.id, id)))
    .orderBy(desc(resourceHistory.versionId))
    .limit(limit);
}

/** Writes a new current version, its history row, its search index rows and its subscription events. */
export async function writeVersion(tx: Tx, row: StoredResource): Promise<void> {
  await writeVersions(tx, [row]);
}

/**
 * The whole write of new current versions, one fixed statement whatever their
 * number (each content sent once): a stored resource's update, with its writer
 * appended, and the removal of its old index rows; a new resource's row; every
 * version's history row; the new index rows; the subscription outbox.
 * Data-modifying CTEs all run, each once, against the snapshot the statement
 * began with: the deletes see only the index rows of earlier versions, never
 * the ones this statement inserts.
 */
const WRITE_VERSIONS: Statement = {
  name: 'resource_write_versions',
  text: `
    with v as (
      select * from jsonb_to_recordset($1::jsonb)
        as v(type text, id text, version_id int, last_updated timestamptz, source_org text, content jsonb)
    ), updated as (
      update resource r set version_id = v.version_id, last_updated = v.last_updated, source_org = v.source_org,
        source_orgs = case when v.source_org = any(r.source_orgs) then r.source_orgs else array_append(r.source_orgs, v.source_org) end,
        content = v.content
      from v where v.version_id <> 1 and r.type = v.type and r.id = v.id
    ), old_tokens as (
      delete from resource_token t using v where v.version_id <> 1 and t.type = v.type and t.id = v.id
    ), old_refs as (
      delete from resource_reference x using v where v.version_id <> 1 and x.type = v.type and x.id = v.id
    ), created as (
      insert into resource (type, id, version_id, last_updated, source_org, source_orgs, content)
      select type, id, version_id, last_updated, source_org, array[source_org], content from v where version_id = 1
    ), history as (
      insert into resource_history (type, id, version_id, last_updated, source_org, content)
      select type, id, version_id, last_updated, source_org, content from v
    ), tokens as (
      insert into resource_token (type, id, param, system, value)
      select type, id, param, system, value from jsonb_to_recordset($2::jsonb) as t(type text, id text, param text, system text, value text)
    ), refs as (
      insert into resource_reference (type, id, param, target)
      select type, id, param, target from jsonb_to_recordset($3::jsonb) as r(type text, id text, param text, target text)
    ), outbox as (${topicEventsInsertText('$4')})
    select 1`,
};

/**
 * Writes new current versions of distinct resources, as writeVersion does for
 * each, in one statement whatever their number (WRITE_VERSIONS), then the
 * subject facts they change.
 */
export async function writeVersions(tx: Tx, rows: readonly StoredResource[]): Promise<void> {
  if (rows.length === 0) return;
  // The search index is built from what is stored.
  const tokens: { type: string; id: string; param: string; system: string; value: string }[] = [];
  const references: { type: string; id: string; param: string; target: string }[] = [];
  for (const row of rows) {
    const index = indexValues(contentForRules(row.content));
    for (const t of index.tokens) tokens.push({ type: row.type, id: row.id, ...t });
    for (const r of index.references) references.push({ type: row.type, id: row.id, ...r });
  }
  const versions = rows.map((r) => ({ type: r.type, id: r.id, version_id: r.versionId, last_updated: r.lastUpdated.toISOString(), source_org: r.sourceOrg, content: r.content }));
  // The subscription outbox, in the same transaction (here the same statement): a change that rolls back notifies no one.
  const { events, together } = topicEventRows(rows);
  // Sent without waiting for its answer (sent-writes.ts): the transaction waits for it before COMMIT.
  await sendWrite(tx, {
    statement: WRITE_VERSIONS,
    values: [JSON.stringify(versions), JSON.stringify(tokens), JSON.stringify(references), topicEventsJson(together ? events : [])],
  });
  noteWritten(tx, rows);
  if (events.length > 0 && !together) await recordTopicEvents(tx, rows);
  // The subject facts the search narrows by, in the same transaction (subject-fact-queries.ts).
  for (const row of rows) await keepSubjectFacts(tx, row);
}

/**
 * Which rows a search considers at all: the requester's own, and those stored
 * by an organisation some flow could carry to it. Narrowing only: every row
 * returned is still decided one by one.
 */
export interface SearchCandidates {
  own: string;
  sourceOrgs: readonly string[];
  /** When every flow that could carry the records needs the subject in the requester's catchment: its postcode districts. */
  districts?: readonly string[] | undefined;
  /** Records `writer` (the hub) addressed to the requester's organisation `recipient` (its notices). */
  addressed?: { writer: string; recipient: string } | undefined;
  /** What every flow needs of a Patient's own facts (subject_fact): set when narrowing by them leaves anything out. */
  subject?: SubjectNarrowing | undefined;
}

/** Conditions on subject_fact that every permit through a flow meets (decision/search-narrowing.ts). */
export interface SubjectNarrowing {
  consent: boolean;
  unrestricted: boolean;
}

export type { SearchQuery } from './stored-rows.js';

const R = namesOf(resources);
const TOKENS = namesOf(resourceTokens).table;
const REFERENCES = namesOf(resourceReferences).table;
const SOURCES = namesOf(patientSources).table;

/**
 * One batch of a type-level search in keyset order. Fetches one row more
 * than asked for, to know whether there are more.
 */
export function searchQuery(db: Db | Tx, search: SearchRequest, candidates: SearchCandidates): SearchQuery {
  // Patients narrowed by their subject facts are read from those facts' indexes, in keyset order. Not a search
  // that names its Patients (by id or identifier): that is an attempt at those records, and each is decided
  // and audited, its denial too (a withdrawn consent shows in the log as it would for a read).
  const { subject, districts } = candidates;
  if (search.resourceType === 'Patient' && subject !== undefined && districts !== undefined && !namesItsRecords(search)) {
    return searchPatients(db, search, { ...candidates, districts, subject });
  }
  // A Patient the requester has said something about may be answered with its own statement (disclosure-service.ts):
  // it is a candidate whoever wrote the Patient's versions, and its time is the statement's, checked in memory.
  const ownStatement = search.resourceType === 'Patient' ? saidBy(candidates.own) : undefined;
  const where: (Fragment | undefined)[] = [
    fragment`${R.type} = ${search.resourceType}`,
    isPublicType(search.resourceType)
      ? undefined
      : anyOf(
          fragment`${R.sourceOrg} = ${candidates.own}`,
          candidates.sourceOrgs.length === 0
            ? undefined
            : allOf(fragment`${R.sourceOrgs} && ${[...candidates.sourceOrgs]}::text[]`, inCatchment(search.resourceType, candidates.districts)),
          candidates.addressed === undefined ? undefined : addressedTo(candidates.addressed),
          ownStatement,
        ),
  ];
  where.push(...parameterConditions(search));
  for (const bound of search.lastUpdated) {
    const within = withinBound(bound, R.lastUpdated);
    where.push(ownStatement === undefined ? within : anyOf(within, ownStatement));
  }
  where.push(afterCursor(search));
  return storedRows(db, allOf(...where), search.descending, search.count + 1);
}

/** A Patient `organisation` has said something about (patient-source-queries.ts). */
function saidBy(organisation: string): Fragment {
  return fragment`exists (select 1 from ${SOURCES} s where s.patient_id = ${R.id} and s.organisation = ${organisation})`;
}

/** Written by `writer` and naming `recipient` among the organisations it is addressed to. */
function addressedTo(addressed: { writer: string; recipient: string }): Fragment | undefined {
  return allOf(
    fragment`${R.sourceOrg} = ${addressed.writer}`,
    fragment`exists (select 1 from ${TOKENS} a where a.type = ${R.type} and a.id = ${R.id} and a.param = ${RECIPIENT_PARAM} and a.value = ${addressed.recipient})`,
  );
}

/** The record's subject (itself, for a Patient) has an address in one of the districts. */
function inCatchment(type: string, districts: readonly string[] | undefined): Fragment | undefined {
  if (districts === undefined) return undefined;
  if (districts.length === 0) return rawFragment('false');
  const list = [...districts];
  if (type === 'Patient') {
    return fragment`exists (select 1 from ${TOKENS} d where d.type = 'Patient' and d.id = ${R.id} and d.param = ${DISTRICT_PARAM} and d.value = any(${list}::text[]))`;
  }
  return fragment`exists (select 1 from ${REFERENCES} p join ${TOKENS} d on d.type = 'Patient' and d.param = ${DISTRICT_PARAM}
    and d.id = split_part(p.target, '/', 2) where p.type = ${R.type} and p.id = ${R.id} and p.param = 'patient' and d.value = any(${list}::text[]))`;
}

/** Serialises conditional creates of the same criteria across instances until commit. */
export async function lockCriteria(tx: Tx, key: string): Promise<void> {
  await tx.execute(sql`select pg_advisory_xact_lock(hashtext(${key}))`);
}
