import type { Patient } from 'fhir/r4.js';
import { validNhsNumber } from '../../src/adapters/nhs-number.js';
import { SYSTEMS } from '../../src/fhir/systems.js';

// Synthetic children for preloading: no real person's data, deterministic
// from a seed so that every run loads the same shapes and sizes.

/** A small deterministic generator (xorshift32); uniform in [0, 1). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0 || 0x9e3779b9;
  return () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state / 0x1_0000_0000;
  };
}

/**
 * Distinct NHS numbers in the 999 range, which is never issued to a person.
 * Each stem takes the one check digit the hub's own validator accepts; a stem
 * with none (its modulus-11 check would be 10) is skipped.
 */
export function* nhsNumbers(): Generator<string> {
  for (let stem = 999_000_000; stem <= 999_999_999; stem += 1) {
    for (let check = 0; check <= 9; check += 1) {
      const valid = validNhsNumber(`${stem}${check}`);
      if (valid !== undefined) {
        yield valid;
        break;
      }
    }
  }
}

const DISTRICTS = ['E1', 'E1W', 'E2', 'E3', 'E14'];
// The letters a postcode's inward code may end with.
const LETTERS = ['A', 'B', 'D', 'E', 'F', 'G', 'H', 'J', 'L', 'N', 'P', 'Q', 'R', 'S', 'T', 'U', 'W', 'X', 'Y', 'Z'];
const DAY_MS = 86_400_000;

/**
 * A Patient of the shape partners send for a child aged 0-5: UK Core NHS
 * number with its verification status, name, sex, birth date, home address,
 * a parent as contact, and the registered GP practice.
 * See: https://simplifier.net/hl7fhirukcorer4/ukcore-patient
 */
export function syntheticChild(n: number, nhsNumber: string, random: () => number, now: Date): Patient {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const birth = new Date(now.getTime() - Math.floor(random() * 5 * 365) * DAY_MS);
  const family = `Testfamily${n}`;
  return {
    resourceType: 'Patient',
    identifier: [
      {
        extension: [
          {
            url: 'https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus',
            valueCodeableConcept: {
              coding: [
                {
                  system: 'https://fhir.hl7.org.uk/CodeSystem/UKCore-NHSNumberVerificationStatusEngland',
                  code: '01',
                  display: 'Number present and verified',
                },
              ],
            },
          },
        ],
        system: SYSTEMS.nhsNumber,
        value: nhsNumber,
      },
    ],
    active: true,
    name: [{ use: 'official', family, given: ['Synthetic', `Child${n % 1000}`] }],
    gender: random() < 0.5 ? 'female' : 'male',
    birthDate: birth.toISOString().slice(0, 10),
    address: [
      {
        use: 'home',
        line: [`${1 + Math.floor(random() * 200)} Test Street`],
        city: 'Eastside',
        postalCode: `${pick(DISTRICTS)} ${Math.floor(random() * 10)}${pick(LETTERS)}${pick(LETTERS)}`,
      },
    ],
    contact: [
      {
        relationship: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0131', code: 'N', display: 'Next-of-Kin' }] }],
        name: { family, given: ['Parent'] },
        // Ofcom reserves 07700 900000-900999 for fiction: never a real line.
        telecom: [{ system: 'phone', value: `07700 900${String(Math.floor(random() * 1000)).padStart(3, '0')}`, use: 'mobile' }],
      },
    ],
    generalPractitioner: [{ identifier: { system: SYSTEMS.odsCode, value: pick(['Y90001', 'Y90002']) } }],
  };
}
