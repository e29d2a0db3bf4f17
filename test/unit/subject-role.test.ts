import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { roleOnDay } from '../../src/decision/subject.js';
import { mother } from '../support/decision-world.js';

// roleOnDay compares the sixth birthday with the day without building either
// string; it must answer as the plain string comparison does, for every birth
// date the R4 pattern allows and for the malformed ones it does not.

/** The plain reading: build the sixth birthday (a partial date counts from its earliest day) and compare. */
function plainRole(born: string | undefined, day: string): 'child' | 'mother' | undefined {
  if (born === undefined || !/^\d{4}(-\d{2}(-\d{2})?)?$/.test(born)) return undefined;
  const year = Number(born.slice(0, 4));
  const sixth = `${String(year + 6).padStart(4, '0')}${(born.slice(4) + '-01-01').slice(0, 6)}`;
  return day < sixth ? 'child' : 'mother';
}

const digits = (n: number): fc.Arbitrary<string> => fc.array(fc.constantFrom('0', '1', '2', '5', '9'), { minLength: n, maxLength: n }).map((d) => d.join(''));
const yearArb = fc.oneof(fc.constantFrom('2020', '2021', '2026', '1996', '0000', '9993', '9994', '9999'), digits(4));
const bornArb = fc.oneof(
  fc.tuple(yearArb, digits(2), digits(2)).map(([y, m, d]) => `${y}-${m}-${d}`),
  fc.tuple(yearArb, digits(2)).map(([y, m]) => `${y}-${m}`),
  yearArb,
  fc.constantFrom('2020-1-01', '2020/01/01', '20200101', '2020-01-01T00:00:00Z', '', '２０２０', '2020-01-01\n'),
);
const dayArb = fc.oneof(
  fc.tuple(fc.constantFrom('2026', '2027', '2029', '0006', '9999', '+010'), digits(2), digits(2)).map(([y, m, d]) => `${y}-${m}-${d}`),
  fc.constantFrom('2026-11-22', '2026-11', '2026', '2026-11-22T', ''),
);

describe('roleOnDay', () => {
  it.each([
    { born: '2020-11-22', day: '2026-11-21', role: 'child' },
    { born: '2020-11-22', day: '2026-11-22', role: 'mother' },
    { born: '2020-11', day: '2026-10-31', role: 'child' },
    { born: '2020-11', day: '2026-11-01', role: 'mother' },
    { born: '2021', day: '2026-12-31', role: 'child' },
    { born: '1996-04-10', day: '2026-11-22', role: 'mother' },
    { born: '2020-1-01', day: '2026-11-22', role: undefined },
  ])('born $born, on $day: $role', ({ born, day, role }) => {
    expect(roleOnDay(mother({ birthDate: born }), day)).toBe(role);
  });

  it('answers as the plain string comparison over generated birth dates and days', () => {
    fc.assert(
      fc.property(fc.option(bornArb, { nil: undefined }), dayArb, (born, day) => {
        expect(roleOnDay(mother({ birthDate: born }), day)).toBe(plainRole(born, day));
      }),
      { numRuns: 5000 },
    );
  });
});
