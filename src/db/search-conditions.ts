import type { DateBound, SearchRequest } from '../fhir/search-request.js';
import { allOf, anyOf, fragment, joinFragments, namesOf, rawFragment, type Fragment } from './sql-fragment.js';
import { resourceReferences, resources, resourceTokens } from './schema/index.js';

// The conditions of a type-level search, as SQL over the `resource` row in
// scope: what the search parameters ask for, its _lastUpdated bounds and its
// keyset cursor. Shared by every query shape that reads candidates
// (resource-queries.ts, patient-search-queries.ts). Composed as fragments,
// not through drizzle's builder (sql-fragment.ts says why).

const R = namesOf(resources);
const TOKENS = namesOf(resourceTokens).table;
const REFERENCES = namesOf(resourceReferences).table;

/** The values as a parenthesised list of parameters, `($1, $2, …)`. */
function parameterList(values: readonly unknown[]): Fragment {
  return fragment`(${joinFragments(values.map((v) => fragment`${v}`), ', ')})`;
}

/** _id, identifier, token and reference parameters (each an AND of OR-ed alternatives). */
export function parameterConditions(search: SearchRequest): Fragment[] {
  const where: Fragment[] = [];
  if (search.ids !== undefined) where.push(search.ids.length === 0 ? rawFragment('false') : fragment`${R.id} in ${parameterList(search.ids)}`);
  for (const alternatives of search.identifiers) {
    const any = anyOf(
      ...alternatives.map(
        (a) => fragment`exists (select 1 from ${TOKENS} t where t.type = ${R.type} and t.id = ${R.id}
          and t.param = 'identifier' and t.value = ${a.value}${a.system === undefined ? rawFragment('') : fragment` and t.system = ${a.system}`})`,
      ),
    );
    if (any !== undefined) where.push(any);
  }
  for (const token of search.tokens) {
    const any = anyOf(
      ...token.alternatives.map(
        (a) => fragment`exists (select 1 from ${TOKENS} t where t.type = ${R.type} and t.id = ${R.id}
          and t.param = ${token.param} and t.value = ${a.value}${a.system === undefined ? rawFragment('') : fragment` and t.system = ${a.system}`})`,
      ),
    );
    if (any !== undefined) where.push(any);
  }
  for (const ref of search.references) {
    const exact = ref.targets.filter((t) => !t.startsWith('*/'));
    const anyType = ref.targets.filter((t) => t.startsWith('*/')).map((t) => t.slice(2));
    // No target matches nothing (the parser gives at least one: this keeps the statement valid whatever it is given).
    const match = anyOf(
      exact.length > 0 ? fragment`r.target in ${parameterList(exact)}` : undefined,
      anyType.length > 0 ? fragment`split_part(r.target, '/', 2) in ${parameterList(anyType)}` : undefined,
    );
    where.push(
      fragment`exists (select 1 from ${REFERENCES} r where r.type = ${R.type} and r.id = ${R.id}
        and r.param = ${ref.param} and (${match ?? rawFragment('false')}))`,
    );
  }
  return where;
}

/** One _lastUpdated bound on a timestamp column (the resource's, or a copy of it). */
export function withinBound(bound: DateBound, column: Fragment): Fragment {
  const at = (d: Date): Fragment => fragment`${d.toISOString()}::timestamptz`;
  switch (bound.comparator) {
    case 'gt':
      return fragment`${column} >= ${at(bound.end)}`;
    case 'ge':
      return fragment`${column} >= ${at(bound.start)}`;
    case 'lt':
      return fragment`${column} < ${at(bound.start)}`;
    case 'le':
      return fragment`${column} < ${at(bound.end)}`;
    case 'eq':
      return fragment`(${column} >= ${at(bound.start)} and ${column} < ${at(bound.end)})`;
  }
}

/**
 * Beyond the cursor in keyset order (lastUpdated, id), as a row comparison so
 * that an index on (…, last_updated, id) can start there.
 */
export function beyondCursor(search: SearchRequest, lastUpdated: Fragment, id: Fragment): Fragment | undefined {
  if (search.cursor === undefined) return undefined;
  const at = fragment`(${search.cursor.lastUpdated.toISOString()}::timestamptz, ${search.cursor.id}::text)`;
  return search.descending ? fragment`(${lastUpdated}, ${id}) < ${at}` : fragment`(${lastUpdated}, ${id}) > ${at}`;
}

/** The cursor condition the keyset order has always used, over the `resource` row. */
export function afterCursor(search: SearchRequest): Fragment | undefined {
  if (search.cursor === undefined) return undefined;
  const lastUpdated = search.cursor.lastUpdated.toISOString();
  const { id } = search.cursor;
  return search.descending
    ? anyOf(fragment`${R.lastUpdated} < ${lastUpdated}`, allOf(fragment`${R.lastUpdated} = ${lastUpdated}`, fragment`${R.id} < ${id}`))
    : anyOf(fragment`${R.lastUpdated} > ${lastUpdated}`, allOf(fragment`${R.lastUpdated} = ${lastUpdated}`, fragment`${R.id} > ${id}`));
}
