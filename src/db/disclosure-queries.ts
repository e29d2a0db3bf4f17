import { and, eq, inArray } from 'drizzle-orm';
import type { Db, Tx } from './database.js';
import type { StoredResource } from './resource-queries.js';
import { organisations, resourceReferences, resources } from './schema/index.js';

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
