import { and, eq, gt, inArray, lt, or, sql, type SQL } from 'drizzle-orm';
import type { DateBound, SearchRequest } from '../fhir/search-request.js';
import { resourceReferences, resources, resourceTokens } from './schema/index.js';

// The conditions of a type-level search, as SQL over the `resource` row in
// scope: what the search parameters ask for, its _lastUpdated bounds and its
// keyset cursor. Shared by every query shape that reads candidates
// (resource-queries.ts, patient-search-queries.ts).

/** _id, identifier, token and reference parameters (each an AND of OR-ed alternatives). */
export function parameterConditions(search: SearchRequest): SQL[] {
  const where: SQL[] = [];
  if (search.ids !== undefined) where.push(search.ids.length === 0 ? sql`false` : inArray(resources.id, search.ids));
  for (const alternatives of search.identifiers) {
    const any = or(
      ...alternatives.map(
        (a) => sql`exists (select 1 from ${resourceTokens} t where t.type = ${resources.type} and t.id = ${resources.id}
          and t.param = 'identifier' and t.value = ${a.value}${a.system === undefined ? sql`` : sql` and t.system = ${a.system}`})`,
      ),
    );
    if (any !== undefined) where.push(any);
  }
  for (const token of search.tokens) {
    const any = or(
      ...token.alternatives.map(
        (a) => sql`exists (select 1 from ${resourceTokens} t where t.type = ${resources.type} and t.id = ${resources.id}
          and t.param = ${token.param} and t.value = ${a.value}${a.system === undefined ? sql`` : sql` and t.system = ${a.system}`})`,
      ),
    );
    if (any !== undefined) where.push(any);
  }
  for (const ref of search.references) {
    const exact = ref.targets.filter((t) => !t.startsWith('*/'));
    const anyType = ref.targets.filter((t) => t.startsWith('*/')).map((t) => t.slice(2));
    const match = or(
      exact.length > 0 ? sql`r.target in (${sql.join(exact.map((t) => sql`${t}`), sql`, `)})` : undefined,
      anyType.length > 0 ? sql`split_part(r.target, '/', 2) in (${sql.join(anyType.map((t) => sql`${t}`), sql`, `)})` : undefined,
    );
    where.push(
      sql`exists (select 1 from ${resourceReferences} r where r.type = ${resources.type} and r.id = ${resources.id}
        and r.param = ${ref.param} and (${match}))`,
    );
  }
  return where;
}

/** One _lastUpdated bound on a timestamp column (the resource's, or a copy of it). */
export function withinBound(bound: DateBound, column: SQL | typeof resources.lastUpdated): SQL {
  const at = (d: Date): SQL => sql`${d.toISOString()}::timestamptz`;
  switch (bound.comparator) {
    case 'gt':
      return sql`${column} >= ${at(bound.end)}`;
    case 'ge':
      return sql`${column} >= ${at(bound.start)}`;
    case 'lt':
      return sql`${column} < ${at(bound.start)}`;
    case 'le':
      return sql`${column} < ${at(bound.end)}`;
    case 'eq':
      return sql`(${column} >= ${at(bound.start)} and ${column} < ${at(bound.end)})`;
  }
}

/**
 * Beyond the cursor in keyset order (lastUpdated, id), as a row comparison so
 * that an index on (…, last_updated, id) can start there.
 */
export function beyondCursor(search: SearchRequest, lastUpdated: SQL | typeof resources.lastUpdated, id: SQL | typeof resources.id): SQL | undefined {
  if (search.cursor === undefined) return undefined;
  const at = sql`(${search.cursor.lastUpdated.toISOString()}::timestamptz, ${search.cursor.id}::text)`;
  return search.descending ? sql`(${lastUpdated}, ${id}) < ${at}` : sql`(${lastUpdated}, ${id}) > ${at}`;
}

/** The cursor condition the keyset order has always used, over the `resource` row. */
export function afterCursor(search: SearchRequest): SQL | undefined {
  if (search.cursor === undefined) return undefined;
  const { lastUpdated, id } = search.cursor;
  return search.descending
    ? or(lt(resources.lastUpdated, lastUpdated), and(eq(resources.lastUpdated, lastUpdated), lt(resources.id, id)))
    : or(gt(resources.lastUpdated, lastUpdated), and(eq(resources.lastUpdated, lastUpdated), gt(resources.id, id)));
}
