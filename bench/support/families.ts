import type { Consent, EpisodeOfCare, Immunization, Observation, Patient } from 'fhir/r4.js';
import { randomUUID } from 'node:crypto';
import { SYSTEMS } from '../../src/fhir/systems.js';
import { syntheticChild } from './synthetic.js';

// Synthetic families in the shapes the hub stores after a booking message
// (mother Patient, pregnancy EpisodeOfCare, EDD Observation, booking Consent:
// shared fixtures maternity/booking-consent-given.json and -refused.json),
// a birth notification (baby Patient, the episode finished with the hub's
// outcome and baby extensions) and a GP's missed-dose message (Immunization).
// No real person's data: names are "Testfamily<n>", NHS numbers come from the
// 999 range, telephone numbers from Ofcom's drama range.

const HUB_EXTENSIONS = 'https://eastside.example/fhir/StructureDefinition';
const SNOMED = 'http://snomed.info/sct';
const CONFIDENTIALITY = 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality';
const DAY_MS = 86_400_000;
const YEAR_MS = 365.25 * DAY_MS;
// The letters a postcode's inward code may end with.
const LETTERS = ['A', 'B', 'D', 'E', 'F', 'G', 'H', 'J', 'L', 'N', 'P', 'Q', 'R', 'S', 'T', 'U', 'W', 'X', 'Y', 'Z'];

/** Did not attend child immunisation: a missed dose the missed-imms flow carries to children's centres. */
export const DNA_CODE = '201741000000102';
/** Immunisation consent not given: a refusal, for the health visitor only. */
export const REFUSAL_CODE = '310376006';

/**
 * The booking consent, as maternity records it: given (permit for children's
 * centres, early-years registration), given but naming one centre only,
 * refused (an active deny), rejected (status), or given and later withdrawn (inactive).
 */
export type ConsentKind = 'permit' | 'permit-iod-only' | 'refused' | 'rejected' | 'withdrawn';
export const CONSENT_KINDS: readonly ConsentKind[] = ['permit', 'permit-iod-only', 'refused', 'rejected', 'withdrawn'];

/** Where the family is: booked and pregnant, baby born, or the pregnancy ended in a loss. */
export type Stage = 'pregnant' | 'born' | 'loss';

/** A GP's record of the baby's third 6-in-1 dose, if any: missed (did not attend), refused, or given. */
export type DoseKind = 'dna' | 'refusal' | 'given';

export interface FamilyPlan {
  /** A number unique to the family: its synthetic surname. */
  n: number;
  /** The postcode district ("E1", "E1W", "E14") of the family's home. */
  district: string;
  consent: ConsentKind;
  stage: Stage;
  /** The mother's record carries a restricted confidentiality label. */
  restricted: boolean;
  /** Only for a born baby. */
  dose?: DoseKind | undefined;
}

export interface Family {
  plan: FamilyPlan;
  mother: Patient & { id: string };
  episode: EpisodeOfCare & { id: string };
  edd: Observation & { id: string };
  consent: Consent & { id: string };
  child?: (Patient & { id: string }) | undefined;
  immunization?: (Immunization & { id: string }) | undefined;
}

/** Draws from weighted choices with the given uniform random source. */
export function weighted<T>(random: () => number, choices: readonly (readonly [T, number])[]): T {
  const total = choices.reduce((sum, [, w]) => sum + w, 0);
  let at = random() * total;
  for (const [value, weight] of choices) {
    at -= weight;
    if (at < 0) return value;
  }
  const last = choices.at(-1);
  if (last === undefined) throw new Error('no choices');
  return last[0];
}

