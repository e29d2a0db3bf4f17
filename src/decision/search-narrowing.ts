import type { Consent, ConsentProvision, EpisodeOfCare, Patient, Resource } from 'fhir/r4.js';
import { indexValues, PREGNANCY_BABY_PARAM } from '../fhir/resource-types.js';
import type { Flow, LoadedProtocol } from '../protocol/protocol-schema.js';
import type { Requester } from './decision-types.js';
import { isRestricted, subjectDistrict } from './subject.js';

// What a search may leave unread because the decision would deny it anyway.
// Pure: derived from the flows decide.ts walks and from the subject facts it
// reads, so that a narrowed search reads roughly what it discloses. Narrowing
// only ever removes records no flow could permit; every record read is still
// decided one by one (the property test in test/unit/search-narrowing.test.ts).

/** What every flow that could carry records of a type to a requester needs of the record's subject. */
export interface FlowNeeds {
  /** Organisation types whose records some such flow carries (decide.ts: the flow's `from` against the record's source types). */
  fromTypes: ReadonlySet<string>;
  /** Every such flow serves only the recipient's catchment (the subject's home district in it). */
  catchment: boolean;
  /** Every such flow requires consent: a permit needs an active Consent that can permit, about the subject or carried from the mother. */
  consent: boolean;
  /** Every such flow excludes restricted records: a permit needs a subject without R or V confidentiality. */
  unrestricted: boolean;
}

/**
 * A flow decide.ts would consider for a record of this type for this
 * requester at all: to its organisation type, for its purpose, with a data
 * item carrying the type. (decide.ts checks the flow's items more closely, by
 * the subject's role and each item's select; a superset is what narrowing needs.)
 */
export function mayCarry(flow: Flow, requester: Requester, type: string): boolean {
  return flow.to.includes(requester.organisationType as never) && flow.purposes.includes(requester.purpose as never) && flow.items.some((i) => i.elements.has(type));
}

export function flowNeeds(protocols: readonly LoadedProtocol[], requester: Requester, type: string): FlowNeeds {
  const fromTypes = new Set<string>();
  let catchment = true;
  let consent = true;
  let unrestricted = true;
  for (const protocol of protocols) {
    for (const flow of protocol.flows) {
      if (!mayCarry(flow, requester, type)) continue;
      for (const t of flow.from) fromTypes.add(t);
      if (flow.area !== 'recipient-catchment') catchment = false;
      if (flow.consent !== 'required') consent = false;
      if (!flow.exclude.includes('restricted-record')) unrestricted = false;
    }
  }
  // With no flow at all nothing is narrowed by the subject: the source list is empty and says it.
  const any = fromTypes.size > 0;
  return { fromTypes, catchment: any && catchment, consent: any && consent, unrestricted: any && unrestricted };
}

/** A Patient's facts as the decision reads them (decision/subject.ts). */
export interface PatientFacts {
  district: string | null;
  restricted: boolean;
}

export function patientFacts(patient: Patient): PatientFacts {
  return { district: subjectDistrict(patient) ?? null, restricted: isRestricted(patient) };
}

/** The Patients ("Patient/id") a Consent is about, as the disclosure facts find it (its indexed patient reference). */
export function consentSubjects(consent: Resource): string[] {
  return [...new Set(indexValues(consent).references.filter((r) => r.param === 'patient').map((r) => r.target))];
}

/**
 * Whether a Consent could ever permit anything (consent-check.ts: only an
 * active Consent does, through a provision of type permit somewhere in its
 * tree). A refusal recorded as an active deny never does.
 */
export function consentMayPermit(consent: Resource): boolean {
  const c = consent as Consent;
  return c.status === 'active' && c.provision !== undefined && hasPermit(c.provision);
}

function hasPermit(p: ConsentProvision): boolean {
  return p.type === 'permit' || (p.provision ?? []).some(hasPermit);
}

/**
 * The babies a pregnancy episode names and the mother whose consents carry
 * to them, as the disclosure facts read it (EpisodeOfCare.patient.reference
 * as stored). Every such episode, whoever wrote it: a superset of the ones
 * the decision counts.
 */
export function carriedConsents(episode: Resource): { babies: string[]; mother: string } | undefined {
  const mother = (episode as EpisodeOfCare).patient?.reference;
  if (typeof mother !== 'string') return undefined;
  const babies = [...new Set(indexValues(episode).references.filter((r) => r.param === PREGNANCY_BABY_PARAM).map((r) => r.target))];
  return babies.length === 0 ? undefined : { babies, mother };
}
