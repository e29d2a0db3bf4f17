import { capitalize, deepEquals, deepIncludes, evalFhirPathTyped, getNestedProperty, matchDiscriminant, parseFhirPath, toTypedValue, tryGetDataType, UCUM, validationRegexes } from '@medplum/core';
import type { FhirPathAtom, InternalSchemaElement, InternalTypeSchema, TypedValue } from '@medplum/core';
import type { Resource } from 'fhir/r4.js';
import { NATIVE_INVARIANTS, type NativeInvariant } from './native-invariants.js';

// A quick acceptance of a resource against a type schema, before (and in
// place of) @medplum/core's validator. That validator visits every element a
// type defines, present or not, and tries every type of each choice element
// (about fifty for Extension.value[x]): about half of a create's CPU and a
// quarter of an ingest's. This one visits only the elements a resource holds
// and applies the same rules to them: required elements, array or single
// value, cardinality, fixed and pattern values, slice counts, the element
// invariants (evaluated by @medplum/core's own FHIRPath engine) and the
// primitive formats.
//
// It only ever accepts. It answers false whenever a rule fails or the
// resource uses something it does not model (primitive extensions `_x`,
// null, an empty array, an unknown key, two types of one choice element);
// the caller then runs the full validator, which decides and
// names the faults. So a resource this accepts is one the full validator
// accepts (test/fhir/quick-accept.test.ts checks that over every fixture and
// golden resource in the repository and over mutations of them), and a
// refusal always reads exactly as before.
// See: https://hl7.org/fhir/R4/validation.html

/** The JSON type of each primitive FHIR type, as @medplum/core checks it. See: https://hl7.org/fhir/R4/json.html#primitive */
const JSON_TYPE: Readonly<Record<string, 'string' | 'boolean' | 'number'>> = {
  base64Binary: 'string',
  boolean: 'boolean',
  canonical: 'string',
  code: 'string',
  date: 'string',
  dateTime: 'string',
  decimal: 'number',
  id: 'string',
  instant: 'string',
  integer: 'number',
  integer64: 'string',
  markdown: 'string',
  oid: 'string',
  positiveInt: 'number',
  string: 'string',
  time: 'string',
  unsignedInt: 'number',
  uri: 'string',
  url: 'string',
  uuid: 'string',
  xhtml: 'string',
  // The type R4's definitions give Resource.id, Element.id and Extension.url.
  'http://hl7.org/fhirpath/System.String': 'string',
};

/** Invariants the full validator does not evaluate either (ele-1 on every element; those needing a whole-bundle view). */
const SKIPPED_INVARIANTS: ReadonlySet<string> = new Set(['ele-1', 'dom-3', 'org-1', 'sdf-19']);

/** FHIR strings are at most 1 MB. See: https://hl7.org/fhir/R4/datatypes.html#string */
const MAX_STRING = 1024 * 1024;

interface KeyedElement {
  /** The element's name in its type's definition ("value[x]"). */
  name: string;
  definition: InternalSchemaElement;
  /** The FHIR type a value under this JSON name has. */
  type: string;
}

interface Invariant {
  key: string;
  expression: FhirPathAtom;
  /** The same rule in JavaScript, for invariants every resource meets many times over (native-invariants.ts). */
  native: NativeInvariant | undefined;
}

interface CompiledSchema {
  /** JSON property name → element; a choice element under each of its typed names ("valueString"). */
  keys: ReadonlyMap<string, KeyedElement>;
  /** The names of the elements with min ≥ 1 ("value[x]" for a choice element: any of its typed names will do). */
  required: readonly string[];
  /** The type's own invariants, checked at the root only (as the full validator does). */
  rootInvariants: readonly Invariant[];
  /** Each element's invariants, checked on every value it holds. */
  elementInvariants: ReadonlyMap<InternalSchemaElement, readonly Invariant[]>;
  /** Whether it names a nested element ("identifier.system"), as a profile may: left to the full validator. */
  dotted: boolean;
}

const compiled = new WeakMap<InternalTypeSchema, CompiledSchema>();

/** FHIRPath's %ucum, as the full validator sets it. */
const UCUM_VALUE: TypedValue = toTypedValue(UCUM);

