import type { Address, ContactPoint, Patient, Practitioner, RelatedPerson } from 'fhir/r4.js';
import type { CafAddress, CafParentCarer, CafProfessional, Relationship } from './caf-schema.js';
import { HUB_EXTENSIONS, HUB_IDS, RESTRICTED_LABEL } from './codes.js';
import { entryReference, entryUrl, type UnitEntry } from './ingest-unit.js';
import { NHS_NUMBER_SYSTEM } from './nhs-number.js';

// The people in a CAF: the child, the parents and carers, the professionals.
// See: https://hl7.org/fhir/R4/patient.html, https://hl7.org/fhir/R4/relatedperson.html

export const ROLE_CODE_SYSTEM = 'http://terminology.hl7.org/CodeSystem/v3-RoleCode';
export const PARENTAL_RESPONSIBILITY_EXTENSION = `${HUB_EXTENSIONS}/parental-responsibility`;
export const RELATED_PERSON_KEY_SYSTEM = `${HUB_IDS}/related-person-key`;
export const PRACTITIONER_KEY_SYSTEM = `${HUB_IDS}/practitioner-key`;

/**
 * The export's relationship words as v3 RoleCode (codes checked against the
 * R4 v3-RoleCode CodeSystem; https://terminology.hl7.org/CodeSystem-v3-RoleCode.html).
 * The code always states the person's relationship to the CHILD assessed,
 * even when, for an unborn child, RelatedPerson.patient has to be the mother
 * (the unborn child has no record of its own). RoleCode has no "carer": a
 * carer, or "other" person in the CAF's parents-and-carers list, is the
 * RESPRSN "responsible party"; whether they hold parental responsibility is
 * the separate parental-responsibility extension. The export's word is kept
 * as the CodeableConcept's text.
 */
export const RELATIONSHIP_CODES: Readonly<Record<Relationship, { code: string; display: string }>> = {
  mother: { code: 'MTH', display: 'mother' },
  'mother-to-be': { code: 'MTH', display: 'mother' },
  father: { code: 'FTH', display: 'father' },
  'father-to-be': { code: 'FTH', display: 'father' },
  parent: { code: 'PRN', display: 'parent' },
  'step-parent': { code: 'STPPRN', display: 'step parent' },
  'adoptive-parent': { code: 'ADOPTP', display: 'adoptive parent' },
  'foster-carer': { code: 'PRNFOST', display: 'foster parent' },
  grandparent: { code: 'GRPRN', display: 'grandparent' },
  sibling: { code: 'SIB', display: 'sibling' },
  'other-relative': { code: 'EXT', display: 'extended family member' },
  guardian: { code: 'GUARD', display: 'guardian' },
  'special-guardian': { code: 'GUARD', display: 'guardian' },
  carer: { code: 'RESPRSN', display: 'responsible party' },
  other: { code: 'RESPRSN', display: 'responsible party' },
};

export function address(a: CafAddress | undefined): Address[] | undefined {
  if (a === undefined) return undefined;
  const line = (a.lines ?? []).map((l) => l.trim()).filter((l) => l !== '');
  const city = nonEmpty(a.town);
  const postalCode = nonEmpty(a.postcode);
  if (line.length === 0 && city === undefined && postalCode === undefined) return undefined;
  return [{ use: 'home', ...(line.length > 0 ? { line } : {}), city, postalCode }];
}

function telecom(phone: string | undefined, email: string | undefined): ContactPoint[] | undefined {
  const points: ContactPoint[] = [];
  const p = nonEmpty(phone);
  const e = nonEmpty(email);
  if (p !== undefined) points.push({ system: 'phone', value: p });
  if (e !== undefined) points.push({ system: 'email', value: e });
  return points.length > 0 ? points : undefined;
}

/** A CAF's restriction flag as the v3-Confidentiality label R; false or absent adds none (and lifts none: labels are sticky). */
function restriction(restricted: boolean | undefined): Patient['meta'] {
  return restricted === true ? { security: [{ ...RESTRICTED_LABEL }] } : undefined;
}

export function nonEmpty(text: string | undefined): string | undefined {
  const t = text?.trim();
  return t === undefined || t === '' ? undefined : t;
}

/** A born child: one Patient per NHS number, so matched on it. */
export function childPatientEntry(
  messageKey: string,
  child: { nhsNumber: string; givenName: string; familyName: string; dateOfBirth: string; gender?: Patient['gender']; address?: CafAddress; firstLanguage?: string; restricted?: boolean },
): UnitEntry {
  const resource: Patient = {
    resourceType: 'Patient',
    meta: restriction(child.restricted),
    identifier: [{ system: NHS_NUMBER_SYSTEM, value: child.nhsNumber }],
    name: [{ use: 'official', family: child.familyName, given: [child.givenName] }],
    gender: child.gender,
    birthDate: child.dateOfBirth,
    address: address(child.address),
    // See: https://hl7.org/fhir/R4/patient-definitions.html#Patient.communication
    communication: child.firstLanguage === undefined ? undefined : [{ language: { coding: [{ system: 'urn:ietf:bcp:47', code: child.firstLanguage }] }, preferred: true }],
  };
  return { fullUrl: entryUrl(messageKey, 'Patient/child'), resource, match: { system: NHS_NUMBER_SYSTEM, value: child.nhsNumber }, action: 'upsert' };
}

