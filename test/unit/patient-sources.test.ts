import fc from 'fast-check';
import type { Coding, Patient } from 'fhir/r4.js';
import { describe, expect, it, test } from 'vitest';
import {
  composePatient,
  demographicsOf,
  liftLabel,
  restate,
  visibilityDisagreements,
  type Demographics,
  type PatientStatement,
} from '../../src/fhir/patient-sources.js';
import { DEMOGRAPHIC_ELEMENTS, ORGANISATION_TYPES, type DemographicElement } from '../../src/protocol/protocol-schema.js';
import { demoDocument } from '../support/decision-world.js';
import '../support/fast-check-seed.js';

// The composition of a shared Patient from each source's word, without a
// database: the protocol's precedence element by element, labels as a union,
// and the property that no sequence of messages from others removes a label
// an organisation set or changes an element it ranks above them.

const DEMOGRAPHICS: Demographics = demographicsOf([{ demographics: demoDocument().demographics }]);
const NHS = { system: 'https://fhir.nhs.uk/Id/nhs-number', value: '9995100010' };
const R = { system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'R' };
const V = { system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'V' };

const said = (organisation: string, organisationType: string, order: number, content: Omit<Patient, 'resourceType'>): PatientStatement => ({
  organisation,
  organisationType,
  content: { resourceType: 'Patient', identifier: [NHS], ...content },
  firstSaid: order,
  lastSaid: order,
});
const name = (family: string) => [{ family }];
const home = (postalCode: string) => [{ use: 'home' as const, postalCode }];
const phone = (value: string) => [{ system: 'phone' as const, value }];

describe('composePatient: the protocol precedence', () => {
  test.each([
    {
      name: "maternity's name and telephone stand against a GP's later word (finding 3)",
      statements: [said('R9M', 'maternity', 1, { name: name('Maternity'), telecom: phone('1') }), said('Y90001', 'gp', 2, { name: name('Gp'), telecom: phone('2') })],
      expected: { name: name('Maternity'), telecom: phone('1') },
    },
    {
      name: 'the GP holds the registered address, ranked above maternity',
      statements: [said('R9M', 'maternity', 1, { address: home('E1 0AA') }), said('Y90001', 'gp', 2, { address: home('E14 1AA') })],
      expected: { address: home('E14 1AA') },
    },
    {
      name: "early help cannot move maternity's address",
      statements: [said('R9M', 'maternity', 1, { address: home('E1 0AA') }), said('E09000999-EH', 'early-help', 2, { address: home('E14 1AA') })],
      expected: { address: home('E1 0AA') },
    },
    {
      name: 'among organisations of one type, the latest wins',
      statements: [said('Y90001', 'gp', 1, { address: home('E1 0AA') }), said('Y90002', 'gp', 2, { address: home('E14 1AA') })],
      expected: { address: home('E14 1AA') },
    },
    {
      name: 'a type not ranked for an element never changes what a ranked type said',
      statements: [said('R9M', 'maternity', 1, { name: name('Maternity') }), said('CC-OCEAN', 'childrens-centre', 2, { name: name('Centre') })],
      expected: { name: name('Maternity') },
    },
    {
      name: 'when no ranked type has spoken, the first writer keeps the element (early help is not ranked for birthDate)',
      statements: [said('E09000999-EH', 'early-help', 1, { birthDate: '2026-01-01' }), said('R9H', 'health-visiting', 2, { birthDate: '2026-02-02' })],
      expected: { birthDate: '2026-01-01' },
    },
    {
      name: "an unranked element is the first writer's",
      statements: [said('R9M', 'maternity', 1, { multipleBirthInteger: 1 }), said('Y90001', 'gp', 2, { multipleBirthInteger: 2 })],
      expected: { multipleBirthInteger: 1 },
    },
    {
      name: 'identifiers and labels are the union of every source',
      statements: [said('R9M', 'maternity', 1, { meta: { security: [R] } }), said('Y90001', 'gp', 2, { identifier: [NHS, { system: 'urn:gp', value: '7' }], meta: { security: [V] } })],
      expected: { identifier: [NHS, { system: 'urn:gp', value: '7' }], meta: { security: [R, V] } },
    },
    {
      name: 'a death recorded by the GP stands when maternity has said nothing of it',
      statements: [said('R9M', 'maternity', 1, { name: name('M') }), said('Y90001', 'gp', 2, { deceasedDateTime: '2026-10-01' })],
      expected: { deceasedDateTime: '2026-10-01', name: name('M') },
    },
  ])('$name', ({ statements, expected }) => {
    expect(composePatient(statements, DEMOGRAPHICS)).toMatchObject(expected);
  });

  it('takes nothing from an element no statement carries', () => {
    expect(composePatient([said('R9M', 'maternity', 1, {})], DEMOGRAPHICS)).toEqual({ resourceType: 'Patient', identifier: [NHS] });
  });
});

