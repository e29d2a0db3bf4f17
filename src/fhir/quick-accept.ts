import { capitalize, deepEquals, deepIncludes, evalFhirPathTyped, getDataType, getNestedProperty, matchDiscriminant, parseFhirPath, toTypedValue, tryGetDataType, UCUM, validationRegexes } from '@medplum/core';
import type { FhirPathAtom, InternalSchemaElement, InternalTypeSchema, TypedValue } from '@medplum/core';
import type { Resource } from 'fhir/r4.js';

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
  /** The same rule in JavaScript, for invariants every resource meets many times over (see NATIVE_INVARIANTS). */
  native: NativeInvariant | undefined;
}

/**
 * An invariant as a JavaScript predicate over the JSON value it constrains
 * (and the resource holding it): true or false where it is certain to answer
 * as the FHIRPath expression does, undefined where the expression must decide.
 */
export interface NativeInvariant {
  /** The type whose values it constrains (DomainResource: every resource). */
  type: string;
  /** The FHIRPath expression it stands for, exactly as R4's definitions give it: any other text under the same key is evaluated as FHIRPath. */
  expression: string;
  holds: (value: Record<string, unknown>, resource: Record<string, unknown>) => boolean | undefined;
}

/** A string FHIRPath compares as itself (an empty one is left to the engine). */
const isString = (v: unknown): v is string => typeof v === 'string' && v !== '';

/**
 * FHIRPath's exists() on a JSON value where it is certain: false for absent,
 * true for a value; undefined for null, empty and blank shapes, which the
 * engine decides.
 */
function exists(v: unknown): boolean | undefined {
  if (v === undefined) return false;
  if (v === null || v === '') return undefined;
  if (Array.isArray(v)) return v.length > 0 && v.every((x) => exists(x) === true) ? true : undefined;
  if (typeof v === 'object') return Object.keys(v).length > 0 ? true : undefined;
  return true;
}

/** a or b or c … where each is certain or not: true if one is true, false if all are false, else undefined. */
function anyOf(...answers: (boolean | undefined)[]): boolean | undefined {
  if (answers.includes(true)) return true;
  return answers.every((a) => a === false) ? false : undefined;
}

/** Where a Bundle's type leaves a document-only invariant nothing to check. */
const notDocument = (bundle: Record<string, unknown>): true | undefined => (isString(bundle['type']) && bundle['type'] !== 'document' ? true : undefined);

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The entries of a Bundle, if absent or an array of objects (else the expression decides). */
function entriesOf(bundle: Record<string, unknown>): Record<string, unknown>[] | undefined {
  const entry = bundle['entry'];
  if (entry === undefined) return [];
  if (!Array.isArray(entry) || entry.length === 0 || !entry.every(isObject)) return undefined;
  return entry;
}

/** Whether every entry certainly holds (or certainly lacks) an element: entry.all(x.exists() = wanted). */
function allEntries(bundle: Record<string, unknown>, element: string, wanted: (type: string) => boolean): boolean | undefined {
  const entries = entriesOf(bundle);
  const type = bundle['type'];
  if (entries === undefined || !isString(type)) return undefined;
  const held = entries.map((e) => exists(e[element]));
  if (held.includes(undefined)) return undefined;
  return held.every((h) => h === wanted(type));
}

/** The fullUrl & resource.meta.versionId strings bdl-7 compares, or undefined where one is not a plain string. */
function versionedUrls(entries: readonly Record<string, unknown>[]): string[] | undefined {
  const keys: string[] = [];
  for (const entry of entries) {
    const url = entry['fullUrl'];
    if (url === undefined) continue;
    const resource = entry['resource'];
    if (!isString(url) || (resource !== undefined && !isObject(resource))) return undefined;
    const meta = resource?.['meta'];
    if (meta !== undefined && !isObject(meta)) return undefined;
    const version = meta?.['versionId'];
    if (version !== undefined && !isString(version)) return undefined;
    keys.push(`${url}\u0000${version ?? ''}`);
  }
  return keys;
}

let extensionValueNames: ReadonlySet<string> | undefined;

/** ext-1's value.exists(): certain only where every key named value… is one of Extension.value[x]'s typed names. */
function extensionValueExists(extension: Record<string, unknown>): boolean | undefined {
  extensionValueNames ??= new Set([...compile(getDataType('Extension')).keys].filter(([, e]) => e.name === 'value[x]').map(([k]) => k));
  const names = Object.keys(extension).filter((k) => k.startsWith('value'));
  // Two typed names: the engine reads the first of the element's types held, whatever it holds.
  if (names.length > 1 || !names.every((k) => extensionValueNames?.has(k) === true)) return undefined;
  return names.length === 0 ? false : exists(extension[names[0] as string]);
}

/**
 * The invariants met many times in every message (each extension, each
 * Bundle entry, each resource), in JavaScript: evaluating them as FHIRPath
 * was about two fifths of what remained of validation. Each is checked
 * against @medplum/core's FHIRPath engine over every fixture and mutations
 * of them (test/fhir/quick-accept.test.ts).
 * See: https://hl7.org/fhir/R4/extensibility.html#ext-1, https://hl7.org/fhir/R4/domainresource.html#invs, https://hl7.org/fhir/R4/bundle.html#invs
 */
