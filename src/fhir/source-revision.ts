import type { Coding, FhirResource } from 'fhir/r4.js';

// A sender's own revision number of a record it keeps (a CAF assessment's
// "revision"), carried as a meta.tag so that it is stored with each version
// and travels with the record to whoever may read it. Tags are for workflow,
// not meaning, and need no profile: https://hl7.org/fhir/R4/resource.html#tags
// The rule it serves: a revision older than the one stored never overwrites it
// (messages can arrive out of order; a stale export must not undo a newer one).

export const SOURCE_REVISION_SYSTEM = 'https://eastside.example/fhir/CodeSystem/source-revision';

export function revisionTag(revision: number): Coding {
  return { system: SOURCE_REVISION_SYSTEM, code: String(revision), display: `revision ${revision}` };
}

/** The sender's revision a stored version carries; undefined for a record stored without one. */
export function revisionOf(resource: FhirResource): number | undefined {
  const code = resource.meta?.tag?.find((t) => t.system === SOURCE_REVISION_SYSTEM)?.code;
  return code !== undefined && /^[1-9]\d{0,8}$/.test(code) ? Number(code) : undefined;
}

/**
 * The stored revision when it is later than the incoming one (the incoming
 * message must not overwrite it); undefined when the incoming revision may be
 * written: it is the same or later, or the stored version carries no revision.
 */
export function laterRevisionStored(stored: FhirResource, incoming: number): number | undefined {
  const held = revisionOf(stored);
  return held !== undefined && held > incoming ? held : undefined;
}