describe('restate: one source, message after message', () => {
  it('keeps what a message does not carry, and its labels, on merge', () => {
    const first = restate(undefined, { resourceType: 'Patient', identifier: [NHS], name: name('A'), telecom: phone('1'), meta: { security: [R], versionId: '3' } }, 'merge');
    const next = restate(first, { resourceType: 'Patient', identifier: [NHS], name: name('B') }, 'merge');
    expect(next).toEqual({ resourceType: 'Patient', identifier: [NHS], name: name('B'), telecom: phone('1'), meta: { security: [R] } });
  });

  it('a deceasedDateTime replaces an earlier deceasedBoolean', () => {
    const first = restate(undefined, { resourceType: 'Patient', deceasedBoolean: false }, 'merge');
    expect(restate(first, { resourceType: 'Patient', deceasedDateTime: '2026-10-01' }, 'merge')).toEqual({ resourceType: 'Patient', deceasedDateTime: '2026-10-01' });
  });

  it('a PUT is the whole statement: the source lifts its own label by leaving it out', () => {
    const first = restate(undefined, { resourceType: 'Patient', name: name('A'), meta: { security: [R] } }, 'merge');
    expect(restate(first, { resourceType: 'Patient', name: name('A') }, 'replace')).toEqual({ resourceType: 'Patient', name: name('A') });
  });
});

describe('liftLabel and visibilityDisagreements', () => {
  it('lifts a label from every statement that carries it and names who set it', () => {
    const statements = [said('R9M', 'maternity', 1, { meta: { security: [R] } }), said('Y90001', 'gp', 2, { meta: { security: [R, V] } }), said('R9H', 'health-visiting', 3, {})];
    const lifted = liftLabel(statements, R);
    expect(lifted.setBy).toEqual(['R9M', 'Y90001']);
    expect(composePatient(lifted.statements, DEMOGRAPHICS).meta).toEqual({ security: [V] });
  });

  it('raises a district disagreement once, when the sender states a district another source states otherwise', () => {
    const before = [said('R9M', 'maternity', 1, { address: home('E1 0AA') })];
    const after = [...before, said('E09000999-EH', 'early-help', 2, { address: home('E14 1AA') })];
    expect(visibilityDisagreements(before, after, 'E09000999-EH', DEMOGRAPHICS).map((d) => d.aspect)).toEqual(['postcode-district']);
    const again = [...before, { ...after[1]!, lastSaid: 3 }];
    expect(visibilityDisagreements(after, again, 'E09000999-EH', DEMOGRAPHICS)).toEqual([]);
    const agreeing = [...before, said('Y90001', 'gp', 2, { address: home('E1 7ZZ') })];
    expect(visibilityDisagreements(before, agreeing, 'Y90001', DEMOGRAPHICS)).toEqual([]);
  });

  it('raises a restriction change on a record others wrote, and a death another source denies', () => {
    const before = [said('R9M', 'maternity', 1, { deceasedBoolean: false })];
    const after = [...before, said('Y90001', 'gp', 2, { deceasedBoolean: true, meta: { security: [R] } })];
    expect(visibilityDisagreements(before, after, 'Y90001', DEMOGRAPHICS).map((d) => d.aspect)).toEqual(['deceased', 'restriction']);
  });
});

// --- the property (issue 10 acceptance: labels and elements) ---

const ORGS = [
  { code: 'R9M', type: 'maternity' },
  { code: 'Y90001', type: 'gp' },
  { code: 'Y90002', type: 'gp' },
  { code: 'R9H', type: 'health-visiting' },
  { code: 'E09000999-EH', type: 'early-help' },
  { code: 'CC-OCEAN', type: 'childrens-centre' },
  { code: 'X-MAT', type: 'maternity' },
] as const;
const LABELS: Coding[] = [R, V, { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'PSY' }];

