import type { Address, Coding, Extension, Patient, Resource } from 'fhir/r4.js';
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
const NO_EXTENSIONS: readonly Extension[] = [];
const NO_ADDRESSES: readonly Address[] = [];

/** A child is under six on the day; anyone older is, in this service, a mother. Unknown without a birth date. */
export function roleOf(patient: Patient, now: Date): SubjectRole | undefined {
  return roleOnDay(patient, dayOf(now));
}

/** roleOf on a calendar day (YYYY-MM-DD), for a decision that has already read the clock's day. */
export function roleOnDay(patient: Patient, day: string): SubjectRole | undefined {
  const born = patient.birthDate;
  if (born === undefined || !isPartialDate(born)) return undefined;
  const sixthYear = Number(born.slice(0, 4)) + CHILD_YEARS;
  // A partial date counts from its earliest day: the child is taken to be as old as they can be.
  // The sixth birthday is compared with the day character by character, as strings, without building it.
  if (sixthYear > 9999) return day < `${sixthYear}${(born.slice(4) + '-01-01').slice(0, 6)}` ? 'child' : 'mother';
  for (let i = 0; i < 10; i += 1) {
    const d = day.charCodeAt(i);
    if (Number.isNaN(d)) return 'child';
    const b = i < 4 ? 48 + (Math.floor(sixthYear / 10 ** (3 - i)) % 10) : i < born.length ? born.charCodeAt(i) : EARLIEST.charCodeAt(i - 4);
    if (d !== b) return d < b ? 'child' : 'mother';
  }
  return 'mother';
}

/** The earliest month and day of a partial date, after its year. */
const EARLIEST = '-01-01';

/** YYYY, YYYY-MM or YYYY-MM-DD, digits and hyphens in their places (the R4 date pattern, less its checks of ranges). */
function isPartialDate(value: string): boolean {
  const n = value.length;
  if (n !== 4 && n !== 7 && n !== 10) return false;
  for (let i = 0; i < n; i += 1) {
    const c = value.charCodeAt(i);
    if (i === 4 || i === 7 ? c !== 45 : c < 48 || c > 57) return false;
  }
  return true;
}

/**
 * A pregnancy loss touches the subject when they are the baby of a pregnancy
 * that ended in a loss, or the mother whose latest pregnancy did.
 */
export function pregnancyLoss(subject: SubjectFacts): boolean {
  if (subject.pregnancies.length === 0) return false;
  const id = subject.patient.id ?? '';
  let latest: string | undefined;
  let latestLoss = false;
  for (const episode of subject.pregnancies) {
    let outcome: string | undefined;
    let mine = false;
    for (const x of episode.extension ?? NO_EXTENSIONS) {
      if (x.url === OUTCOME) outcome ??= x.valueCode;
      else if (x.url === BABY && isPatientReference(x.valueReference?.reference, id)) mine = true;
    }
    const loss = outcome !== undefined && outcome !== 'live-birth';
    if (mine && loss) return true;
    if (isPatientReference(episode.patient.reference, id)) {
      const start = episode.period?.start ?? '';
      if (latest === undefined || start >= latest) {
        latest = start;
        latestLoss = loss;
      }
    }
  }
  return latestLoss;
}

/** reference === `Patient/${id}`, without building the string (a decision asks this of every episode). */
function isPatientReference(reference: string | undefined, id: string): boolean {
  return reference !== undefined && reference.length === id.length + 8 && reference.startsWith('Patient/') && reference.endsWith(id);
}

/** Restricted (R) or very restricted (V) confidentiality: the record is kept from routine sharing. */
export function isRestricted(resource: Resource): boolean {
  const security = resource.meta?.security;
  if (security === undefined) return false;
  for (const c of security as readonly Coding[]) {
    if (c.system === CONFIDENTIALITY && (c.code === 'R' || c.code === 'V')) return true;
  }
  return false;
}

/** The outward code ("E1", "E1W", "E14") of the subject's current home postcode. */
export function subjectDistrict(patient: Patient): string | undefined {
  // The first current home address with a postcode, else the first current address with one.
  let first: string | undefined;
  for (const a of patient.address ?? NO_ADDRESSES) {
    if (a.postalCode === undefined || a.use === 'old' || a.period?.end !== undefined) continue;
    if (a.use === 'home') return postcodeDistrict(a.postalCode);
    first ??= a.postalCode;
  }
  return first === undefined ? undefined : postcodeDistrict(first);
}

/**
 * What one decision reads of its subject, each fact worked out at most once
 * however many flows ask (a record may be judged under several).
 */
export class SubjectView {
  private roleKnown = false;
  private role: SubjectRole | undefined;
  private loss: boolean | undefined;
  private restricted: boolean | undefined;
  private districtKnown = false;
  private district: string | undefined;

  constructor(
    readonly subject: SubjectFacts | undefined,
    readonly day: string,
  ) {}

  /** The subject's role on the day; undefined without a subject or a birth date. */
  roleOf(): SubjectRole | undefined {
    if (!this.roleKnown) {
      this.role = this.subject === undefined ? undefined : roleOnDay(this.subject.patient, this.day);
      this.roleKnown = true;
    }
    return this.role;
  }

  pregnancyLoss(subject: SubjectFacts): boolean {
    return (this.loss ??= pregnancyLoss(subject));
  }

  /** The subject's Patient or the record itself is restricted. */
  restrictedWith(subject: SubjectFacts, record: Resource): boolean {
    return (this.restricted ??= isRestricted(subject.patient) || isRestricted(record));
  }

  districtOf(subject: SubjectFacts): string | undefined {
    if (!this.districtKnown) {
      this.district = subjectDistrict(subject.patient);
      this.districtKnown = true;
    }
    return this.district;
  }
}
