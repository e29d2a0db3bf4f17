import { evalFhirPathTyped, OperationOutcomeError, toTypedValue, UCUM, validateTypedValue } from '@medplum/core';
import type { TypedValue } from '@medplum/core';
import fc from 'fast-check';
import type { Resource } from 'fhir/r4.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadHubProfiles, profileFor, schemaName } from '../../src/fhir/profiles.js';
import { NATIVE_INVARIANTS } from '../../src/fhir/native-invariants.js';
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
// (primitive extensions, empty arrays), or it would not stand in at all.
// The seed comes from test/support/fast-check-seed.ts (FC_SEED in CI);
// QA_RUNS sets the mutations per property (5,000), for longer searches.

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
const ADDED_KEYS = ['foo', '_status', '_birthDate', 'id', 'extension', 'modifierExtension', 'contained', 'resourceType', 'valueString', 'url', 'dataAbsentReason', 'system', 'code', 'period', 'valueQuantity', 'effectivePeriod', 'reference', 'valueOf', 'constructor', 'hasOwnProperty'];

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
    const runs = Number(process.env['QA_RUNS'] ?? 5000);
    let accepted = 0;
    fc.assert(
      fc.property(fc.nat(), fc.array(mutation, { minLength: 1, maxLength: 3 }), fc.boolean(), (pick, mutations, asProfile) => {
        const original = resources[pick % resources.length] as Resource;
        const mutated = mutations.reduce(mutate, original);
        const types = typesOf(original);
        const type = (asProfile ? types[types.length - 1] : types[0]) as string;
        if (expectNoWrongAcceptance(mutated, type)) accepted += 1;
      }),
      { numRuns: runs },
    );
    // Many mutations leave a valid resource (an optional element deleted, an element repeated): the comparison is not empty.
    expect(accepted).toBeGreaterThan(runs / 20);
  });
});

/** Each object in a resource that a native invariant constrains, as a typed value, with the resource holding it. */
function constrained(value: unknown, type: string | undefined, resource: Record<string, unknown> | undefined, found: { typed: TypedValue; resource: Record<string, unknown> }[] = []): typeof found {
  if (Array.isArray(value)) {
    for (const v of value) constrained(v, type, resource, found);
    return found;
  }
  if (typeof value !== 'object' || value === null) return found;
  const object = value as Record<string, unknown>;
  const own = typeof object['resourceType'] === 'string' ? object['resourceType'] : type;
  const holder = typeof object['resourceType'] === 'string' ? object : resource;
  if (own !== undefined && holder !== undefined) found.push({ typed: { type: own, value: object }, resource: holder });
  for (const [key, child] of Object.entries(object)) constrained(child, childTypeOf(own, key), holder, found);
  return found;
}

/** The backbone types the native invariants constrain, by the type holding them and the key (an answer's items are items too). */
function childTypeOf(own: string | undefined, key: string): string | undefined {
  if (key === 'extension' || key === 'modifierExtension') return 'Extension';
  if (own === 'Bundle' && key === 'entry') return 'BundleEntry';
  if (own === 'CarePlan' && key === 'activity') return 'CarePlanActivity';
  if ((own === 'QuestionnaireResponse' || own === 'QuestionnaireResponseItem' || own === 'QuestionnaireResponseItemAnswer') && key === 'item') return 'QuestionnaireResponseItem';
  if (own === 'QuestionnaireResponseItem' && key === 'answer') return 'QuestionnaireResponseItemAnswer';
  return undefined;
}

/** For each native invariant: [answers compared, of them false]. Fails on the first answer that differs from the expression's. */
function compareNatives(resource: Resource, tally: Map<string, [number, number]>): void {
  for (const { typed, resource: holder } of constrained(resource, undefined, undefined)) {
    for (const [key, native] of NATIVE_INVARIANTS) {
      const applies = native.type === typed.type || (native.type === 'DomainResource' && typed.value === holder);
      if (!applies) continue;
      const answer = native.holds(typed.value as Record<string, unknown>, holder);
      if (answer === undefined) continue;
      const variables = { '%context': typed, '%resource': toTypedValue(holder), '%rootResource': toTypedValue(holder), '%ucum': toTypedValue(UCUM) };
      let expected: boolean;
      try {
        const result = evalFhirPathTyped(native.expression, [typed], variables);
        expected = result.length === 1 && result[0]?.value === true;
      } catch {
        expected = false;
      }
      if (answer !== expected) throw new Error(`${key} answers ${String(answer)}, its expression ${String(expected)}, for ${typed.type} ${JSON.stringify(typed.value)}`);
      const [n, f] = tally.get(key) ?? [0, 0];
      tally.set(key, [n + 1, f + (answer ? 0 : 1)]);
    }
  }
}

