import type { Coding, Patient, Resource } from 'fhir/r4.js';
import type { SubjectRole } from '../protocol/protocol-schema.js';
import { postcodeDistrict } from '../fhir/resource-types.js';
import { dayOf } from '../protocol/in-force.js';
import type { SubjectFacts } from './decision-types.js';

// Facts about a record's subject that the protocol's predicates read. Pure.

const HUB_EXTENSIONS = 'https://eastside.example/fhir/StructureDefinition';
const OUTCOME = `${HUB_EXTENSIONS}/pregnancy-outcome`;
const BABY = `${HUB_EXTENSIONS}/pregnancy-baby`;
const CONFIDENTIALITY = 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality';
/** Early years: a child until their sixth birthday. */
const CHILD_YEARS = 6;

/** A child is under six on the day; anyone older is, in this service, a mother. Unknown without a birth date. */
export function roleOf(patient: Patient, now: Date): SubjectRole | undefined {
  const born = patient.birthDate;
  if (born === undefined || !/^\d{4}(-\d{2}(-\d{2})?)?$/.test(born)) return undefined;
  const year = Number(born.slice(0, 4));
  // A partial date counts from its earliest day: the child is taken to be as old as they can be.
  const sixth = `${String(year + CHILD_YEARS).padStart(4, '0')}${(born.slice(4) + '-01-01').slice(0, 6)}`;
  return dayOf(now) < sixth ? 'child' : 'mother';
}

/**
 * A pregnancy loss touches the subject when they are the baby of a pregnancy
 * that ended in a loss, or the mother whose latest pregnancy did.
 */
export function pregnancyLoss(subject: SubjectFacts): boolean {
  if (subject.pregnancies.length === 0) return false;
  const me = `Patient/${subject.patient.id ?? ''}`;
  let latest: { start: string; loss: boolean } | undefined;
  for (const episode of subject.pregnancies) {
    let outcome: string | undefined;
    let mine = false;
    for (const x of episode.extension ?? []) {
      if (x.url === OUTCOME) outcome ??= x.valueCode;
      else if (x.url === BABY && x.valueReference?.reference === me) mine = true;
    }
    const loss = outcome !== undefined && outcome !== 'live-birth';
    if (mine && loss) return true;
    if (episode.patient.reference === me) {
      const start = episode.period?.start ?? '';
      if (latest === undefined || start >= latest.start) latest = { start, loss };
    }
  }
  return latest?.loss ?? false;
}

/** Restricted (R) or very restricted (V) confidentiality: the record is kept from routine sharing. */
export function isRestricted(resource: Resource): boolean {
  return (resource.meta?.security ?? []).some((c: Coding) => c.system === CONFIDENTIALITY && (c.code === 'R' || c.code === 'V'));
}

/** The outward code ("E1", "E1W", "E14") of the subject's current home postcode. */
export function subjectDistrict(patient: Patient): string | undefined {
  const addresses = (patient.address ?? []).filter((a) => a.postalCode !== undefined && a.use !== 'old' && a.period?.end === undefined);
  const home = addresses.find((a) => a.use === 'home') ?? addresses[0];
  return home?.postalCode === undefined ? undefined : postcodeDistrict(home.postalCode);
}
