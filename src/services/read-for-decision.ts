import type { Principal } from '../auth/principal.js';
import type { Tx } from '../db/database.js';
import type { OrganisationFacts } from '../db/disclosure-queries.js';
import { readPatientWithFacts, readRecordWithFacts } from '../db/request-queries.js';
import type { StoredResource } from '../db/resource-queries.js';
import { patientsOfStored } from '../db/undisclosed.js';
import type { DisclosureService, KnownSubjectFacts } from './disclosure-service.js';

/** What a read by id decides on: the organisations, the record's current version, and the facts read with it. */
export interface ReadForDecision {
  organisations: Map<string, OrganisationFacts>;
  current: StoredResource | undefined;
  /** For a record that exists and has a subject: its subject's facts (and for a Patient the caller's statement), for DisclosureService.judgeKnowing. */
  known?: KnownSubjectFacts | undefined;
}

/**
 * The organisation facts with the record, in one statement, whatever the
 * answer will be. The same statement reads the facts the decision needs
 * about the record's subject (for a Patient, about itself, and the caller's
 * own statement), so an unknown id and a denied one do the same work, and a
 * read is one statement besides its audit.
 */
export async function readForDecision(tx: Tx, disclosure: DisclosureService, principal: Principal, type: string, id: string): Promise<ReadForDecision> {
  if (type === 'Patient') {
    const read = await readPatientWithFacts(tx, id, principal.organisationCode, disclosure.subjectLookups(true));
    const known =
      read.current === undefined
        ? undefined
        : {
            subjects: new Set([`Patient/${id}`]),
            patients: [read.current],
            referring: read.referring,
            withRecords: true,
            own: { ids: new Set([id]), said: new Map(read.own === undefined ? [] : [[id, read.own]]) },
          };
    return { organisations: read.organisations, current: read.current, known };
  }
  const read = await readRecordWithFacts(tx, type, id, disclosure.subjectLookups(false));
  // The subject the decision reads (its first `patient` reference), among those the statement read facts for.
  const subject = read.current === undefined ? undefined : patientsOfStored(read.current)[0];
  const known =
    subject === undefined
      ? undefined
      : { subjects: new Set([subject]), patients: read.subjects.filter((p) => `Patient/${p.id}` === subject), referring: read.referring, withRecords: false, own: undefined };
  return { organisations: read.organisations, current: read.current, known };
}
