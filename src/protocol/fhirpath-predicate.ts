import { AndAtom, DotAtom, EqualsAtom, evalFhirPath, FhirPathAtom, FunctionAtom, getAllDataTypes, isDataTypeLoaded, isResourceType, LiteralAtom, NotEqualsAtom, OrAtom, SymbolAtom, tryGetDataType, type Atom } from '@medplum/core';
import type { Resource } from 'fhir/r4.js';

// A protocol's FHIRPath (a data item's `select`, a flow's `where`) turned,
// once per protocol version, into a JavaScript predicate over the resource's
// JSON. @medplum/core's evaluator wraps every value in a typed value and looks
// each element up in the type schemas on every call, which made it the
// dearest step of a decision. The expressions protocols use are small
// (navigation, where(), exists(), =, !=, and, or over literals), so those are
// closed over directly, with @medplum/core 4.5.2's own rules (its three-valued
// and/or, its equality, its "exists" of non-empty values). Anything else, and
// any resource whose JSON the plain reading might read differently from the
// typed one (primitive extensions `_x`, choice variants `valueX`, empty or null
// values, nested arrays, comparisons of objects), goes to @medplum/core itself.
// See: https://hl7.org/fhirpath/N1/ and https://hl7.org/fhir/R4/fhirpath.html

/** FHIRPath truth for the decision: a non-empty result with no false in it. */
export type FhirPathPredicate = (resource: Resource) => boolean;

/** A compiled step: the collection an expression gives for an input collection of plain JSON values. */
type Step = (input: readonly unknown[]) => unknown[];

/** Thrown by a compiled step that meets JSON it does not read as @medplum/core would; never escapes. */
const DEFER = new Error('deferred to @medplum/core');

/**
 * The predicate for a parsed expression: compiled when the expression is in
 * the subset above, else (and for odd JSON at run time) @medplum/core's evaluation.
 */
export function compilePredicate(atom: FhirPathAtom): FhirPathPredicate {
  const fast = compileFast(atom);
  if (fast === undefined) return (resource) => holdsByMedplum(atom, resource);
  return (resource) => fast(resource) ?? holdsByMedplum(atom, resource);
}

/**
 * The compiled predicate alone: undefined for an expression outside the subset;
 * the predicate answers undefined for a resource it defers to @medplum/core.
 */
export function compileFast(atom: FhirPathAtom): ((resource: Resource) => boolean | undefined) | undefined {
  const step = compileAtom(atom);
  if (step === undefined) return undefined;
  return (resource) => {
    // @medplum/core takes an input with `type` and `value` for an already typed value.
    if ('type' in resource && 'value' in resource) return undefined;
    try {
      return truth(step([resource]));
    } catch (err) {
      if (err === DEFER) return undefined;
      throw err;
    }
  };
}

/** The expression as @medplum/core evaluates it; one it cannot evaluate on this record does not hold for it. */
export function holdsByMedplum(atom: FhirPathAtom, resource: Resource): boolean {
  try {
    return truth(evalFhirPath(atom, resource));
  } catch {
    return false;
  }
}

function truth(result: readonly unknown[]): boolean {
  if (result.length === 0) return false;
  for (const v of result) if (v === false) return false;
  return true;
}

function compileAtom(atom: Atom): Step | undefined {
  if (atom instanceof FhirPathAtom) return compileAtom(atom.child);
  if (atom instanceof DotAtom) {
    const left = compileAtom(atom.left);
    const right = compileAtom(atom.right);
    return left === undefined || right === undefined ? undefined : (input) => right(left(input));
  }
  if (atom instanceof SymbolAtom) return compileSymbol(atom.name);
  if (atom instanceof LiteralAtom) return compileLiteral(atom);
  if (atom instanceof FunctionAtom) return compileFunction(atom);
  if (atom instanceof EqualsAtom || atom instanceof NotEqualsAtom) {
    const left = compileAtom(atom.left);
    const right = compileAtom(atom.right);
    if (left === undefined || right === undefined) return undefined;
    return atom instanceof EqualsAtom ? (input) => arrayEquals(left(input), right(input)) : (input) => arrayNotEquals(left(input), right(input));
  }
  if (atom instanceof AndAtom || atom instanceof OrAtom) {
    // @medplum/core throws on an operand that is not one boolean (or nothing): only operands that cannot be compile.
    if (!isBooleanValued(atom.left) || !isBooleanValued(atom.right)) return undefined;
    const left = compileAtom(atom.left);
    const right = compileAtom(atom.right);
    if (left === undefined || right === undefined) return undefined;
    return atom instanceof AndAtom ? (input) => and(first(left(input)), first(right(input))) : (input) => or(first(left(input)), first(right(input)));
  }
  return undefined;
}