function invariantsOf(constraints: InternalSchemaElement['constraints'] | undefined): Invariant[] {
  return (constraints ?? [])
    .filter((c) => c.severity === 'error' && !SKIPPED_INVARIANTS.has(c.key))
    .map((c) => {
      const native = NATIVE_INVARIANTS.get(c.key);
      return { key: c.key, expression: parseFhirPath(c.expression), native: native?.expression === c.expression ? native : undefined };
    });
}

/** Compiles a type schema once: its JSON names, required elements and parsed invariants. */
function compile(schema: InternalTypeSchema): CompiledSchema {
  const known = compiled.get(schema);
  if (known !== undefined) return known;
  const keys = new Map<string, KeyedElement>();
  const required: string[] = [];
  const elementInvariants = new Map<InternalSchemaElement, Invariant[]>();
  for (const [name, definition] of Object.entries(schema.elements)) {
    if (name.endsWith('[x]')) {
      for (const t of definition.type) keys.set(`${name.slice(0, -3)}${capitalize(t.code)}`, { name, definition, type: t.code });
    } else if (!name.includes('.')) {
      keys.set(name, { name, definition, type: definition.type[0]?.code ?? 'undefined' });
    }
    if (definition.min > 0) required.push(name);
    elementInvariants.set(definition, invariantsOf(definition.constraints));
  }
  const dotted = Object.keys(schema.elements).some((name) => name.includes('.'));
  const result: CompiledSchema = { keys, required, rootInvariants: invariantsOf(schema.constraints), elementInvariants, dotted };
  compiled.set(schema, result);
  return result;
}

interface Walk {
  /** FHIRPath variables, as the full validator sets them for this resource. */
  variables: Record<string, TypedValue>;
}

/**
 * True only if the full validator would accept `resource` as `type` (a base
 * type, or a profile registered under a type name of its own); false means
 * "not decided here", never "invalid".
 */
export function quickAccept(resource: Resource, type?: string): boolean {
  try {
    return accepted(resource, type ?? resource.resourceType);
  } catch {
    // A shape that trips the engine's helpers ({"valueOf": …} where a primitive belongs): the full validator decides.
    return false;
  }
}

function accepted(resource: Resource, type: string): boolean {
  const schema = tryGetDataType(type);
  if (schema === undefined || typeof resource !== 'object' || Array.isArray(resource)) return false;
  // The root names its own type (the one key the walk below passes over).
  if (resource.resourceType !== schema.type) return false;
  const compiledSchema = compile(schema);
  // Dotted element names (a profile constraining a nested element) are checked by the full validator only.
  if (compiledSchema.dotted) return false;
  const root: TypedValue = { type, value: resource };
  const walk: Walk = { variables: { '%ucum': UCUM_VALUE, '%resource': toTypedValue(resource), '%rootResource': root } };
  if (!invariantsHold(compiledSchema.rootInvariants, root, walk)) return false;
  return objectAccepted(resource as unknown as Record<string, unknown>, schema, walk);
}

function invariantsHold(invariants: readonly Invariant[], value: TypedValue, walk: Walk): boolean {
  for (const invariant of invariants) {
    const native = invariant.native?.holds(value.value as Record<string, unknown>, walk.variables['%resource']?.value as Record<string, unknown>);
    if (native === false) return false;
    if (native === true) continue;
    try {
      const result = evalFhirPathTyped(invariant.expression, [value], { ...walk.variables, '%context': value });
      if (result.length !== 1 || result[0]?.value !== true) return false;
    } catch {
      return false;
    }
  }
  return true;
}

