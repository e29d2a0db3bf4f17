import { capitalize, getDataType } from '@medplum/core';
import { SYSTEMS } from './systems.js';

// Invariants of the R4 definitions as JavaScript predicates, for the quick
// acceptance (quick-accept.ts): the ones met many times in every message
// (each extension, each Bundle entry, each resource), whose evaluation as
// FHIRPath was about two fifths of what remained of validation. A predicate
// answers only where it is certain to answer as the expression does, and
// stands in for it only under the same key with the same expression text.

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
  extensionValueNames ??= new Set((getDataType('Extension').elements['value[x]']?.type ?? []).map((t) => `value${capitalize(t.code)}`));
  const names = Object.keys(extension).filter((k) => k.startsWith('value'));
  // Two typed names: the engine reads the first of the element's types held, whatever it holds.
  if (names.length > 1 || !names.every((k) => extensionValueNames?.has(k) === true)) return undefined;
  return names.length === 0 ? false : exists(extension[names[0] as string]);
}

/** Not both: (a.exists() and b.exists()).not(), and a.empty() or b.empty(), where each is certain. */
function notBoth(a: unknown, b: unknown): boolean | undefined {
  const [x, y] = [exists(a), exists(b)];
  if (x === false || y === false) return true;
  return x === true && y === true ? false : undefined;
}

/**
 * eyhub-pat-1 where it is certain: every identifier an object whose system is
 * absent or a string, and each NHS number's value a string (an NHS number
 * without a value, or anything stranger, is left to the engine).
 */
function nhsNumbersAreTenDigits(patient: Record<string, unknown>): boolean | undefined {
  const identifiers = patient['identifier'];
  if (identifiers === undefined) return true;
  if (!Array.isArray(identifiers) || identifiers.length === 0 || !identifiers.every(isObject)) return undefined;
  let holds = true;
  for (const identifier of identifiers) {
    const system = identifier['system'];
    if (system === undefined) continue;
    if (!isString(system)) return undefined;
    if (system !== SYSTEMS.nhsNumber) continue;
    const value = identifier['value'];
    if (!isString(value)) return undefined;
    holds &&= /^[0-9]{10}$/.test(value);
  }
  return holds;
}

/** ppc-2 to ppc-5 (R4 Consent): true wherever the Consent names its patient, else the expression decides. */
function consentScope(key: string, code: string): [string, NativeInvariant] {
  return [
    key,
    {
      type: 'Consent',
      expression: `patient.exists() or scope.coding.where(system='something' and code='${code}').exists().not()`,
      holds: (c) => (exists(c['patient']) === true ? true : undefined),
    },
  ];
}

/**
 * The invariants met many times in every message (each extension, each
 * Bundle entry, each resource, each item of a CAF's QuestionnaireResponse),
 * in JavaScript: evaluating them as FHIRPath was about two fifths of what
 * remained of validation, and a CAF's ~25 answered items each evaluated
 * qrs-1. Each is checked against @medplum/core's FHIRPath engine over every
 * fixture and mutations of them (test/fhir/quick-accept.test.ts).
 * See: https://hl7.org/fhir/R4/extensibility.html#ext-1, https://hl7.org/fhir/R4/domainresource.html#invs, https://hl7.org/fhir/R4/bundle.html#invs,
 * https://hl7.org/fhir/R4/questionnaireresponse.html#invs, https://hl7.org/fhir/R4/careplan.html#invs, https://hl7.org/fhir/R4/consent.html#invs
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
  ['qrs-1', { type: 'QuestionnaireResponseItem', expression: '(answer.exists() and item.exists()).not()', holds: (i) => notBoth(i['answer'], i['item']) }],
  ['cpl-3', { type: 'CarePlanActivity', expression: 'detail.empty() or reference.empty()', holds: (a) => notBoth(a['detail'], a['reference']) }],
  ['ppc-1', { type: 'Consent', expression: 'policy.exists() or policyRule.exists()', holds: (c) => anyOf(exists(c['policy']), exists(c['policyRule'])) }],
  consentScope('ppc-2', 'patient-privacy'),
  consentScope('ppc-3', 'research'),
  consentScope('ppc-4', 'adr'),
  consentScope('ppc-5', 'treatment'),
  [
    'eyhub-pat-1',
    {
      type: 'Patient',
      expression: "identifier.where(system = 'https://fhir.nhs.uk/Id/nhs-number').all(value.matches('^[0-9]{10}$'))",
      holds: nhsNumbersAreTenDigits,
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