/** Nodes that always give one boolean or nothing. */
function isBooleanValued(atom: Atom): boolean {
  if (atom instanceof EqualsAtom || atom instanceof NotEqualsAtom || atom instanceof AndAtom || atom instanceof OrAtom) return true;
  if (atom instanceof FunctionAtom) return atom.name === 'exists';
  return atom instanceof LiteralAtom && atom.value.type === 'boolean' && typeof atom.value.value === 'boolean';
}

function compileLiteral(atom: LiteralAtom): Step | undefined {
  const type = atom.value.type;
  const value: unknown = atom.value.value;
  const plain =
    (type === 'string' && typeof value === 'string') ||
    (type === 'boolean' && typeof value === 'boolean') ||
    ((type === 'integer' || type === 'decimal') && typeof value === 'number');
  return plain ? () => [value] : undefined;
}

function compileFunction(atom: FunctionAtom): Step | undefined {
  const [criteria, ...rest] = atom.args;
  if (rest.length > 0) return undefined;
  const test = criteria === undefined ? undefined : compileAtom(criteria);
  if (criteria !== undefined && test === undefined) return undefined;
  switch (atom.name) {
    case 'where':
      return test === undefined ? undefined : (input) => input.filter((n) => isTruthy(test([n])));
    case 'exists':
      if (test !== undefined) return (input) => [input.some((n) => isTruthy(test([n])))];
      return (input) => [input.length > 0 && input.every((n) => !isEmpty(n))];
    default:
      return undefined;
  }
}

/**
 * Navigation by an element name: a resource of that type is itself, an
 * element's values are collected, arrays flattened. JSON that @medplum/core's
 * typed reading could see otherwise defers to it.
 */
function compileSymbol(name: string): Step | undefined {
  if (name.startsWith('$') || name.startsWith('%') || name in Object.prototype || name === '__proto__') return undefined;
  const extension = `_${name}`;
  // Where the name could itself be a choice variant (statusReason: status + Reason), the prefixes that could be its element.
  const prefixes: string[] = [];
  for (let i = 1; i < name.length; i += 1) if (isUpper(name.charCodeAt(i))) prefixes.push(name.slice(0, i));
  return (input) => {
    const out: unknown[] = [];
    for (const t of input) {
      if (typeof t !== 'object' || t === null) continue;
      if (Array.isArray(t)) throw DEFER;
      if ('resourceType' in t && t.resourceType === name) {
        out.push(t);
        continue;
      }
      if (extension in t || hasVariant(t, name, prefixes)) throw DEFER;
      const v = (t as Record<string, unknown>)[name];
      if (v === undefined) {
        if (name in t) throw DEFER;
        continue;
      }
      // With the type schemas loaded, a choice element (value[x]) is never read from its bare name.
      if (isChoiceElement(t, name)) throw DEFER;
      if (Array.isArray(v)) {
        if (v.length === 0) throw DEFER;
        for (const e of v as unknown[]) {
          if (isEmpty(e) || Array.isArray(e)) throw DEFER;
          out.push(e);
        }
      } else {
        if (isEmpty(v)) throw DEFER;
        out.push(v);
      }
    }
    return out;
  };
}

let nestedBases: ReadonlySet<string> = new Set();
let basesWithSchemas = false;

