import { capitalize, getDataType, isPrimitiveType } from '@medplum/core';
import type { InternalTypeSchema } from '@medplum/core';
import type { Resource } from 'fhir/r4.js';

// A walk over the elements a resource holds, typed by the FHIR definitions,
// for checks that look at what is there (profiles.ts hubChecks). @medplum/core's
// crawlTypedValue visits every element its type defines, present or not, and
// for each choice element tries every type it allows (Extension.value[x]: about
// fifty); on ingest that was about a sixth of the hub's CPU. This walk visits
// the same elements with the same types and paths, in the same order, only
// where they hold a value (test/fhir/element-walk.test.ts compares the two).

/** A value held by an element: its FHIR type and its path with indexes ("Patient.address[0].postalCode"). */
export interface WalkedValue {
  type: string;
  value: unknown;
  path: string;
}

/**
 * Called once per element that holds a value, parents before children and
 * in the order of the type's definition: `parentType` is the type holding it
 * ("Patient", "ConsentProvision"), `key` its name in the definition
 * ("occurrence[x]"), `path` its path without indexes ("Immunization.occurrence[x]").
 */
export type ElementVisitor = (parentType: string, key: string, path: string, values: readonly WalkedValue[]) => void;

interface ElementKey {
  /** The element's name in its type's definition ("value[x]"). */
  element: string;
  /** Its place in the definition: elements are visited in this order. */
  order: number;
  /** The type a value under this JSON name has ("code", "dateTime", "ConsentProvision"). */
  type: string;
}

const keyMaps = new WeakMap<InternalTypeSchema, ReadonlyMap<string, ElementKey>>();

/** JSON property name → element, for a type: a choice element under each of its typed names ("valueString"). */
function keysOf(schema: InternalTypeSchema): ReadonlyMap<string, ElementKey> {
  const known = keyMaps.get(schema);
  if (known !== undefined) return known;
  const keys = new Map<string, ElementKey>();
  Object.entries(schema.elements).forEach(([element, definition], order) => {
    if (element.endsWith('[x]')) {
      for (const t of definition.type) keys.set(`${element.slice(0, -3)}${capitalize(t.code)}`, { element, order, type: t.code });
    } else {
      keys.set(element, { element, order, type: definition.type[0]?.code ?? 'undefined' });
    }
  });
  keyMaps.set(schema, keys);
  return keys;
}

/**
 * A value the walk found. Its path with indexes is only built when asked for
 * (a check reporting a fault): building one for every value was most of the
 * walk's cost.
 */
class HeldValue implements WalkedValue {
  constructor(
    readonly type: string,
    readonly value: unknown,
    private readonly parent: HeldValue | string,
    private readonly element: string,
    private readonly index: number | undefined,
  ) {}

  get path(): string {
    const parent = typeof this.parent === 'string' ? this.parent : this.parent.path;
    return this.index === undefined ? `${parent}.${this.element}` : `${parent}.${this.element}[${this.index}]`;
  }
}

/** Walks a resource (of its base type's definition) as described above. */
export function walkElements(resource: Resource, visit: ElementVisitor): void {
  const schema = getDataType(resource.resourceType);
  walkObject(resource as unknown as Record<string, unknown>, schema, schema.path, schema.path, visit);
}

function hold(values: HeldValue[], v: unknown, type: string, parent: HeldValue | string, element: string, index: number | undefined): void {
  if (v === undefined || v === null) return;
  // An element typed Resource (contained, Bundle.entry.resource) holds a resource of its own type.
  const t = type === 'Resource' && typeof v === 'object' && typeof (v as { resourceType?: unknown }).resourceType === 'string' ? (v as Resource).resourceType : type;
  values.push(new HeldValue(t, v, parent, element, index));
}

function walkObject(value: Record<string, unknown>, schema: InternalTypeSchema, path: string, parent: HeldValue | string, visit: ElementVisitor): void {
  const keys = keysOf(schema);
  const present: [ElementKey, string][] = [];
  for (const key of Object.keys(value)) {
    const element = keys.get(key);
    if (element !== undefined) present.push([element, key]);
  }
  if (present.length > 1) present.sort((a, b) => a[0].order - b[0].order);
  for (const [{ element, type }, key] of present) {
    const held = value[key];
    const values: HeldValue[] = [];
    if (Array.isArray(held)) {
      for (let i = 0; i < held.length; i += 1) hold(values, held[i], type, parent, element, i);
    } else {
      hold(values, held, type, parent, element, undefined);
    }
    if (values.length === 0) continue;
    const elementPath = `${path}.${element}`;
    visit(schema.type, element, elementPath, values);
    for (const v of values) {
      if (isPrimitiveType(v.type) || typeof v.value !== 'object') continue;
      walkObject(v.value as Record<string, unknown>, getDataType(v.type), elementPath, v, visit);
    }
  }
}
