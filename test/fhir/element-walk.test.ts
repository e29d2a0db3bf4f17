import { crawlTypedValue, isPrimitiveType, toTypedValue } from '@medplum/core';
import type { Resource } from 'fhir/r4.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { walkElements, type WalkedValue } from '../../src/fhir/element-walk.js';
import { loadHubProfiles } from '../../src/fhir/profiles.js';
import { fixtureResources } from '../support/fixture-resources.js';

// walkElements visits what @medplum/core's crawlTypedValue visits (the same
// elements, types, paths and order), only where an element holds a value:
// compared over every resource in the repository's fixtures and golden files,
// the same with an extension (holding a nested one) added to every object in
// it, and resources made to reach choice types, contained resources, nested
// backbone elements and extensions on extensions.

interface Visit {
  parentType: string;
  key: string;
  path: string;
  values: WalkedValue[];
}

/**
 * The crawl merges a primitive's own extensions (`_birthDate`) into its value, a
 * String object holding them (or an object alone, with no value beside them); the
 * walk gives the primitive value, which is what the checks compare, and leaves a
 * primitive's extensions alone, as the crawl does (it does not descend into them).
 */
function primitiveOf(type: string, value: unknown): unknown {
  if (value instanceof String || value instanceof Number || value instanceof Boolean) return value.valueOf();
  return isPrimitiveType(type) && typeof value === 'object' ? undefined : value;
}

function crawled(resource: Resource): Visit[] {
  const visits: Visit[] = [];
  crawlTypedValue(toTypedValue(resource), {
    visitProperty(_parent, key, at, propertyValues, schema): void {
      const values = propertyValues
        .flat()
        .filter((v) => v?.value !== undefined)
        .map((v) => ({ type: v.type, value: primitiveOf(v.type, v.value), path: v.path }))
        .filter((v) => v.value !== undefined);
      if (values.length > 0) visits.push({ parentType: schema.type, key, path: at, values });
    },
  });
  return visits;
}

function walked(resource: Resource): Visit[] {
  const visits: Visit[] = [];
  // Plain copies: a walked value's path is a getter, which a deep comparison would pass over.
  walkElements(resource, (parentType, key, at, values) => visits.push({ parentType, key, path: at, values: values.map((v) => ({ type: v.type, value: v.value, path: v.path })) }));
  return visits;
}

/** The resource with an extension (holding another) added to every object below its root. */
function extended(value: unknown, depth = 0): unknown {
  if (Array.isArray(value)) return value.map((v) => extended(v, depth));
  if (typeof value !== 'object' || value === null) return value;
  const copy = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, extended(v, depth + 1)]));
  if (depth === 0) return copy;
  const added = { url: 'https://example.org/ext', valueString: 'x', extension: [{ url: 'https://example.org/inner', valueCode: 'y' }] };
  return { ...copy, extension: [...((copy['extension'] as unknown[] | undefined) ?? []), added] };
}

const MADE: Resource[] = [
  {
    resourceType: 'Immunization',
    status: 'completed',
    vaccineCode: { text: 'MMR' },
    patient: { reference: 'Patient/p1' },
    occurrenceString: 'spring',
    contained: [{ resourceType: 'Patient', id: 'c1', gender: 'other', address: [{ postalCode: 'E1 6AN', extension: [{ url: 'u', valueReference: { reference: 'Location/l1' } }] }] }],
    modifierExtension: [{ url: 'm', valueBoolean: true }],
  } as Resource,
  {
    resourceType: 'Consent',
    status: 'active',
    scope: { coding: [{ system: 's', code: 'c' }] },
    category: [{ text: 'a' }],
    provision: { type: 'permit', actor: [{ role: { text: 'r' }, reference: { reference: 'Organization/o' } }], provision: [{ type: 'deny', provision: [{ type: 'permit', extension: [{ url: 'e', valuePeriod: { start: '2026-01-01' } }] }] }] },
  } as Resource,
  { resourceType: 'Observation', status: 'final', code: { text: 'w' }, valueQuantity: { value: 3.2, unit: 'kg' }, component: [{ code: { text: 'c' }, valueCodeableConcept: { text: 'v' } }] } as Resource,
];

let resources: Resource[];

beforeAll(() => {
  loadHubProfiles();
  resources = fixtureResources();
});

describe('walkElements', () => {
  it('finds resources to compare over', () => {
    expect(resources.length).toBeGreaterThan(50);
  });

  it('visits what the full crawl visits with a value, for every fixture and golden resource, and each with extensions everywhere', () => {
    for (const resource of [...resources, ...MADE]) {
      expect(walked(resource)).toEqual(crawled(resource));
      const withExtensions = extended(resource) as Resource;
      expect(walked(withExtensions)).toEqual(crawled(withExtensions));
    }
  });

  it('types a contained resource by its own resourceType and a choice value by the name it is held under', () => {
    const visits = walked(MADE[0] as Resource);
    expect(visits.find((v) => v.path === 'Immunization.occurrence[x]')?.values).toEqual([{ type: 'string', value: 'spring', path: 'Immunization.occurrence[x]' }]);
    expect(visits.find((v) => v.path === 'Immunization.contained')?.values[0]?.type).toBe('Patient');
    expect(visits.some((v) => v.parentType === 'Patient' && v.key === 'gender' && v.path === 'Immunization.contained.gender')).toBe(true);
  });
});
