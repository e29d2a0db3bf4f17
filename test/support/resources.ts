import type { Patient } from 'fhir/r4.js';

/** Synthetic NHS numbers in the 999 test range with a valid modulus-11 check digit. */
export function nhsNumber(seed: number): string {
  for (let s = seed; ; s += 1) {
    const body = `999${String(s % 1_000_000).padStart(6, '0')}`;
    const sum = [...body].reduce((acc, d, i) => acc + Number(d) * (10 - i), 0);
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
