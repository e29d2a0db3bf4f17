import type { Patient } from 'fhir/r4.js';

/** Synthetic NHS numbers in the 999 test range with a valid modulus-11 check digit. */
export function nhsNumber(seed: number): string {
  for (let s = seed; ; s += 1) {
    const body = `999${String(s % 1_000_000).padStart(6, '0')}`;
    let sum = 0;
    for (let i = 0; i < 9; i += 1) sum += Number(body.charAt(i)) * (10 - i);
    const check = 11 - (sum % 11);
    if (check === 10) continue;
    return `${body}${check === 11 ? 0 : check}`;
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