function objectAccepted(object: Record<string, unknown>, schema: InternalTypeSchema, walk: Walk): boolean {
  const { keys, required, elementInvariants } = compile(schema);
  const seen = new Set<string>();
  const present: [KeyedElement, unknown][] = [];
  for (const key of Object.keys(object)) {
    if (key === 'resourceType') continue;
    const element = keys.get(key);
    // An unknown key (even one holding undefined), a primitive extension (`_x`) or a second type of one choice element.
    if (element === undefined) return false;
    const held = object[key];
    if (held === undefined) {
      // The full validator passes over an element holding undefined, but not a choice element's typed name.
      if (element.name.endsWith('[x]')) return false;
      continue;
    }
    if (seen.has(element.name)) return false;
    seen.add(element.name);
    present.push([element, held]);
  }
  for (const name of required) if (!seen.has(name)) return false;
  for (const [{ definition, type }, held] of present) {
    const values: unknown[] = Array.isArray(held) ? held : [held];
    if (Array.isArray(held) !== definition.isArray) return false;
    if (values.length === 0 || values.length < definition.min || values.length > definition.max) return false;
    const typed = values.map((value): TypedValue => ({ type: type === 'Resource' ? resourceTypeOf(value) : type, value }));
    if (definition.pattern !== undefined && !deepIncludes(Array.isArray(held) ? typed : typed[0], definition.pattern)) return false;
    if (definition.fixed !== undefined && !deepEquals(Array.isArray(held) ? typed : typed[0], definition.fixed)) return false;
    const invariants = elementInvariants.get(definition) ?? [];
    for (const value of typed) {
      if (!valueAccepted(value, walk)) return false;
      if (invariants.length > 0 && !invariantsHold(invariants, value, walk)) return false;
    }
    if (definition.slicing !== undefined && !slicesCounted(typed, definition)) return false;
  }
  return true;
}

function valueAccepted(value: TypedValue, walk: Walk): boolean {
  const held: unknown = value.value;
  if (held === null || held === undefined) return false;
  const jsonType = JSON_TYPE[value.type];
  if (jsonType !== undefined) {
    if (typeof held !== jsonType) return false;
    if (typeof held === 'string') {
      if (held.trim() === '' || held.length > MAX_STRING) return false;
      const format = validationRegexes[value.type];
      return format === undefined || format.test(held);
    }
    if (typeof held === 'number') {
      if (!Number.isFinite(held)) return false;
      if (value.type === 'integer' || value.type === 'positiveInt' || value.type === 'unsignedInt') {
        if (!Number.isInteger(held)) return false;
        if (value.type === 'positiveInt' && held <= 0) return false;
        if (value.type === 'unsignedInt' && held < 0) return false;
      }
    }
    return true;
  }
  // A complex value: a non-empty JSON object of a type the definitions know.
  if (typeof held !== 'object' || Array.isArray(held) || Object.keys(held).length === 0) return false;
  const schema = tryGetDataType(value.type);
  if (schema === undefined) return false;
  if (schema.kind !== 'resource') return !('resourceType' in held) && objectAccepted(held as Record<string, unknown>, schema, walk);
  // A resource inside the resource (contained, Bundle.entry.resource): its elements' invariants
  // see it as %resource, as in the full validator, which checks its type's own invariants at the root only.
  if ((held as { resourceType?: unknown }).resourceType !== schema.type) return false;
  return objectAccepted(held as Record<string, unknown>, schema, { variables: { ...walk.variables, '%resource': toTypedValue(held) } });
}

/** The type of a value held by an element typed Resource: its own resourceType ('' when it names none, which no schema has). */
function resourceTypeOf(value: unknown): string {
  const type = typeof value === 'object' && value !== null ? (value as { resourceType?: unknown }).resourceType : undefined;
  return typeof type === 'string' ? type : '';
}

/** Each slice holds as many values as the profile allows; a value belongs to the first slice whose discriminators it matches. */
function slicesCounted(values: readonly TypedValue[], definition: InternalSchemaElement): boolean {
  const slicing = definition.slicing;
  if (slicing === undefined) return true;
  const counts = new Map(slicing.slices.map((s) => [s.name, 0]));
  for (const value of values) {
    const slice = slicing.slices.find((s) =>
      // An array found at a discriminator's path matches no slice, as in the full validator.
      slicing.discriminator.every((d) => getNestedProperty(value, d.path).some((v) => matchDiscriminant(v, d, s))),
    );
    if (slice !== undefined) counts.set(slice.name, (counts.get(slice.name) ?? 0) + 1);
  }
  return slicing.slices.every((s) => {
    const n = counts.get(s.name) ?? 0;
    return n >= s.min && n <= s.max;
  });
}
