import type { Resource } from 'fhir/r4.js';
import { patientsOf } from '../fhir/resource-types.js';

// Disclosure by construction (DESIGN.md §10, issue 10 Build 1). Stored content
// is typed as `Undisclosed` from the moment it is read: not a Resource to the
// type checker, so it cannot be put in an answer (FhirResult.body is a
// Resource). The only way from a stored row to response content is the
// disclosure decision (DisclosureService.judge), which decides it and
// redacts it to the flow's data items. Forgetting the decision on a response
// path is then a type error, not a convention to keep.
//
// A brand, not a wrapper: at run time it is the very object the driver
// returned, so the hot path makes no copies.

declare const undisclosed: unique symbol;

/** Content of a stored record that has not passed the disclosure decision. */
export interface Undisclosed {
  readonly [undisclosed]: 'undisclosed';
}

/** Content the hub is about to store (it leaves again only through the decision). */
export function seal(resource: Resource): Undisclosed {
  return resource as unknown as Undisclosed;
}

/**
 * The raw stored content, for rules inside the hub that need it: the facts
 * the decision reads, merges of an inbound message with what is stored,
 * withdrawal notices, search index values. Never for an answer: every caller
 * lives in src/db or src/services, says why, and is found by grepping for
 * this name (eslint refuses it in src/http and src/cli).
 */
export function contentForRules(content: Undisclosed): Resource {
  return content as unknown as Resource;
}

/** "Patient/id" of each patient a stored record is about: for audit rows and decision facts, not for answers. */
export function patientsOfStored(row: { content: Undisclosed }): string[] {
  return patientsOf(contentForRules(row.content));
}
