import type { SearchRequest } from '../fhir/search-request.js';
import type { Db, Tx } from './database.js';
import type { SearchCandidates, SubjectNarrowing } from './resource-queries.js';
import { storedRows, type SearchQuery } from './stored-rows.js';
import { beyondCursor, parameterConditions, withinBound } from './search-conditions.js';
import { allOf, fragment, joinFragments, namesOf, rawFragment, type Fragment } from './sql-fragment.js';
import { patientSources, resources, subjectFacts } from './schema/index.js';

// A batch of a Patient search whose flows all serve the requester's catchment,
// read as the union of what could be permitted, each part from an index in
// keyset order so that a batch reads about what it returns, however many
// Patients the hub holds:
//   - through a flow: Patients whose subject facts meet what every flow needs
//     (home district in the catchment, written by a source of some flow, and,
//     when every flow asks, an active consent and no restriction), one index
//     range per district;
//   - what the requester wrote itself (basis originator);
//   - Patients it has said something about (answered with its statement,
//     whatever their time: disclosure-service.ts ownStatements).
// Each part takes the batch's first rows; the batch is the first of their union.
// Narrowing only: every row returned is still decided one by one.

const R = namesOf(resources);
const F = namesOf(subjectFacts);
const S = namesOf(patientSources);

export function searchPatients(
  db: Db | Tx,
  search: SearchRequest,
  candidates: SearchCandidates & { districts: readonly string[]; subject: SubjectNarrowing },
): SearchQuery {
  const limit = search.count + 1;
  const direction = rawFragment(search.descending ? 'desc' : 'asc');
  const matches = parameterConditions(search);
  const bounded = (column: Fragment): Fragment[] => search.lastUpdated.map((b) => withinBound(b, column));
  const part = (select: Fragment, lastUpdated: Fragment, id: Fragment, where: (Fragment | undefined)[]): Fragment =>
    fragment`(${select} where ${allOf(...where, ...matches, beyondCursor(search, lastUpdated, id)) ?? rawFragment('true')} order by ${lastUpdated} ${direction}, ${id} ${direction} limit ${limit})`;

  const parts: Fragment[] = [];
  if (candidates.sourceOrgs.length > 0) {
    const sources = fragment`${F.sourceOrgs} && ${[...candidates.sourceOrgs]}::text[]`;
    const lastUpdated = F.lastUpdated;
    const id = F.patientId;
    // The subject facts alone answer the narrowing; the Patient's row is joined only for search parameters, which read it.
    const from = matches.length === 0 ? F.table : fragment`${F.table} join ${R.table} on ${R.type} = 'Patient' and ${R.id} = ${id}`;
    for (const district of new Set(candidates.districts)) {
      parts.push(
        part(fragment`select ${lastUpdated} as lu, ${id} as id from ${from}`, lastUpdated, id, [
          fragment`${F.district} = ${district}`,
          candidates.subject.consent ? F.consentOpen : undefined,
          candidates.subject.unrestricted ? fragment`not ${F.restricted}` : undefined,
          sources,
          ...bounded(lastUpdated),
        ]),
      );
    }
  }
  const stored = fragment`select ${R.lastUpdated} as lu, ${R.id} as id from ${R.table}`;
  // The type as a literal, not a parameter: the statement is prepared by name, and under a generic plan only a
  // literal lets PostgreSQL prove the partial index on (source_org, last_updated, id) where type = 'Patient'. With
  // a parameter it walked every Patient in the stretch on (type, last_updated), filtering on source_org.
  parts.push(part(stored, R.lastUpdated, R.id, [fragment`${R.type} = 'Patient'`, fragment`${R.sourceOrg} = ${candidates.own}`, ...bounded(R.lastUpdated)]));
  parts.push(
    part(
      fragment`select ${R.lastUpdated} as lu, ${R.id} as id from ${S.table} join ${R.table} on ${R.type} = 'Patient' and ${R.id} = ${S.patientId}`,
      R.lastUpdated,
      R.id,
      [fragment`${S.organisation} = ${candidates.own}`],
    ),
  );
  const keys = fragment`select id from (${joinFragments(parts, ' union ')}) candidate order by lu ${direction}, id ${direction} limit ${limit}`;
  return storedRows(db, allOf(fragment`${R.type} = ${'Patient'}`, fragment`${R.id} in (${keys})`), search.descending, limit);
}
