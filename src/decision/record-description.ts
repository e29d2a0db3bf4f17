import type { EpisodeOfCare, Immunization, Observation, Patient, Resource } from 'fhir/r4.js';
import { roleOf, subjectDistrict } from './subject.js';

// What a record is, in the words an information governance lead reads in the
// audit log ("a mother's registration, E1", "a child's missed immunisation"),
// rather than its reference. Written beside each record of a disclosure
// decision (AuditEvent.entity.description), from the facts the decision
// read: the record, and its subject as the hub held them then. Pure.
// See: https://hl7.org/fhir/R4/auditevent-definitions.html#AuditEvent.entity.description

const SNOMED = 'http://snomed.info/sct';
const LOINC = 'http://loinc.org';

/** Observation codes the protocol's data items name (policies/early-years-isp.yaml). */
const OBSERVATIONS: readonly { system: string; code: string; what: string }[] = [
  { system: LOINC, code: '11778-8', what: 'due date' },
  { system: SNOMED, code: '364589006', what: 'birth weight' },
  { system: SNOMED, code: '412726003', what: 'gestation at birth' },
  { system: SNOMED, code: '382341000000101', what: 'number of births' },
];

/** Records about someone rather than theirs, and the word that joins them ("a follow-up for a child"). */
const ABOUT: Readonly<Record<string, string>> = { Communication: 'about', Task: 'for' };

/** The pregnancy episode's type (SNOMED CT 77386006 Pregnancy). */
const PREGNANCY = '77386006';

/** What kind of record this is, without whose it is. */
export function recordKind(resource: Resource): string {
  switch (resource.resourceType) {
    case 'Patient':
      return 'registration';
    case 'EpisodeOfCare':
      return (resource as EpisodeOfCare).type?.some((t) => t.coding?.some((c) => c.system === SNOMED && c.code === PREGNANCY)) === true ? 'pregnancy' : 'episode of care';
    case 'Observation': {
      const codings = (resource as Observation).code?.coding ?? [];
      const known = OBSERVATIONS.find((o) => codings.some((c) => c.system === o.system && c.code === o.code));
      return known?.what ?? 'observation';
    }
    case 'Immunization':
      return (resource as Immunization).status === 'not-done' ? 'missed immunisation' : 'immunisation';
    case 'QuestionnaireResponse':
      return 'early help assessment (CAF)';
    case 'CarePlan':
      return 'early help action plan';
    case 'RelatedPerson':
      return 'family member';
    case 'Consent':
      return 'consent';
    case 'Communication':
      return 'notice from the hub';
    case 'Task':
      return 'follow-up';
    case 'ImmunizationRecommendation':
      return 'immunisation schedule';
    default:
      return `${resource.resourceType} record`;
  }
}

/**
 * "a mother's registration, E1": the kind of record, whose (by the subject's
 * age on the day, as the decision reads it) and the subject's postcode
 * district. `subject` is the record's patient (for a Patient, itself).
 */
export function describeRecord(resource: Resource, subject: Patient | undefined, now: Date): string {
  const kind = recordKind(resource);
  const role = subject === undefined ? undefined : roleOf(subject, now);
  const district = subject === undefined ? undefined : subjectDistrict(subject);
  const where = district === undefined ? '' : `, ${district}`;
  const article = /^[aeiou]/i.test(kind) ? 'an' : 'a';
  // The hub's notices and follow-ups are about someone rather than theirs.
  const about = ABOUT[resource.resourceType];
  if (about !== undefined) return `${article} ${kind}${role === undefined ? '' : ` ${about} a ${role}`}${where}`;
  return `${role === undefined ? article : `a ${role}'s`} ${kind}${where}`;
}
