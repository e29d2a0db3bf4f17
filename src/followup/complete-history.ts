import type { List } from 'fhir/r4.js';
import { HUB_CODES, HUB_IDS } from '../adapters/codes.js';

// A practice's statement that it has sent a child's whole immunisation history:
// a FHIR List in snapshot mode, which "contains all the items" (a complete list).
// See: https://hl7.org/fhir/R4/list.html ("mode: snapshot") and https://hl7.org/fhir/R4/valueset-list-mode.html
// Only a child with such a List is ever checked for overdue doses: a partial
// record (a missed-dose message, a catch-up) says nothing about what was not given.

/** List.code: the hub's own code for a complete immunisation history. */
export const HISTORY_CODE_SYSTEM = `${HUB_CODES}/list-kind`;
export const IMMUNISATION_HISTORY_CODE = 'immunisation-history';
/** List.identifier: one List per practice per child (`<practice code>|<NHS number>`); a later complete history replaces it. */
export const HISTORY_ID_SYSTEM = `${HUB_IDS}/immunisation-history`;

export interface CompleteHistory {
  id: string;
  /** "Patient/<id>": the child. */
  subject: string;
  /** The practice that says the history is complete. */
  source: { system: string; code: string };
  nhsNumber: string;
  /** When the practice sent it (FHIR dateTime). */
  date: string;
  /** "Immunization/<id>" of every dose of the child in the file. */
  entries: readonly string[];
}

export function historyKey(practice: string, nhsNumber: string): string {
  return `${practice}|${nhsNumber}`;
}

export function buildCompleteHistoryList(h: CompleteHistory): List {
  return {
    resourceType: 'List',
    id: h.id,
    identifier: [{ system: HISTORY_ID_SYSTEM, value: historyKey(h.source.code, h.nhsNumber) }],
    status: 'current',
    mode: 'snapshot',
    title: 'Complete immunisation history',
    code: { coding: [{ system: HISTORY_CODE_SYSTEM, code: IMMUNISATION_HISTORY_CODE, display: 'Complete immunisation history' }] },
    subject: { reference: h.subject },
    source: { type: 'Organization', identifier: { system: h.source.system, value: h.source.code } },
    date: h.date,
    // An empty snapshot is still a statement: "no doses given". R4 lst-1: a List with no entries says why.
    ...(h.entries.length === 0
      ? { emptyReason: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/list-empty-reason', code: 'nilknown', display: 'Nil Known' }] } }
      : { entry: [...h.entries].sort().map((reference) => ({ item: { reference } })) }),
  };
}

/** Whether a stored List is a current complete immunisation history. */
export function isCompleteHistory(list: List): boolean {
  return (
    list.status === 'current' &&
    list.mode === 'snapshot' &&
    (list.code?.coding ?? []).some((c) => c.system === HISTORY_CODE_SYSTEM && c.code === IMMUNISATION_HISTORY_CODE)
  );
}