export const NATIVE_INVARIANTS: ReadonlyMap<string, NativeInvariant> = new Map<string, NativeInvariant>([
  [
    'ext-1',
    {
      type: 'Extension',
      expression: 'extension.exists() != value.exists()',
      holds: (e) => {
        const nested = exists(e['extension']);
        const value = extensionValueExists(e);
        return nested === undefined || value === undefined ? undefined : nested !== value;
      },
    },
  ],
  // With nothing contained, each of these is empty, so true; with something contained the expression decides.
  ['dom-2', { type: 'DomainResource', expression: 'contained.contained.empty()', holds: (r) => (r['contained'] === undefined ? true : undefined) }],
  ['dom-4', { type: 'DomainResource', expression: 'contained.meta.versionId.empty() and contained.meta.lastUpdated.empty()', holds: (r) => (r['contained'] === undefined ? true : undefined) }],
  ['dom-5', { type: 'DomainResource', expression: 'contained.meta.security.empty()', holds: (r) => (r['contained'] === undefined ? true : undefined) }],
  ['bdl-5', { type: 'BundleEntry', expression: 'resource.exists() or request.exists() or response.exists()', holds: (e) => anyOf(exists(e['resource']), exists(e['request']), exists(e['response'])) }],
  [
    'bdl-8',
    {
      type: 'BundleEntry',
      expression: "fullUrl.exists() implies fullUrl.contains('/_history/').not()",
      holds: (e) => (e['fullUrl'] === undefined ? true : isString(e['fullUrl']) ? !e['fullUrl'].includes('/_history/') : undefined),
    },
  ],
  [
    'bdl-1',
    {
      type: 'Bundle',
      expression: "total.empty() or (type = 'searchset') or (type = 'history')",
      holds: (b) => (b['total'] === undefined ? true : isString(b['type']) && exists(b['total']) === true ? b['type'] === 'searchset' || b['type'] === 'history' : undefined),
    },
  ],
  [
    'bdl-2',
    {
      type: 'Bundle',
      expression: "entry.search.empty() or (type = 'searchset')",
      holds: (b) => (b['type'] === 'searchset' ? true : isString(b['type']) ? allEntries(b, 'search', () => false) : undefined),
    },
  ],
  [
    'bdl-3',
    {
      type: 'Bundle',
      expression: "entry.all(request.exists() = (%resource.type = 'batch' or %resource.type = 'transaction' or %resource.type = 'history'))",
      holds: (b) => allEntries(b, 'request', (t) => t === 'batch' || t === 'transaction' || t === 'history'),
    },
  ],
  [
    'bdl-4',
    {
      type: 'Bundle',
      expression: "entry.all(response.exists() = (%resource.type = 'batch-response' or %resource.type = 'transaction-response' or %resource.type = 'history'))",
      holds: (b) => allEntries(b, 'response', (t) => t === 'batch-response' || t === 'transaction-response' || t === 'history'),
    },
  ],
  [
    'bdl-7',
    {
      type: 'Bundle',
      expression: "(type = 'history') or entry.where(fullUrl.exists()).select(fullUrl&resource.meta.versionId).isDistinct()",
      holds: (b) => {
        if (b['type'] === 'history') return true;
        const entries = entriesOf(b);
        const keys = entries === undefined ? undefined : versionedUrls(entries);
        if (keys === undefined || !isString(b['type'])) return undefined;
        return new Set(keys).size === keys.length;
      },
    },
  ],
  ['bdl-9', { type: 'Bundle', expression: "type = 'document' implies (identifier.system.exists() and identifier.value.exists())", holds: notDocument }],
  ['bdl-10', { type: 'Bundle', expression: "type = 'document' implies (timestamp.hasValue())", holds: notDocument }],
  ['bdl-11', { type: 'Bundle', expression: "type = 'document' implies entry.first().resource.is(Composition)", holds: notDocument }],
  [
    'bdl-12',
    {
      type: 'Bundle',
      expression: "type = 'message' implies entry.first().resource.is(MessageHeader)",
      holds: (b) => {
        if (!isString(b['type'])) return undefined;
        if (b['type'] !== 'message') return true;
        const entries = entriesOf(b);
        if (entries === undefined) return undefined;
        const resource = entries[0]?.['resource'];
        if (resource === undefined) return false;
        return isObject(resource) && isString(resource['resourceType']) ? resource['resourceType'] === 'MessageHeader' : undefined;
      },
    },
  ],
]);

interface CompiledSchema {
  /** JSON property name → element; a choice element under each of its typed names ("valueString"). */
  keys: ReadonlyMap<string, KeyedElement>;
  /** Elements with min ≥ 1, each with the JSON names that would satisfy it. */
  required: readonly { name: string; jsonNames: readonly string[] }[];
  /** The type's own invariants, checked at the root only (as the full validator does). */
  rootInvariants: readonly Invariant[];
  /** Each element's invariants, checked on every value it holds. */
  elementInvariants: ReadonlyMap<InternalSchemaElement, readonly Invariant[]>;
  /** Whether it names a nested element ("identifier.system"), as a profile may: left to the full validator. */
  dotted: boolean;
}

const compiled = new WeakMap<InternalTypeSchema, CompiledSchema>();

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
  const required: { name: string; jsonNames: string[] }[] = [];
  const elementInvariants = new Map<InternalSchemaElement, Invariant[]>();
  for (const [name, definition] of Object.entries(schema.elements)) {
    const jsonNames: string[] = [];
    if (name.endsWith('[x]')) {
      for (const t of definition.type) {
        const jsonName = `${name.slice(0, -3)}${capitalize(t.code)}`;
        keys.set(jsonName, { name, definition, type: t.code });
        jsonNames.push(jsonName);
      }
    } else if (!name.includes('.')) {
      keys.set(name, { name, definition, type: definition.type[0]?.code ?? 'undefined' });
      jsonNames.push(name);
    }
    if (definition.min > 0) required.push({ name, jsonNames });
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
  const walk: Walk = { variables: { '%ucum': toTypedValue(UCUM), '%resource': toTypedValue(resource), '%rootResource': root } };
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
  for (const { name } of required) if (!seen.has(name)) return false;
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