/** The key a parent's RelatedPerson is matched on: who the record is about, how they relate, who they are. */
export function relatedPersonKey(recordKey: string, parent: CafParentCarer): string {
  const who = parent.nhsNumber ?? `${parent.familyName}^${parent.givenName}`;
  return `${recordKey}:${RELATIONSHIP_CODES[parent.relationship].code}:${who}`;
}

export const parentPatientUrl = (messageKey: string, index: number): string => entryUrl(messageKey, `Patient/parent-${index}`);

/**
 * A parent or carer with an NHS number is also a Patient (the hub's one record
 * per person, where e.g. an unborn child's assessment is filed), and always a
 * RelatedPerson of the record holder (the child, or for an unborn child the mother).
 */
export function parentEntries(messageKey: string, parent: CafParentCarer, index: number, holder: { fullUrl: string; recordKey: string }): UnitEntry[] {
  const entries: UnitEntry[] = [];
  const name = [{ use: 'official' as const, family: parent.familyName, given: [parent.givenName] }];
  if (parent.nhsNumber !== undefined) {
    const patient: Patient = {
      resourceType: 'Patient',
      meta: restriction(parent.restricted),
      identifier: [{ system: NHS_NUMBER_SYSTEM, value: parent.nhsNumber }],
      name,
      telecom: telecom(parent.telephone, parent.email),
      address: address(parent.address),
    };
    entries.push({ fullUrl: parentPatientUrl(messageKey, index), resource: patient, match: { system: NHS_NUMBER_SYSTEM, value: parent.nhsNumber }, action: 'upsert' });
  }
  const key = relatedPersonKey(holder.recordKey, parent);
  const role = RELATIONSHIP_CODES[parent.relationship];
  const relatedPerson: RelatedPerson = {
    resourceType: 'RelatedPerson',
    // UK law, not FHIR, defines parental responsibility (Children Act 1989 s.3); R4 has no element for it.
    extension: parent.parentalResponsibility === undefined ? undefined : [{ url: PARENTAL_RESPONSIBILITY_EXTENSION, valueBoolean: parent.parentalResponsibility }],
    identifier: [
      { system: RELATED_PERSON_KEY_SYSTEM, value: key },
      ...(parent.nhsNumber === undefined ? [] : [{ system: NHS_NUMBER_SYSTEM, value: parent.nhsNumber }]),
    ],
    active: true,
    patient: entryReference(holder.fullUrl),
    relationship: [{ coding: [{ system: ROLE_CODE_SYSTEM, code: role.code, display: role.display }], text: parent.relationship }],
    name,
    telecom: telecom(parent.telephone, parent.email),
    address: address(parent.address),
  };
  entries.push({ fullUrl: entryUrl(messageKey, `RelatedPerson/parent-${index}`), resource: relatedPerson, match: { system: RELATED_PERSON_KEY_SYSTEM, value: key }, action: 'upsert' });
  return entries;
}

export function practitionerKey(senderCode: string, professional: CafProfessional): string {
  return `${nonEmpty(professional.organisation) ?? senderCode}:${professional.name}`;
}

/**
 * A professional named in the CAF. The export has a name as one string and a
 * job title; R4 Practitioner has no job-title element, so the title goes in
 * qualification.code.text (PractitionerRole would be the fuller model, which
 * the hub does not keep). See: https://hl7.org/fhir/R4/practitioner.html
 */
export function practitionerEntry(messageKey: string, senderCode: string, professional: CafProfessional): UnitEntry {
  const key = practitionerKey(senderCode, professional);
  const role = nonEmpty(professional.role);
  const resource: Practitioner = {
    resourceType: 'Practitioner',
    identifier: [{ system: PRACTITIONER_KEY_SYSTEM, value: key }],
    active: true,
    name: [{ text: professional.name }],
    telecom: telecom(professional.telephone, professional.email),
    qualification: role === undefined ? undefined : [{ code: { text: role } }],
  };
  return { fullUrl: entryUrl(messageKey, `Practitioner/${key}`), resource, match: { system: PRACTITIONER_KEY_SYSTEM, value: key }, action: 'upsert' };
}

/** Drops undefined values at every depth, so stored JSON and golden files carry no holes. */
export function prune<T>(value: T): T {
  if (Array.isArray(value)) return value.map((v: unknown) => prune(v)) as T;
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined).map(([k, v]) => [k, prune(v)])) as T;
}
