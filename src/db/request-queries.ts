import type { Resource } from 'fhir/r4.js';
import { lookupValues, referringCtes, referringOf, storedOf, type OrganisationFacts, type RawReferring, type RawResource, type Referring, type ReferringLookups } from './disclosure-queries.js';
import { composedStatement, runStatement, type Db, type Tx } from './database.js';
import type { OwnStatement } from './patient-source-queries.js';
import type { SearchQuery, StoredResource } from './resource-queries.js';
import { seal, type Undisclosed } from './undisclosed.js';

// The statements every read request runs, written out and prepared once per
// connection: the registry's organisation facts (read fresh on every request,
// never cached: a registry change applies to the next request) and the
// record asked for, in one round trip, with every fact the decision reads
// about the record's subject (for a Patient, about itself, and the
// requester's own statement about it).

interface OrganisationRow {
  code: string;
  type: string;
  catchment: string[];
}

interface ResourceRow {
  type: string | null;
  id: string | null;
  version_id: number | null;
  last_updated: Date | string | null;
  source_org: string | null;
  source_orgs: string[] | null;
  content: Undisclosed | null;
}

const ORGANISATIONS = `(select coalesce(json_agg(json_build_object('code', o.code, 'type', o.type, 'catchment', o.catchment)), '[]'::json) from organisation o)`;

const LIST_ORGANISATIONS = { name: 'request_organisations', text: `select ${ORGANISATIONS} as organisations` };

// The records that refer to the subjects found (referringCtes), as one json array.
const REFERRING_JSON = `(select coalesce(json_agg(json_build_object('ref_type', f.type, 'ref_param', f.param, 'ref_target', f.target,
          'type', fr.type, 'id', fr.id, 'version_id', fr.version_id, 'last_updated', fr.last_updated,
          'source_org', fr.source_org, 'source_orgs', fr.source_orgs, 'content', fr.content)), '[]'::json)
        from found f join resource fr on fr.type = f.type and fr.id = f.id)`;

// A record of any other type by id, with the organisations, and in the same statement (one snapshot) the facts
// the decision reads about its subjects (the Patients it refers to through its indexed `patient` references):
// each such Patient's current version and the records that refer to it (referringCtes: $3, $4 the lookups,
// $5 the baby parameter). One row always; an unknown id runs the same lookups, finding nothing.
const READ_RECORD_WITH_FACTS = {
  name: 'request_read_record',
  text: `with subject as (
        select distinct x.target from resource_reference x where x.type = $1::text and x.id = $2::text and x.param = 'patient'
      ), ${referringCtes('$3', '$4', 'array(select target from subject)', '$5::text')}
    select ${ORGANISATIONS} as organisations,
      r.type, r.id, r.version_id, r.last_updated, r.source_org, r.source_orgs, r.content,
      (select coalesce(json_agg(json_build_object('type', p.type, 'id', p.id, 'version_id', p.version_id, 'last_updated', p.last_updated,
          'source_org', p.source_org, 'source_orgs', p.source_orgs, 'content', p.content)), '[]'::json)
        from resource p where p.type = 'Patient' and p.id in (select substr(s.target, 9) from subject s where s.target like 'Patient/%')) as subjects,
      ${REFERRING_JSON} as referring
    from (select 1) as one left join resource r on r.type = $1::text and r.id = $2::text`,
};

// A Patient by id, as READ_RECORD_WITH_FACTS reads another record, and in the same statement (one snapshot) the records that refer
// to it (referringCtes: $3, $4 the lookups, $5 the baby parameter) and what the requester ($2) said about it.
// An unknown id runs the same lookups (finding nothing), so it costs what a denied one does.
const READ_PATIENT_WITH_FACTS = {
  name: 'request_read_patient',
  text: `with ${referringCtes('$3', '$4', "array['Patient/' || $1::text]", '$5::text')}
    select ${ORGANISATIONS} as organisations,
      r.type, r.id, r.version_id, r.last_updated, r.source_org, r.source_orgs, r.content,
      ${REFERRING_JSON} as referring,
      (select json_build_object('content', ps.content, 'received_at', ps.received_at)
        from patient_source ps where ps.patient_id = $1::text and ps.organisation = $2::text) as own
    from (select 1) as one left join resource r on r.type = 'Patient' and r.id = $1::text`,
};

