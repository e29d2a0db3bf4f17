import type { Patient } from 'fhir/r4.js';
import type { DateBound, SearchRequest } from './search-request.js';

// A search's criteria checked on one record in memory, for answers the index
// cannot judge: a Patient answered with the requester's own statement is
// found by what the requester said and when it said it, never by what others
// said of the Patient (their identifiers are in the index, and their writes
// move the Patient's _lastUpdated). The SQL finds a superset; this decides.
// See: https://hl7.org/fhir/R4/search.html

/** Does `at` meet every _lastUpdated bound? (The bounds as the SQL applies them.) */
export function withinLastUpdated(bounds: readonly DateBound[], at: Date): boolean {
  const t = at.getTime();
  return bounds.every((b) => {
    switch (b.comparator) {
      case 'gt':
        return t >= b.end.getTime();
      case 'ge':
        return t >= b.start.getTime();
      case 'lt':
        return t < b.start.getTime();
      case 'le':
        return t < b.end.getTime();
      case 'eq':
        return t >= b.start.getTime() && t < b.end.getTime();
    }
  });
}

/** Does a Patient statement, said at `saidAt`, meet the search's criteria (identifier, _lastUpdated; _id is the row's)? */
export function statementMatches(search: Pick<SearchRequest, 'identifiers' | 'lastUpdated' | 'references'>, statement: Patient, saidAt: Date): boolean {
  const own = statement.identifier ?? [];
  const identified = search.identifiers.every((alternatives) =>
    alternatives.some((a) => own.some((i) => i.value === a.value && (a.system === undefined || (i.system ?? '') === a.system))),
  );
  // A Patient has no reference search parameters; any asked for cannot be met by a statement.
  return identified && search.references.length === 0 && withinLastUpdated(search.lastUpdated, saidAt);
}