/**
 * Whether @medplum/core's typed reading takes `name` on `t` as a choice
 * element (value for value[x]), which it never reads from the bare name. None
 * before the type schemas are loaded (it then reads bare names as they
 * stand). A resource is looked up by its type; an element inside one, whose
 * type the plain reading does not know, by every data type and backbone
 * element that has such a choice (deferring more often than needed, never less).
 */
function isChoiceElement(t: object, name: string): boolean {
  const loaded = isDataTypeLoaded('Observation');
  if (!loaded) return false;
  const resourceType = (t as { resourceType?: unknown }).resourceType;
  if (typeof resourceType === 'string') return tryGetDataType(resourceType)?.elements[`${name}[x]`] !== undefined;
  if (!basesWithSchemas) {
    const names = new Set<string>();
    for (const [type, schema] of Object.entries(getAllDataTypes())) {
      if (isResourceType(type)) continue;
      for (const path of Object.keys(schema.elements)) {
        if (path.endsWith('[x]')) names.add(path.slice(path.lastIndexOf('.') + 1, -3));
      }
    }
    nestedBases = names;
    basesWithSchemas = true;
  }
  return nestedBases.has(name);
}

/**
 * Some key of the object other than the name is a choice variant the typed
 * reading could take for it: the name followed by a capital (valueString for
 * value), or one of its prefixes followed by a capital (statusFoo beside statusReason).
 */
function hasVariant(t: object, name: string, prefixes: readonly string[]): boolean {
  for (const key in t) {
    if (key === name) continue;
    if (isVariant(key, name)) return true;
    for (const prefix of prefixes) if (isVariant(key, prefix)) return true;
  }
  return false;
}

function isVariant(key: string, base: string): boolean {
  return key.length > base.length && isUpper(key.charCodeAt(base.length)) && key.startsWith(base);
}

function isUpper(c: number): boolean {
  return c >= 65 && c <= 90;
}

/** @medplum/core 4.5.2's emptiness: nothing, '', or an object or array with nothing in it. */
function isEmpty(v: unknown): boolean {
  if (v === null || v === undefined) return true;
  if (typeof v === 'string') return v === '';
  if (typeof v !== 'object') return false;
  if ('length' in v && typeof v.length === 'number' && v.length > 0) return false;
  for (const key in v) if (Object.hasOwn(v, key)) return false;
  return true;
}

/** @medplum/core's truth of a collection in where() and exists(criteria): its first value, if any, is truthy. */
function isTruthy(result: readonly unknown[]): boolean {
  return result.length > 0 && Boolean(result[0]);
}

function first(result: readonly unknown[]): unknown {
  if (result.length > 1) throw DEFER;
  return result[0];
}

function and(l: unknown, r: unknown): unknown[] {
  if (l === true && r === true) return [true];
  if (l === false || r === false) return [false];
  return [];
}

function or(l: unknown, r: unknown): unknown[] {
  if (l === false && r === false) return [false];
  if (Boolean(l) || Boolean(r)) return [true];
  return [];
}

function arrayEquals(x: readonly unknown[], y: readonly unknown[]): unknown[] {
  if (x.length === 0 || y.length === 0) return [];
  if (x.length !== y.length) return [false];
  for (let i = 0; i < x.length; i += 1) if (!equals(x[i], y[i])) return [false];
  return [true];
}

function arrayNotEquals(x: readonly unknown[], y: readonly unknown[]): unknown[] {
  if (x.length === 0 || y.length === 0) return [];
  if (x.length !== y.length) return [true];
  for (let i = 0; i < x.length; i += 1) if (!equals(x[i], y[i])) return [true];
  return [false];
}

/** Equality of two plain values; objects (quantities, codings) are compared by @medplum/core. */
function equals(x: unknown, y: unknown): boolean {
  if (typeof x === 'number' && typeof y === 'number') return Math.abs(x - y) < 1e-8;
  if (typeof x === 'object' || typeof y === 'object') throw DEFER;
  return x === y;
}