const message = (entry: unknown[], extra: Record<string, unknown> = {}): Resource => ({ resourceType: 'Bundle', type: 'message', entry, ...extra }) as unknown as Resource;
const header = { fullUrl: 'urn:uuid:1', resource: { resourceType: 'MessageHeader', eventCoding: { code: 'x' }, source: { endpoint: 'e' } } };

/** Bundles and an extension that break each native rule that can fail, beside the fixtures (which meet them). */
const BREAKING: Resource[] = [
  message([header], { total: 1 }), // bdl-1
  message([{ ...header, search: { mode: 'match' } }]), // bdl-2
  message([{ ...header, request: { method: 'POST', url: 'Patient' } }]), // bdl-3
  message([{ ...header, response: { status: '201' } }]), // bdl-4
  message([header, { fullUrl: 'urn:uuid:2' }]), // bdl-5
  message([header, { fullUrl: 'urn:uuid:1', resource: { resourceType: 'Patient' } }]), // bdl-7
  message([{ ...header, fullUrl: 'https://example.org/MessageHeader/1/_history/2' }]), // bdl-8
  message([{ fullUrl: 'urn:uuid:3', resource: { resourceType: 'Patient' } }, header]), // bdl-12
  { resourceType: 'Patient', extension: [{ url: 'u', valueString: 'x', extension: [{ url: 'v', valueCode: 'y' }] }, { url: 'w' }] } as Resource, // ext-1, both ways
  { resourceType: 'QuestionnaireResponse', status: 'completed', item: [{ linkId: '1', answer: [{ valueString: 'a' }], item: [{ linkId: '1.1' }] }] } as Resource, // qrs-1
  { resourceType: 'CarePlan', status: 'active', intent: 'plan', subject: { reference: 'Patient/1' }, activity: [{ reference: { reference: 'Task/1' }, detail: { status: 'scheduled' } }] } as Resource, // cpl-3
  { resourceType: 'Consent', status: 'active', scope: { text: 's' }, category: [{ text: 'c' }], patient: { reference: 'Patient/1' } } as Resource, // ppc-1
  // eyhub-pat-1: spaced, nine digits, eleven digits.
  ...['943 476 5919', '943476591', '94347659190'].map((value) => ({ resourceType: 'Patient', identifier: [{ system: 'https://fhir.nhs.uk/Id/nhs-number', value }, { system: 'urn:other', value: 'x' }] }) as Resource),
];

describe('NATIVE_INVARIANTS', () => {
  it('answer as their FHIRPath expressions do wherever they answer, over every fixture and mutations of them', () => {
    const tally = new Map<string, [number, number]>();
    for (const resource of [...resources, ...BREAKING]) compareNatives(resource, tally);
    fc.assert(
      fc.property(fc.nat(), fc.array(mutation, { minLength: 1, maxLength: 3 }), (pick, mutations) => {
        compareNatives(mutations.reduce(mutate, resources[pick % resources.length] as Resource), tally);
      }),
      { numRuns: Number(process.env['QA_RUNS'] ?? 5000) },
    );
    // Every native rule was compared, and every one that can fail did (bdl-9 to bdl-11 answer only "true", for Bundles that are not
    // documents; ppc-2 to ppc-5 only for a Consent naming its patient).
    expect([...NATIVE_INVARIANTS.keys()].filter((k) => (tally.get(k)?.[0] ?? 0) === 0)).toEqual([]);
    const neverFalse = [...NATIVE_INVARIANTS.keys()].filter((k) => (tally.get(k)?.[1] ?? 0) === 0);
    expect(neverFalse.sort()).toEqual(['bdl-10', 'bdl-11', 'bdl-9', 'dom-2', 'dom-4', 'dom-5', 'ppc-2', 'ppc-3', 'ppc-4', 'ppc-5']);
  });
});
