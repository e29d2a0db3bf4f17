import { OperationOutcomeError, validateTypedValue } from '@medplum/core';
import fc from 'fast-check';
import type { Resource } from 'fhir/r4.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadHubProfiles, profileFor, schemaName } from '../../src/fhir/profiles.js';
import { quickAccept } from '../../src/fhir/quick-accept.js';
import { fixtureResources } from '../support/fixture-resources.js';

// quickAccept may only accept what @medplum/core's full validator accepts: it
// stands in for that validator on the hub's write paths, and a resource it
// wrongly accepted would be stored unchecked. Compared over every resource in
// the repository's fixtures and golden files (as its base type and as the
// hub's profile for it) and over random mutations of them: a key deleted,
// renamed to another type of its choice element or to nothing the type
// defines, a value replaced by a wrong shape (empty, blank, null, a number, a
// malformed date, an array where one value belongs and back), an element
// repeated, an unknown key added. It must also accept the fixtures the full
// validator accepts, except those using what it leaves to the full validator
// (primitive extensions, empty arrays), or it would not
// stand in at all.
// The seed comes from test/support/fast-check-seed.ts (FC_SEED in CI).

/** The type names a resource is validated as: its base type, and the hub's profile where it has one. */
function typesOf(resource: Resource): string[] {
  return profileFor(resource.resourceType) === undefined ? [resource.resourceType] : [resource.resourceType, schemaName(resource.resourceType)];
}

/** The full validator's faults for a resource as a type: none if it accepts it. */
function fullFaults(resource: Resource, type: string): string[] {
  try {
    validateTypedValue({ type, value: resource });
    return [];
  } catch (err) {
    // TypeError: the validator's own reading of a malformed shape (see validator.ts malformedValue); a refusal too.
    if (err instanceof TypeError) return [`TypeError: ${err.message}`];
    if (!(err instanceof OperationOutcomeError)) throw err;
    const issues = (err.outcome.issue ?? []) as { expression?: string[]; details?: { text?: string }; diagnostics?: string }[];
    return issues.map((i) => `${(i.expression ?? []).join(',')}: ${i.details?.text ?? i.diagnostics ?? ''}`);
  }
}

/** Fails with the resource and the full validator's faults if quickAccept accepted what that validator refuses. */
function expectNoWrongAcceptance(resource: Resource, type: string): boolean {
  if (!quickAccept(resource, type)) return false;
  const faults = fullFaults(resource, type);
  if (faults.length > 0) throw new Error(`quickAccept accepted what the full validator refuses, as ${type}: ${JSON.stringify(resource)}\nfaults: ${faults.join('; ')}`);
  return true;
}

/** What quickAccept leaves to the full validator: a primitive's extensions (`_birthDate`), an empty array. */
function leftToFullValidator(resource: Resource): boolean {
  const json = JSON.stringify(resource);
  return /"_[A-Za-z]/.test(json) || json.includes('[]');
}

type Path = (string | number)[];

/** Every path to a value below the root (object keys and array indexes). */
function pathsIn(value: unknown, at: Path = []): Path[] {
  if (Array.isArray(value)) return value.flatMap((v, i) => [[...at, i], ...pathsIn(v, [...at, i])]);
  if (typeof value !== 'object' || value === null) return [];
  return Object.entries(value).flatMap(([k, v]) => [[...at, k], ...pathsIn(v, [...at, k])]);
}

const ODD_VALUES: unknown[] = ['', ' ', 'x', 'a  b', '2026-13-01', '2026-02-01', 'urn:uuid:nope', 0, -1, 1.5, 7, true, false, null, {}, [], [null], [{}], ['a'], { url: 'u' }, { text: 't' }, { extension: [] }, { reference: 'Patient/p1' }, { coding: [{ system: 's', code: 'c' }] },
  // Values that break an invariant or a slice's discriminator rather than a type.
  'https://fhir.nhs.uk/Id/nhs-number', { start: '2026-02-01', end: '2026-01-01' }, { reference: '#nowhere' }, { value: 1, comparator: '<', unit: 'kg' }, { text: 'masked' }];
const CHOICE_SUFFIXES = ['String', 'Integer', 'Boolean', 'DateTime', 'Date', 'Quantity', 'CodeableConcept', 'Reference', 'Period', 'Code', 'Age'];
const ADDED_KEYS = ['foo', '_status', '_birthDate', 'id', 'extension', 'modifierExtension', 'contained', 'resourceType', 'valueString', 'url', 'dataAbsentReason', 'system', 'code', 'period', 'valueQuantity', 'effectivePeriod', 'reference'];