/** A Patient read with the facts about it, for the decision not to read them again (see DisclosureService.judgeKnowing). */
export interface PatientWithFacts {
  organisations: Map<string, OrganisationFacts>;
  current: StoredResource | undefined;
  /** The records referring to Patient/id through the lookups given. */
  referring: Referring[];
  /** What the requester said about the Patient, if anything. */
  own: OwnStatement | undefined;
}

/** The organisation facts, a Patient's current version, its subject facts and the requester's statement, in one statement. */
export async function readPatientWithFacts(db: Db | Tx, id: string, requester: string, lookups: ReferringLookups): Promise<PatientWithFacts> {
  const [row] = await runStatement<ResourceRow & { organisations: OrganisationRow[]; referring: RawReferring[]; own: { content: Resource; received_at: string } | null }>(
    db,
    READ_PATIENT_WITH_FACTS,
    [id, requester, ...lookupValues(lookups), lookups.babyParam],
  );
  if (row === undefined) throw new Error('the read statement returned no row');
  return {
    organisations: organisationMap(row.organisations),
    current: currentOf(row),
    referring: row.referring.map(referringOf),
    own: row.own === null ? undefined : { content: seal(row.own.content), saidAt: new Date(row.own.received_at) },
  };
}

/** Every organisation in the registry, with the facts the decision reads. */
export async function readOrganisationFacts(db: Db | Tx): Promise<Map<string, OrganisationFacts>> {
  const [row] = await runStatement<{ organisations: OrganisationRow[] }>(db, LIST_ORGANISATIONS, []);
  return organisationMap(row?.organisations ?? []);
}

/** A record of a type other than Patient, with the facts about its subjects. */
export interface RecordWithFacts {
  organisations: Map<string, OrganisationFacts>;
  current: StoredResource | undefined;
  /** The current version of each Patient the record refers to through its indexed `patient` references, that the hub holds. */
  subjects: StoredResource[];
  /** The records referring to those Patients through the lookups given. */
  referring: Referring[];
}

/** The organisation facts, a record's current version and the facts about its subjects, in one statement. */
export async function readRecordWithFacts(db: Db | Tx, type: string, id: string, lookups: ReferringLookups): Promise<RecordWithFacts> {
  const [row] = await runStatement<ResourceRow & { organisations: OrganisationRow[]; subjects: RawResource[]; referring: RawReferring[] }>(
    db,
    READ_RECORD_WITH_FACTS,
    [type, id, ...lookupValues(lookups), lookups.babyParam],
  );
  if (row === undefined) throw new Error('the read statement returned no row');
  return {
    organisations: organisationMap(row.organisations),
    current: currentOf(row),
    subjects: row.subjects.map(storedOf),
    referring: row.referring.map(referringOf),
  };
}

function organisationMap(rows: readonly OrganisationRow[]): Map<string, OrganisationFacts> {
  return new Map(rows.map((r) => [r.code, { type: r.type, catchment: r.catchment }]));
}

function currentOf(row: ResourceRow): StoredResource | undefined {
  if (row.type === null || row.id === null || row.version_id === null || row.last_updated === null || row.source_org === null || row.content === null) {
    return undefined;
  }
  return storedOf({ ...row, type: row.type, id: row.id, version_id: row.version_id, last_updated: row.last_updated, source_org: row.source_org, source_orgs: row.source_orgs ?? [], content: row.content });
}

