import { and, eq, sql, type SQL } from 'drizzle-orm';
import type { SearchRequest } from '../fhir/search-request.js';
import type { Db, Tx } from './database.js';
import type { SearchCandidates, SubjectNarrowing } from './resource-queries.js';
import { storedRows, type SearchQuery } from './stored-rows.js';
import { beyondCursor, parameterConditions, withinBound } from './search-conditions.js';
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

export function searchPatients(
  db: Db | Tx,
  search: SearchRequest,
  candidates: SearchCandidates & { districts: readonly string[]; subject: SubjectNarrowing },
): SearchQuery {
  const limit = search.count + 1;
  const direction = search.descending ? sql`desc` : sql`asc`;
  const matches = parameterConditions(search);
  const bounded = (column: SQL | typeof resources.lastUpdated): SQL[] => search.lastUpdated.map((b) => withinBound(b, column));
  const part = (select: SQL, lastUpdated: SQL | typeof resources.lastUpdated, id: SQL | typeof resources.id, where: (SQL | undefined)[]): SQL =>
    sql`(${select} where ${and(...where, ...matches, beyondCursor(search, lastUpdated, id))} order by ${lastUpdated} ${direction}, ${id} ${direction} limit ${limit})`;

  const parts: SQL[] = [];
  if (candidates.sourceOrgs.length > 0) {
    const sources = sql`${subjectFacts.sourceOrgs} && ${sql.param([...candidates.sourceOrgs])}::text[]`;
    const lastUpdated = sql`${subjectFacts.lastUpdated}`;
    const id = sql`${subjectFacts.patientId}`;
    // The subject facts alone answer the narrowing; the Patient's row is joined only for search parameters, which read it.
    const from =
      matches.length === 0
        ? sql`${subjectFacts}`
        : sql`${subjectFacts} join ${resources} on ${resources.type} = 'Patient' and ${resources.id} = ${id}`;
    for (const district of new Set(candidates.districts)) {
      parts.push(
        part(
          sql`select ${lastUpdated} as lu, ${id} as id from ${from}`,
          lastUpdated,
          id,
          [
            eq(subjectFacts.district, district),
            candidates.subject.consent ? sql`${subjectFacts.consentOpen}` : undefined,
            candidates.subject.unrestricted ? sql`not ${subjectFacts.restricted}` : undefined,
            sources,
            ...bounded(lastUpdated),
          ],
        ),
      );
    }
  }
  const stored = sql`select ${resources.lastUpdated} as lu, ${resources.id} as id from ${resources}`;
  // The type as a literal, not a parameter: the statement is prepared by name, and under a generic plan only a
  // literal lets PostgreSQL prove the partial index on (source_org, last_updated, id) where type = 'Patient'. With
  // a parameter it walked every Patient in the stretch on (type, last_updated), filtering on source_org.
  parts.push(part(stored, resources.lastUpdated, resources.id, [sql`${resources.type} = 'Patient'`, eq(resources.sourceOrg, candidates.own), ...bounded(resources.lastUpdated)]));
  parts.push(
    part(
      sql`select ${resources.lastUpdated} as lu, ${resources.id} as id from ${patientSources} join ${resources} on ${resources.type} = 'Patient' and ${resources.id} = ${patientSources.patientId}`,
      resources.lastUpdated,
      resources.id,
      [eq(patientSources.organisation, candidates.own)],
    ),
  );
  const keys = sql`select id from (${sql.join(parts, sql` union `)}) candidate order by lu ${direction}, id ${direction} limit ${limit}`;
  return storedRows(db, and(eq(resources.type, 'Patient'), sql`${resources.id} in (${keys})`), search.descending, limit);
}
