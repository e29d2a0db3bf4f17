import { storedOf, type OrganisationFacts } from './disclosure-queries.js';
import { runStatement, type Db, type Tx } from './database.js';
import type { StoredResource } from './resource-queries.js';
import type { Undisclosed } from './undisclosed.js';

// The statements every read request runs, written out and prepared once per
// connection: the registry's organisation facts (read fresh on every request,
// never cached: a registry change applies to the next request) and the
// record asked for, in one round trip.

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
