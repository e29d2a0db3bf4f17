import type { Patient, Resource } from 'fhir/r4.js';
import { describe, expect, it } from 'vitest';
import { describeRecord } from '../../src/decision/record-description.js';

// What the audit log says a record is, for the IG lead: the kind of record,
// whose it is (a child is under six on the day), and the subject's postcode district.

const NOW = new Date('2026-12-06T10:00:00Z');
const SNOMED = 'http://snomed.info/sct';

const mother: Patient = { resourceType: 'Patient', id: 'm', birthDate: '1994-05-01', address: [{ use: 'home', postalCode: 'E1 0AA' }] };
const child: Patient = { resourceType: 'Patient', id: 'c', birthDate: '2025-02-10', address: [{ use: 'old', postalCode: 'E14 3BB' }, { use: 'home', postalCode: 'E1W 2CC' }] };
const noAddress: Patient = { resourceType: 'Patient', id: 'n', birthDate: '2024-01-01' };
const noBirthDate: Patient = { resourceType: 'Patient', id: 'x', address: [{ postalCode: 'E14 9ZZ' }] };

const subject = { reference: 'Patient/c' };
const cases: [string, Resource, Patient | undefined, string][] = [
  ['a mother as her own subject', mother, mother, "a mother's registration, E1"],
  ['a child, from the current home address', child, child, "a child's registration, E1W"],
  ['a child with no address', noAddress, noAddress, "a child's registration"],
  ['someone whose age is unknown', noBirthDate, noBirthDate, 'a registration, E14'],
  ['a missed dose', { resourceType: 'Immunization', status: 'not-done', vaccineCode: { text: '6-in-1' }, patient: subject } as Resource, child, "a child's missed immunisation, E1W"],
  ['a dose given', { resourceType: 'Immunization', status: 'completed', vaccineCode: { text: '6-in-1' }, patient: subject } as Resource, child, "a child's immunisation, E1W"],
  ['a pregnancy', { resourceType: 'EpisodeOfCare', status: 'active', type: [{ coding: [{ system: SNOMED, code: '77386006' }] }], patient: { reference: 'Patient/m' } } as Resource, mother, "a mother's pregnancy, E1"],
  ['another episode', { resourceType: 'EpisodeOfCare', status: 'active', patient: { reference: 'Patient/m' } } as Resource, mother, "a mother's episode of care, E1"],
  ['the due date', { resourceType: 'Observation', status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '11778-8' }] } } as Resource, mother, "a mother's due date, E1"],
  ['a birth weight', { resourceType: 'Observation', status: 'final', code: { coding: [{ system: SNOMED, code: '364589006' }] } } as Resource, child, "a child's birth weight, E1W"],
  ['another observation, with no subject the hub holds', { resourceType: 'Observation', status: 'final', code: { text: 'x' } } as Resource, undefined, 'an observation'],
  ['a CAF', { resourceType: 'QuestionnaireResponse', status: 'completed' } as Resource, child, "a child's early help assessment (CAF), E1W"],
  ['a notice from the hub', { resourceType: 'Communication', status: 'completed', subject } as Resource, child, 'a notice from the hub about a child, E1W'],
  ['a follow-up', { resourceType: 'Task', status: 'requested', intent: 'order', for: subject } as Resource, child, 'a follow-up for a child, E1W'],
  ['a notice about no one the hub holds', { resourceType: 'Communication', status: 'completed' } as Resource, undefined, 'a notice from the hub'],
  ['a type with no words of its own', { resourceType: 'Flag' }, undefined, 'a Flag record'],
];

describe('describeRecord', () => {
  it.each(cases)('%s', (_name, resource, patient, expected) => {
    expect(describeRecord(resource, patient, NOW)).toBe(expected);
  });

  it('reads the age on the day as the decision does: a child under six, the adult (mother) role from the sixth birthday', () => {
    const six: Patient = { resourceType: 'Patient', birthDate: '2020-12-06', address: [{ postalCode: 'E1 1AA' }] };
    expect(describeRecord(six, six, new Date('2026-12-05T12:00:00Z'))).toBe("a child's registration, E1");
    expect(describeRecord(six, six, NOW)).toBe("a mother's registration, E1");
  });
});