type Mutation =
  | { kind: 'delete'; at: number }
  | { kind: 'replace'; at: number; value: number }
  | { kind: 'wrap'; at: number }
  | { kind: 'rename'; at: number; suffix: number }
  | { kind: 'add'; at: number; key: number; value: number }
  | { kind: 'repeat'; at: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('replace' as const), at: fc.nat(), value: fc.nat({ max: ODD_VALUES.length - 1 }) }),
  fc.record({ kind: fc.constant('wrap' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('rename' as const), at: fc.nat(), suffix: fc.nat({ max: CHOICE_SUFFIXES.length }) }),
  fc.record({ kind: fc.constant('add' as const), at: fc.nat(), key: fc.nat({ max: ADDED_KEYS.length - 1 }), value: fc.nat({ max: ODD_VALUES.length - 1 }) }),
  fc.record({ kind: fc.constant('repeat' as const), at: fc.nat() }),
);

function mutate(resource: Resource, m: Mutation): Resource {
  const copy = structuredClone(resource) as unknown as Record<string, unknown>;
  const paths = pathsIn(copy);
  const at = paths[m.at % Math.max(paths.length, 1)] ?? [];
  const key = at[at.length - 1];
  let parent: unknown = copy;
  for (const step of at.slice(0, -1)) parent = (parent as Record<string | number, unknown>)[step];
  const holder = parent as Record<string | number, unknown>;
  if (key === undefined) return copy as unknown as Resource;
  const held = holder[key];
  switch (m.kind) {
    case 'delete':
      if (Array.isArray(holder)) holder.splice(Number(key), 1);
      else Reflect.deleteProperty(holder, key);
      break;
    case 'replace':
      holder[key] = structuredClone(ODD_VALUES[m.value]);
      break;
    case 'wrap':
      holder[key] = Array.isArray(held) ? held[0] : [held];
      break;
    case 'rename': {
      if (typeof key !== 'string') break;
      const base = key.replace(/[A-Z][A-Za-z]*$/, '');
      const renamed = m.suffix === CHOICE_SUFFIXES.length ? `${key}x` : `${base === '' ? key : base}${CHOICE_SUFFIXES[m.suffix] ?? ''}`;
      Reflect.deleteProperty(holder, key);
      holder[renamed] = held;
      break;
    }
    case 'add': {
      const target = typeof held === 'object' && held !== null && !Array.isArray(held) ? (held as Record<string, unknown>) : holder;
      if (!Array.isArray(target)) target[ADDED_KEYS[m.key] ?? 'foo'] = structuredClone(ODD_VALUES[m.value]);
      break;
    }
    case 'repeat':
      if (Array.isArray(held)) held.push(structuredClone(held[0]));
      else if (Array.isArray(holder)) holder.push(structuredClone(held));
      break;
    default: {
      const never: never = m;
      throw new Error(`unknown mutation ${JSON.stringify(never)}`);
    }
  }
  return copy as unknown as Resource;
}

let resources: Resource[];

beforeAll(() => {
  loadHubProfiles();
  resources = fixtureResources();
});

describe('quickAccept', () => {
  it('accepts only what the full validator accepts, and stands in for it on the fixtures it accepts', () => {
    let stoodIn = 0;
    let modelled = 0;
    for (const resource of resources) {
      for (const type of typesOf(resource)) {
        const quick = expectNoWrongAcceptance(resource, type);
        if (fullFaults(resource, type).length === 0 && !leftToFullValidator(resource)) modelled += 1;
        if (quick) stoodIn += 1;
      }
    }
    expect(modelled).toBeGreaterThan(50);
    expect(stoodIn).toBe(modelled);
  });

  it('accepts no mutation of a fixture that the full validator refuses', () => {
    fc.assert(
      fc.property(fc.nat(), fc.array(mutation, { minLength: 1, maxLength: 3 }), fc.boolean(), (pick, mutations, asProfile) => {
        const original = resources[pick % resources.length] as Resource;
        const mutated = mutations.reduce(mutate, original);
        const types = typesOf(original);
        const type = (asProfile ? types[types.length - 1] : types[0]) as string;
        expectNoWrongAcceptance(mutated, type);
      }),
      { numRuns: Number(process.env["QA_RUNS"] ?? 5000) },
    );
  });
});
