import { and, eq, inArray, sql } from 'drizzle-orm';
import { rawRows, type Db, type Tx } from './database.js';
import type { StoredResource } from './resource-queries.js';
import { organisations, resourceReferences, resources } from './schema/index.js';
import type { Undisclosed } from './undisclosed.js';

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

export async function readCurrentMany(db: Db | Tx, type: string, ids: readonly string[]): Promise<StoredResource[]> {
  if (ids.length === 0) return [];
  return db.select().from(resources).where(and(eq(resources.type, type), inArray(resources.id, [...new Set(ids)])));
}

/** Current resources of a type that refer to any of the targets through an indexed reference. */
export async function findReferringMany(db: Db | Tx, type: string, param: string, targets: readonly string[]): Promise<{ target: string; row: StoredResource }[]> {
  if (targets.length === 0) return [];
  const refs = await db
    .select({ id: resourceReferences.id, target: resourceReferences.target })
    .from(resourceReferences)
    .where(and(eq(resourceReferences.type, type), eq(resourceReferences.param, param), inArray(resourceReferences.target, [...new Set(targets)])));
  if (refs.length === 0) return [];
  const rows = await readCurrentMany(db, type, refs.map((r) => r.id));
  const byId = new Map(rows.map((r) => [r.id, r]));
  return refs.flatMap((r) => {
    const row = byId.get(r.id);
    return row === undefined ? [] : [{ target: r.target, row }];
  });
}

/** A record referring to one of the targets through an indexed reference parameter. */
export interface Referring {
  type: string;
  param: string;
  target: string;
  row: StoredResource;
}

/**
 * In one statement: the current records of each (type, param) that refer to
 * any of the targets, and the Consents (through their `patient` reference)
 * of the mothers that pregnancy episodes among them name for a baby target
 * (EpisodeOfCare.patient.reference as stored, through `babyParam`): all the
 * facts a page of records' subjects need.
 */
export async function findReferringAll(
  db: Db | Tx,
  lookups: readonly { type: string; param: string }[],
  targets: readonly string[],
  babyParam: string,
): Promise<Referring[]> {
  if (targets.length === 0 || lookups.length === 0) return [];
  const types = sql.param(lookups.map((l) => l.type));
  const params = sql.param(lookups.map((l) => l.param));
  const rows = await rawRows<{ ref_type: string; ref_param: string; ref_target: string } & RawResource>(
    db,
    sql`with wanted as (
        select x.type, x.param, x.target, x.id from ${resourceReferences} x
         where (x.type, x.param) in (select * from unnest(${types}::text[], ${params}::text[])) and x.target = any(${sql.param([...new Set(targets)])}::text[])
      ), mothers as (
        select distinct r.content->'patient'->>'reference' as target from wanted w join ${resources} r on r.type = w.type and r.id = w.id
         where w.type = 'EpisodeOfCare' and w.param = ${babyParam}
      ), found as (
        select type, param, target, id from wanted
        union
        select x.type, x.param, x.target, x.id from ${resourceReferences} x
         where x.type = 'Consent' and x.param = 'patient' and x.target in (select target from mothers)
      )
      select f.type as ref_type, f.param as ref_param, f.target as ref_target, r.type, r.id, r.version_id, r.last_updated, r.source_org, r.source_orgs, r.content
        from found f join ${resources} r on r.type = f.type and r.id = f.id`,
  );
  return rows.map((r) => ({ type: r.ref_type, param: r.ref_param, target: r.ref_target, row: storedOf(r) }));
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
