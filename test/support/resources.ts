import { validNhsNumber } from '../../src/adapters/nhs-number.js';
import type { Patient } from 'fhir/r4.js';

/** Synthetic NHS numbers in the 999 test range with a valid modulus-11 check digit (the first valid one from the seed on). */
export function nhsNumber(seed: number): string {
  for (let s = seed; ; s += 1) {
    const body = `999${String(s % 1_000_000).padStart(6, '0')}`;
    for (let check = 0; check <= 9; check += 1) {
      const candidate = validNhsNumber(`${body}${check}`);
      if (candidate !== undefined) return candidate;
    }
  }
}

export function patient(seed: number, extra: Partial<Patient> = {}): Patient {
  return {
    resourceType: 'Patient',
    identifier: [{ system: 'https://fhir.nhs.uk/Id/nhs-number', value: nhsNumber(seed) }],
    name: [{ family: `Testfamily${seed}`, given: ['Synthetic'] }],
    birthDate: '2026-09-25',
    ...extra,
  };
}
