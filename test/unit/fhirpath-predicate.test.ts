import { parseFhirPath } from '@medplum/core';
import fc from 'fast-check';
import type { Resource } from 'fhir/r4.js';
import { describe, expect, it } from 'vitest';
import { loadFhirDefinitions } from '../../src/fhir/validator.js';
import { compileFast, compilePredicate, holdsByMedplum } from '../../src/protocol/fhirpath-predicate.js';
import { birthWeight, bloodPressure, demoProtocol, eddObservation, immunization, pregnancy } from '../support/decision-world.js';

// A protocol's FHIRPath compiled to a JavaScript predicate must hold exactly
// where @medplum/core's evaluation holds, with and without the R4 type
// schemas loaded (the hub loads them at start; a bench or a test may not).
// Expressions: the demo protocol's own, and generated ones over a small
// vocabulary; resources: generated JSON with the odd shapes the compiled path
// must hand back (primitive extensions, choice variants, empty and null values).

const RUNS = 3000;

const ISP = demoProtocol();
const DEMO_EXPRESSIONS = [...new Set(ISP.flows.flatMap((f) => [...(f.where === undefined ? [] : [f.where.source]), ...f.items.flatMap((i) => [...i.select.values()].map((p) => p.source))]))];
const FIXTURES: Resource[] = [eddObservation(), birthWeight(), bloodPressure(), pregnancy(), ...(['dna', 'dna-2', 'refusal', 'text-reason', 'dna-wrong-system', 'given'] as const).map((k) => immunization(k))];

const NAMES = ['code', 'coding', 'system', 'statusReason', 'status', 'type', 'value', 'valueString', 'text', 'Immunization', 'Observation', 'display'] as const;
const STRINGS = ['a', 'b', 'http://loinc.org', 'http://snomed.info/sct', '11778-8', '77386006', '201741000000102', ''] as const;

const literalArb = fc.oneof(
  fc.constantFrom(...STRINGS).map((v) => `'${v}'`),
  fc.constantFrom('1', '2.5', 'true', 'false'),
);

const pathArb: fc.Arbitrary<string> = fc.array(fc.constantFrom(...NAMES), { minLength: 1, maxLength: 3 }).map((names) => names.join('.'));

const { expr } = fc.letrec<{ expr: string; bool: string; criteria: string }>((tie) => ({
  criteria: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.tuple(pathArb, fc.constantFrom('=', '!='), literalArb).map(([p, op, l]) => `${p} ${op} ${l}`),
    tie('bool'),
  ),
  bool: fc.oneof(
    { depthSize: 'small' },
    fc.tuple(tie('criteria'), fc.constantFrom('and', 'or'), tie('criteria')).map(([l, op, r]) => `(${l} ${op} ${r})`),
    fc.tuple(pathArb, fc.constantFrom('=', '!='), literalArb).map(([p, op, l]) => `${p} ${op} ${l}`),
    literalArb,
    pathArb.map((p) => `${p}.exists()`),
  ),
  expr: fc.oneof(
    { depthSize: 'small' },
    pathArb,
    fc.tuple(pathArb, tie('criteria')).map(([p, c]) => `${p}.where(${c})`),
    fc.tuple(pathArb, tie('criteria'), fc.constantFrom('.exists()', '.code', '')).map(([p, c, tail]) => `${p}.where(${c})${tail}`),
    fc.tuple(pathArb, tie('criteria')).map(([p, c]) => `${p}.exists(${c})`),
    tie('bool'),
  ),
}));

const valueArb: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown; object: Record<string, unknown> }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', maxDepth: 3 },
    fc.constantFrom<unknown>(...STRINGS, 1, 2.5, true, false, null),
    tie('object'),
    fc.array(tie('value'), { maxLength: 3 }),
  ),
  object: fc.dictionary(fc.constantFrom(...NAMES, '_code', '_system', 'valueQuantity', 'statusFoo', 'resourceType'), tie('value'), { maxKeys: 4 }),
})).value;

const resourceArb: fc.Arbitrary<Resource> = fc
  .tuple(fc.constantFrom('Immunization', 'Observation', 'EpisodeOfCare'), fc.dictionary(fc.constantFrom(...NAMES, '_status', 'valueQuantity', 'statusFoo'), valueArb, { maxKeys: 5 }))
  .map(([resourceType, fields]) => ({ ...fields, resourceType }));

function agreeOver(expressions: fc.Arbitrary<string>, resources: fc.Arbitrary<Resource>): { fast: number; total: number } {
  let fast = 0;
  let total = 0;
  fc.assert(
    fc.property(expressions, resources, (source, resource) => {
      const atom = parseFhirPath(source);
      const expected = holdsByMedplum(atom, structuredClone(resource));
      expect(compilePredicate(atom)(structuredClone(resource))).toBe(expected);
      const answer = compileFast(atom)?.(structuredClone(resource));
      total += 1;
      if (answer !== undefined) {
        fast += 1;
        expect(answer).toBe(expected);
      }
    }),
    { numRuns: RUNS },
  );
  return { fast, total };
}

function suite(): void {
  it('the demo protocol’s expressions hold where @medplum/core says, on the fixtures, all by the compiled path', () => {
    for (const source of DEMO_EXPRESSIONS) {
      const atom = parseFhirPath(source);
      const fast = compileFast(atom);
      expect(fast, source).toBeDefined();
      for (const resource of FIXTURES) expect(fast?.(resource), `${source} on ${resource.id ?? ''}`).toBe(holdsByMedplum(atom, resource));
    }
  });

  it('the demo protocol’s expressions agree with @medplum/core on generated resources', () => {
    agreeOver(fc.constantFrom(...DEMO_EXPRESSIONS), resourceArb);
  });

  it('generated expressions agree with @medplum/core on generated resources, most of them by the compiled path', () => {
    const { fast, total } = agreeOver(expr, resourceArb);
    expect(fast).toBeGreaterThan(total / 4);
  });
}

describe('compiled FHIRPath, without the R4 type schemas', suite);

describe('compiled FHIRPath, with the R4 type schemas loaded', () => {
  it('loads the schemas', () => {
    loadFhirDefinitions();
  });
  suite();
});