/** A batch of a search with the facts about its records' subjects (searchWithFacts). */
export interface BatchWithFacts {
  /** Read in the same statement when asked for. */
  organisations: Map<string, OrganisationFacts> | undefined;
  /** The batch, in the search's order. */
  rows: StoredResource[];
  /** "Patient/id" of every subject the statement read facts for: each row's Patients (a Patient itself). */
  subjects: Set<string>;
  /** The current version of each of those subjects the hub holds (for a search of Patients, the rows themselves). */
  patients: StoredResource[];
  /** The records referring to those subjects through the lookups given. */
  referring: Referring[];
  /** For a search of Patients, what the requester said about each row (by Patient id; absent where it said nothing). */
  said: Map<string, OwnStatement> | undefined;
}

/**
 * One batch of a search (the statement searchQuery built, with its own
 * parameters) and, in the same statement and snapshot, what the decision
 * reads about the batch's subjects: their current versions, the records
 * that refer to them (referringCtes), for Patients what the requester said
 * about each, and, when asked, the organisations. A search whose first batch
 * brings its facts is two statements with its audit, as a read is.
 */
export async function searchWithFacts(
  db: Db | Tx,
  batch: { type: string; descending: boolean; query: SearchQuery },
  facts: { lookups: ReferringLookups; requester: string; organisations: boolean },
): Promise<BatchWithFacts> {
  const { sql: candidates, params } = batch.query.toSQL();
  const at = (n: number): string => `$${params.length + n}`;
  const patients = batch.type === 'Patient';
  const direction = batch.descending ? 'desc' : 'asc';
  const subject = patients
    ? `select 'Patient/' || c.id as target from cand c`
    : `select distinct x.target from resource_reference x join cand c on x.type = c.type and x.id = c.id where x.param = 'patient'`;
  const text = `with cand as (${candidates}), subject as (${subject}),
      ${referringCtes(at(1), at(2), 'array(select target from subject)', `${at(3)}::text`)}
    select ${facts.organisations ? ORGANISATIONS : 'null::json'} as organisations,
      (select coalesce(json_agg(json_build_object('type', c.type, 'id', c.id, 'version_id', c.version_id, 'last_updated', c.last_updated,
          'source_org', c.source_org, 'source_orgs', c.source_orgs, 'content', c.content) order by c.last_updated ${direction}, c.id ${direction}), '[]'::json)
        from cand c) as rows,
      (select coalesce(json_agg(s.target), '[]'::json) from subject s) as subjects,
      ${
        patients
          ? `'[]'::json`
          : `(select coalesce(json_agg(json_build_object('type', p.type, 'id', p.id, 'version_id', p.version_id, 'last_updated', p.last_updated,
          'source_org', p.source_org, 'source_orgs', p.source_orgs, 'content', p.content)), '[]'::json)
        from resource p where p.type = 'Patient' and p.id in (select substr(s.target, 9) from subject s where s.target like 'Patient/%'))`
      } as patients,
      ${REFERRING_JSON} as referring,
      ${
        patients
          ? `(select coalesce(json_agg(json_build_object('patient_id', ps.patient_id, 'content', ps.content, 'received_at', ps.received_at)), '[]'::json)
        from patient_source ps where ps.organisation = ${at(4)}::text and ps.patient_id in (select c.id from cand c))`
          : `null::json`
      } as said`;
  const values = [...params, ...lookupValues(facts.lookups), facts.lookups.babyParam, ...(patients ? [facts.requester] : [])];
  const [row] = await runStatement<{
    organisations: OrganisationRow[] | null;
    rows: RawResource[];
    subjects: string[];
    patients: RawResource[];
    referring: RawReferring[];
    said: { patient_id: string; content: Resource; received_at: string }[] | null;
  }>(db, composedStatement('search', text), values);
  if (row === undefined) throw new Error('the search statement returned no row');
  return {
    organisations: row.organisations === null ? undefined : organisationMap(row.organisations),
    rows: row.rows.map(storedOf),
    subjects: new Set(row.subjects),
    patients: row.patients.map(storedOf),
    referring: row.referring.map(referringOf),
    said: row.said === null ? undefined : new Map(row.said.map((s) => [s.patient_id, { content: seal(s.content), saidAt: new Date(s.received_at) }])),
  };
}
