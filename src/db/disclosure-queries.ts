import type { Patient } from 'fhir/r4.js';
import { runStatement, type Db, type Statement, type Tx } from './database.js';
import type { StoredResource } from './resource-queries.js';
import { organisations } from './schema/index.js';
import { seal, type Undisclosed } from './undisclosed.js';
import type { OwnStatement } from './patient-source-queries.js';

// Batch reads the disclosure decision needs: who the organisations are, and
// the facts about a page of records' subjects. Index lookups only.

export interface OrganisationFacts {
  type: string;
  catchment: readonly string[];
}

export async function listOrganisationFacts(db: Db | Tx): Promise<Map<string, OrganisationFacts>> {
  const rows = await db.select({ code: organisations.code, type: organisations.type, catchment: organisations.catchment }).from(organisations);
  return new Map(rows.map((r) => [r.code, { type: r.type, catchment: r.catchment }]));
}

/** The columns of a `resource` row `r`, as RawResource names them. */
export const RESOURCE_COLUMNS = 'r.type, r.id, r.version_id, r.last_updated, r.source_org, r.source_orgs, r.content';

const READ_CURRENT_MANY: Statement = {
  name: 'resource_read_current_many',
  text: `select ${RESOURCE_COLUMNS} from resource r where r.type = $1::text and r.id = any($2::text[])`,
};

export async function readCurrentMany(db: Db | Tx, type: string, ids: readonly string[]): Promise<StoredResource[]> {
  if (ids.length === 0) return [];
  return (await runStatement<RawResource>(db, READ_CURRENT_MANY, [type, [...new Set(ids)]])).map(storedOf);
}

// The records of type $1 that refer to any of the targets $3 through parameter $2: each reference from the index
// alone, then its record on the primary key (lateral, with a limit, so that it stays a lookup per reference
// whatever the statistics say).
const FIND_REFERRING_MANY: Statement = {
  name: 'resource_find_referring_many',
  text: `select x.target as ref_target, ${RESOURCE_COLUMNS}
    from resource_reference x
    cross join lateral (select * from resource y where y.type = x.type and y.id = x.id limit 1) r
    where x.target = any($3::text[]) and x.type = $1::text and x.param = $2::text`,
};

/** Current resources of a type that refer to any of the targets through an indexed reference. */
export async function findReferringMany(db: Db | Tx, type: string, param: string, targets: readonly string[]): Promise<{ target: string; row: StoredResource }[]> {
  if (targets.length === 0) return [];
  const rows = await runStatement<RawResource & { ref_target: string }>(db, FIND_REFERRING_MANY, [type, param, [...new Set(targets)]]);
  return rows.map((r) => ({ target: r.ref_target, row: storedOf(r) }));
}

/** A record referring to one of the targets through an indexed reference parameter. */
export interface Referring {
  type: string;
  param: string;
  target: string;
  row: StoredResource;
}

/**
 * The `found` set of the statements below (written out, so that a read can
 * carry it in its own statement): the records of each (type, param) in the
 * unnested arrays that refer to any of the targets, and the Consents
 * (through their `patient` reference) of the mothers that pregnancy episodes
 * among them name for a baby target (EpisodeOfCare.patient.reference as
 * stored, through the baby parameter). Each argument is an SQL expression.
 */
export function referringCtes(types: string, params: string, targets: string, babyParam: string): string {
  return `wanted as (
        select x.type, x.param, x.target, x.id from resource_reference x
         where (x.type, x.param) in (select * from unnest(${types}::text[], ${params}::text[])) and x.target = any(${targets})
      ), mothers as (
        select distinct r.content->'patient'->>'reference' as target from wanted w join resource r on r.type = w.type and r.id = w.id
         where w.type = 'EpisodeOfCare' and w.param = ${babyParam}
      ), found as (
        select type, param, target, id from wanted
        union
        select x.type, x.param, x.target, x.id from resource_reference x
         where x.type = 'Consent' and x.param = 'patient' and x.target in (select target from mothers)
      )`;
}

