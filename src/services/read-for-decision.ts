import type { Principal } from '../auth/principal.js';
import type { Tx } from '../db/database.js';
import type { OrganisationFacts } from '../db/disclosure-queries.js';
import { readCurrentWithOrganisations, readPatientWithFacts } from '../db/request-queries.js';
import type { StoredResource } from '../db/resource-queries.js';
import type { DisclosureService, KnownPatientFacts } from './disclosure-service.js';

/** What a read by id decides on: the organisations, the record's current version, and for a Patient the facts read with it. */
export interface ReadForDecision {
  organisations: Map<string, OrganisationFacts>;
  current: StoredResource | undefined;
  /** For a Patient that exists: its subject facts and the caller's statement, for DisclosureService.judgeKnowing. */
  known?: KnownPatientFacts | undefined;
}

/**
 * The organisation facts with the record, in one statement, whatever the
 * answer will be. For a Patient the same statement reads the facts the
 * decision needs about it and the caller's own statement, so an unknown id
 * and a denied one do the same work, and a read is one statement besides its
 * audit.
 */
export async function readForDecision(tx: Tx, disclosure: DisclosureService, principal: Principal, type: string, id: string): Promise<ReadForDecision> {
  if (type !== 'Patient') return readCurrentWithOrganisations(tx, type, id);
  const read = await readPatientWithFacts(tx, id, principal.organisationCode, disclosure.subjectLookups());
  const known = read.current === undefined ? undefined : { subject: `Patient/${id}`, patient: read.current, referring: read.referring, own: read.own };
  return { organisations: read.organisations, current: read.current, known };
}