function day(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

function postcode(district: string, random: () => number): string {
  const letter = (): string => LETTERS[Math.floor(random() * LETTERS.length)] ?? 'A';
  return `${district} ${Math.floor(random() * 10)}${letter()}${letter()}`;
}

/**
 * One family, built from its plan. `nhs` hands out distinct 999-range NHS
 * numbers; `now` is the day the benchmark pretends it is.
 */
export function buildFamily(plan: FamilyPlan, nhs: () => string, random: () => number, now: Date): Family {
  const family = `Testfamily${plan.n}`;
  const address = { use: 'home' as const, line: [`${1 + Math.floor(random() * 200)} Test Street`], city: 'London', postalCode: postcode(plan.district, random) };
  // A born baby is 0-5 years old; a pregnant mother booked 1-30 weeks ago.
  const bornMs = plan.stage === 'born' ? now.getTime() - Math.floor(random() * 5 * 365) * DAY_MS - DAY_MS : undefined;
  const bookedMs = bornMs === undefined ? now.getTime() - (7 + Math.floor(random() * 200)) * DAY_MS : bornMs - (190 + Math.floor(random() * 30)) * DAY_MS;
  const eddMs = bookedMs + 200 * DAY_MS;
  const ageYears = 19 + random() * 24;

  const motherId = randomUUID();
  const mother: Patient & { id: string } = {
    resourceType: 'Patient',
    id: motherId,
    ...(plan.restricted ? { meta: { security: [{ system: CONFIDENTIALITY, code: 'R', display: 'restricted' }] } } : {}),
    identifier: [{ system: SYSTEMS.nhsNumber, value: nhs() }],
    name: [{ use: 'official', family, given: ['Synthetic', `Mother${plan.n % 1000}`] }],
    gender: 'female',
    birthDate: day(now.getTime() - ageYears * YEAR_MS),
    // Ofcom reserves 07700 900000-900999 for fiction: never a real line.
    telecom: [{ system: 'phone', value: `07700 900${String(Math.floor(random() * 1000)).padStart(3, '0')}`, use: 'mobile' }],
    address: [address],
    communication: [{ language: { coding: [{ system: 'urn:ietf:bcp:47', code: random() < 0.7 ? 'en' : 'bn' }] }, preferred: true }],
    generalPractitioner: [{ identifier: { system: SYSTEMS.odsCode, value: random() < 0.5 ? 'Y90001' : 'Y90002' } }],
  };

  let child: (Patient & { id: string }) | undefined;
  if (bornMs !== undefined) {
    const base = syntheticChild(plan.n, nhs(), random, now);
    child = {
      ...base,
      id: randomUUID(),
      name: [{ use: 'official', family, given: ['Synthetic', `Child${plan.n % 1000}`] }],
      birthDate: day(bornMs),
      address: [{ ...address }],
    };
  }

  const extension =
    plan.stage === 'pregnant'
      ? []
      : [
          { url: `${HUB_EXTENSIONS}/pregnancy-outcome`, valueCode: plan.stage === 'born' ? 'live-birth' : random() < 0.5 ? 'stillbirth' : 'miscarriage' },
          ...(child === undefined ? [] : [{ url: `${HUB_EXTENSIONS}/pregnancy-baby`, valueReference: { reference: `Patient/${child.id}` } }]),
        ];
  const episode: EpisodeOfCare & { id: string } = {
    resourceType: 'EpisodeOfCare',
    id: randomUUID(),
    ...(extension.length === 0 ? {} : { extension }),
    identifier: [{ system: 'https://eastside.example/fhir/Id/northgate-pregnancy', value: `NG-PREG-BENCH-${String(plan.n).padStart(7, '0')}` }],
    status: plan.stage === 'pregnant' ? 'active' : 'finished',
    type: [{ coding: [{ system: SNOMED, code: '77386006', display: 'Pregnancy' }] }],
    patient: { reference: `Patient/${motherId}` },
    managingOrganization: { identifier: { system: SYSTEMS.odsCode, value: 'R9M' } },
    period: { start: day(bookedMs), ...(bornMs === undefined ? {} : { end: day(bornMs) }) },
  };

  const edd: Observation & { id: string } = {
    resourceType: 'Observation',
    id: randomUUID(),
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '11778-8', display: 'Delivery date Estimated' }] },
    subject: { reference: `Patient/${motherId}` },
    effectiveDateTime: new Date(bookedMs).toISOString(),
    valueDateTime: day(eddMs),
  };

  const consent = bookingConsent(motherId, plan.consent, day(bookedMs), day(eddMs + 5 * YEAR_MS));

  let immunization: (Immunization & { id: string }) | undefined;
  if (child !== undefined && plan.dose !== undefined && bornMs !== undefined) {
    const dueMs = Math.min(now.getTime() - 7 * DAY_MS, bornMs + 16 * 7 * DAY_MS);
    const reason =
      plan.dose === 'dna'
        ? { coding: [{ system: SNOMED, code: DNA_CODE, display: 'Did not attend child immunisation' }] }
        : plan.dose === 'refusal'
          ? { coding: [{ system: SNOMED, code: REFUSAL_CODE, display: 'Immunisation consent not given' }] }
          : undefined;
    immunization = {
      resourceType: 'Immunization',
      id: randomUUID(),
      extension: [
        {
          url: 'https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-VaccinationProcedure',
          valueCodeableConcept: { coding: [{ system: SNOMED, code: '1082441000000108', display: 'Third 6-in-1 dose' }] },
        },
      ],
      identifier: [{ system: 'https://eastside.example/fhir/Id/hl7v2-order/Y90001', value: `ORD-BENCH-${String(plan.n).padStart(7, '0')}` }],
      status: plan.dose === 'given' ? 'completed' : 'not-done',
      ...(reason === undefined ? {} : { statusReason: reason }),
      vaccineCode: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-NullFlavor', code: 'UNK', display: 'unknown' }] },
      patient: { reference: `Patient/${child.id}` },
      occurrenceDateTime: day(dueMs),
      primarySource: true,
      protocolApplied: [{ series: '6-in-1', doseNumberPositiveInt: 3 }],
    };
  }
  return { plan, mother, episode, edd, consent, child, immunization };
}

/** The booking Consent of booking-consent-given.json (or -refused.json), about the mother. */
export function bookingConsent(motherId: string, kind: ConsentKind, booked: string, ends: string): Consent & { id: string } {
  const irpc = { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'IRCP' }] };
  const recipient =
    kind === 'permit-iod-only'
      ? { type: 'Organization', identifier: { system: SYSTEMS.localOrg, value: 'CC-IOD' }, display: "Isle of Dogs Children's Centre" }
      : { type: 'Group', identifier: { system: SYSTEMS.organisationType, value: 'childrens-centre' }, display: "Children's centres" };
  return {
    resourceType: 'Consent',
    id: randomUUID(),
    status: kind === 'rejected' ? 'rejected' : kind === 'withdrawn' ? 'inactive' : 'active',
    scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'INFA' }] }],
    patient: { reference: `Patient/${motherId}` },
    dateTime: `${booked}T10:20:00+00:00`,
    performer: [{ reference: `Patient/${motherId}` }],
    organization: [{ identifier: { system: SYSTEMS.odsCode, value: 'R9M' } }],
    policy: [{ uri: 'urn:isp:eastside-early-years-isp' }],
    provision: {
      type: kind === 'refused' ? 'deny' : 'permit',
      period: { start: booked, end: ends },
      actor: [{ role: irpc, reference: recipient }],
      purpose: [{ system: SYSTEMS.purposeOfUse, code: 'early-years-registration' }],
    },
  };
}