export const FIND_REFERRING = {
  name: 'disclosure_referring',
  text: `with ${referringCtes('$1', '$2', '$3::text[]', '$4::text')}
      select f.type as ref_type, f.param as ref_param, f.target as ref_target, r.type, r.id, r.version_id, r.last_updated, r.source_org, r.source_orgs, r.content
        from found f join resource r on r.type = f.type and r.id = f.id`,
};

/** What a subject's facts are looked up through: (type, param) pairs of indexed references to the subject. */
export interface ReferringLookups {
  lookups: readonly { type: string; param: string }[];
  babyParam: string;
}

/** The lookups as statement parameters: the types, then the parameters (unnested together). */
export function lookupValues({ lookups }: ReferringLookups): [string[], string[]] {
  return [lookups.map((l) => l.type), lookups.map((l) => l.param)];
}

export type RawReferring = { ref_type: string; ref_param: string; ref_target: string } & RawResource;

export function referringOf(r: RawReferring): Referring {
  return { type: r.ref_type, param: r.ref_param, target: r.ref_target, row: storedOf(r) };
}

/**
 * In one statement: the current records of each (type, param) that refer to
 * any of the targets, and the Consents of the mothers that pregnancy episodes
 * among them name for a baby target (see referringCtes): all the facts a page
 * of records' subjects need.
 */
export async function findReferringAll(db: Db | Tx, lookups: ReferringLookups, targets: readonly string[]): Promise<Referring[]> {
  if (targets.length === 0 || lookups.lookups.length === 0) return [];
  const rows = await runStatement<RawReferring>(db, FIND_REFERRING, [...lookupValues(lookups), [...new Set(targets)], lookups.babyParam]);
  return rows.map(referringOf);
}

// FIND_REFERRING, and in the same statement what one organisation ($6) said about each of the Patients $5:
// its rows have no ref_type.
const FIND_REFERRING_AND_STATEMENTS = {
  name: 'disclosure_referring_statements',
  text: `with ${referringCtes('$1', '$2', '$3::text[]', '$4::text')}
      select f.type as ref_type, f.param as ref_param, f.target as ref_target, r.type, r.id, r.version_id, r.last_updated, r.source_org, r.source_orgs, r.content,
          null::timestamptz as received_at
        from found f join resource r on r.type = f.type and r.id = f.id
      union all
      select null, null, ps.patient_id, null, null, null, null, null, null, ps.content, ps.received_at
        from patient_source ps where ps.patient_id = any($5::text[]) and ps.organisation = $6::text`,
};

/**
 * findReferringAll, and what `organisation` said about each of the Patients
 * `patientIds` (by Patient id; absent where it said nothing), in one statement.
 */
export async function findReferringWithStatements(
  db: Db | Tx,
  lookups: ReferringLookups,
  targets: readonly string[],
  own: { organisation: string; patientIds: readonly string[] },
): Promise<{ referring: Referring[]; said: Map<string, OwnStatement> }> {
  const rows = await runStatement<(RawReferring & { received_at: null }) | { ref_type: null; ref_target: string; content: Patient; received_at: Date | string }>(
    db,
    FIND_REFERRING_AND_STATEMENTS,
    [...lookupValues(lookups), [...new Set(targets)], lookups.babyParam, [...new Set(own.patientIds)], own.organisation],
  );
  const referring: Referring[] = [];
  const said = new Map<string, OwnStatement>();
  for (const row of rows) {
    if (row.ref_type === null) {
      said.set(row.ref_target, { content: seal(row.content), saidAt: row.received_at instanceof Date ? row.received_at : new Date(row.received_at) });
    } else {
      referring.push(referringOf(row));
    }
  }
  return { referring, said };
}

/** A `resource` row as a plain query returns it. */
export interface RawResource {
  type: string;
  id: string;
  version_id: number;
  last_updated: Date | string;
  source_org: string;
  source_orgs: string[];
  content: Undisclosed;
}

export function storedOf(r: RawResource): StoredResource {
  return {
    type: r.type,
    id: r.id,
    versionId: r.version_id,
    lastUpdated: r.last_updated instanceof Date ? r.last_updated : new Date(r.last_updated),
    sourceOrg: r.source_org,
    sourceOrgs: r.source_orgs,
    content: r.content,
  };
}
