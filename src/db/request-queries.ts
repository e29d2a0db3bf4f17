import type { Resource } from 'fhir/r4.js';
import { lookupValues, referringCtes, referringOf, storedOf, type OrganisationFacts, type RawReferring, type Referring, type ReferringLookups } from './disclosure-queries.js';
import { runStatement, type Db, type Tx } from './database.js';
import type { OwnStatement } from './patient-source-queries.js';
import type { StoredResource } from './resource-queries.js';
import { seal, type Undisclosed } from './undisclosed.js';

// The statements every read request runs, written out and prepared once per
// connection: the registry's organisation facts (read fresh on every request,
// never cached: a registry change applies to the next request) and the
// record asked for, in one round trip; for a Patient, with every fact the
// decision reads about it and the requester's own statement about it.

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

// One row always: the organisations, and the record's columns (null when there is no such record).
const READ_WITH_ORGANISATIONS = {
  name: 'request_read_current',
  text: `select ${ORGANISATIONS} as organisations,
      r.type, r.id, r.version_id, r.last_updated, r.source_org, r.source_orgs, r.content
    from (select 1) as one left join resource r on r.type = $1 and r.id = $2`,
};

// A Patient by id, as READ_WITH_ORGANISATIONS, and in the same statement (one snapshot) the records that refer
// to it (referringCtes: $3, $4 the lookups, $5 the baby parameter) and what the requester ($2) said about it.
// An unknown id runs the same lookups (finding nothing), so it costs what a denied one does.
const READ_PATIENT_WITH_FACTS = {
  name: 'request_read_patient',
  text: `with ${referringCtes('$3', '$4', "array['Patient/' || $1::text]", '$5::text')}
    select ${ORGANISATIONS} as organisations,
      r.type, r.id, r.version_id, r.last_updated, r.source_org, r.source_orgs, r.content,
      (select coalesce(json_agg(json_build_object('ref_type', f.type, 'ref_param', f.param, 'ref_target', f.target,
          'type', fr.type, 'id', fr.id, 'version_id', fr.version_id, 'last_updated', fr.last_updated,
          'source_org', fr.source_org, 'source_orgs', fr.source_orgs, 'content', fr.content)), '[]'::json)
        from found f join resource fr on fr.type = f.type and fr.id = f.id) as referring,
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

/** The organisation facts and the current version of one record, in one statement. */
export async function readCurrentWithOrganisations(
  db: Db | Tx,
  type: string,
  id: string,
): Promise<{ organisations: Map<string, OrganisationFacts>; current: StoredResource | undefined }> {
  const [row] = await runStatement<ResourceRow & { organisations: OrganisationRow[] }>(db, READ_WITH_ORGANISATIONS, [type, id]);
  if (row === undefined) throw new Error('the read statement returned no row');
  return { organisations: organisationMap(row.organisations), current: currentOf(row) };
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