const patientArb: fc.Arbitrary<Patient> = fc
  .record(
    {
      name: fc.constantFrom(name('A'), name('B'), name('C')),
      birthDate: fc.constantFrom('2026-01-01', '2026-02-02'),
      gender: fc.constantFrom('female' as const, 'male' as const),
      address: fc.constantFrom(home('E1 0AA'), home('E14 1AA'), home('E1W 2BB')),
      telecom: fc.constantFrom(phone('1'), phone('2')),
      deceasedBoolean: fc.boolean(),
      multipleBirthInteger: fc.integer({ min: 1, max: 3 }),
      security: fc.subarray(LABELS, { minLength: 1 }),
    },
    { requiredKeys: [] },
  )
  .map(({ security, ...rest }) => ({ resourceType: 'Patient' as const, identifier: [NHS], ...rest, ...(security === undefined ? {} : { meta: { security } }) }));

const messageArb = fc.record({ org: fc.constantFrom(...ORGS.map((o) => o.code)), content: patientArb, mode: fc.constantFrom('merge' as const, 'replace' as const) });

/** The hub's bookkeeping of statements, as patient-statements.ts keeps it. */
function speak(statements: PatientStatement[], org: string, content: Patient, mode: 'merge' | 'replace'): PatientStatement[] {
  const order = Math.max(0, ...statements.map((s) => s.lastSaid)) + 1;
  const previous = statements.find((s) => s.organisation === org);
  const type = ORGS.find((o) => o.code === org)?.type ?? 'unknown';
  const mine = { organisation: org, organisationType: type, content: restate(previous?.content, content, mode), firstSaid: previous?.firstSaid ?? order, lastSaid: order };
  return [...statements.filter((s) => s !== previous), mine];
}

const KEYS: Record<DemographicElement, (keyof Patient)[]> = {
  name: ['name'],
  birthDate: ['birthDate'],
  gender: ['gender'],
  address: ['address'],
  telecom: ['telecom'],
  deceased: ['deceasedBoolean', 'deceasedDateTime'],
};

/** Does `a` rank strictly above `b` for the element (a type not listed ranks below every listed one)? */
function ranksAbove(element: DemographicElement, a: string, b: string): boolean {
  const ranking: readonly string[] = DEMOGRAPHICS[element] ?? [];
  const ra = ranking.indexOf(a);
  const rb = ranking.indexOf(b);
  return ra >= 0 && (rb < 0 || ra < rb);
}

describe('property: what organisation A said survives every message from the others', () => {
  it('never removes a label A set and never changes an element A ranks above the sender', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...ORGS.map((o) => o.code)),
        fc.array(messageArb, { maxLength: 4 }),
        patientArb,
        fc.array(messageArb, { minLength: 1, maxLength: 8 }),
        (a, earlier, aSays, later) => {
          const aType = ORGS.find((o) => o.code === a)?.type ?? '';
          let statements: PatientStatement[] = [];
          for (const m of earlier) statements = speak(statements, m.org, m.content, m.mode);
          statements = speak(statements, a, aSays, 'merge');
          const aLabels = statements.find((s) => s.organisation === a)?.content.meta?.security ?? [];
          for (const m of later.filter((x) => x.org !== a)) {
            const before = composePatient(statements, DEMOGRAPHICS);
            statements = speak(statements, m.org, m.content, m.mode);
            const after = composePatient(statements, DEMOGRAPHICS);
            for (const label of aLabels) expect(after.meta?.security ?? []).toContainEqual(label);
            const senderType = ORGS.find((o) => o.code === m.org)?.type ?? '';
            for (const element of DEMOGRAPHIC_ELEMENTS) {
              const aSaidIt = KEYS[element].some((k) => aSays[k] !== undefined);
              if (!aSaidIt || !ranksAbove(element, aType, senderType)) continue;
              for (const k of KEYS[element]) expect(after[k]).toEqual(before[k]);
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('covers every organisation type of the protocol', () => {
    // The generated organisations include every type that the demographics rank, and one it does not.
    const ranked = new Set(Object.values(DEMOGRAPHICS).flat());
    for (const type of ranked) expect(ORGS.map((o) => o.type)).toContain(type);
    expect(ORGANISATION_TYPES).toContain('childrens-centre');
  });
});
