/**
 * RFC 8785 JSON Canonicalization Scheme (JCS).
 * See: https://www.rfc-editor.org/rfc/rfc8785
 *
 * Numbers are serialised as ECMAScript Number.prototype.toString does (which
 * is what JSON.stringify emits for finite numbers, RFC 8785 section 3.2.2.3);
 * strings use JSON.stringify's escaping, which matches section 3.2.2.2;
 * object members are sorted by their names as arrays of UTF-16 code units
 * (section 3.2.3), which is JavaScript's default string ordering.
 */
export function canonicalJson(value: unknown): string {
  heldMutable = false;
  return canonical(value);
}

/**
 * The text of objects and arrays that are frozen all the way down, by
 * identity. Such a value cannot change, so its text cannot either: the audit
 * events' shared parts (codings, agents, the source) are frozen once and
 * written out once. Own enumerable data properties are all JSON reads; a
 * frozen object with a getter would be taken at its first reading, and JSON
 * has no getters to give.
 */
const frozenText = new WeakMap<object, string>();
/** Whether the object being written, or anything in it so far, could still change. */
let heldMutable = false;

function canonical(value: unknown): string {
  switch (typeof value) {
    case 'string':
      if (hasLoneSurrogate(value)) throw new TypeError('RFC 8785: lone surrogate in string');
      // Most strings need no escape at all: quoting them is what JSON.stringify would do.
      return NEEDS_ESCAPE.test(value) ? JSON.stringify(value) : `"${value}"`;
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError('RFC 8785: number must be finite');
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object': {
      if (value === null) return 'null';
      const frozen = Object.isFrozen(value);
      if (frozen) {
        const known = frozenText.get(value);
        if (known !== undefined) return known;
      }
      const outer = heldMutable;
      heldMutable = !frozen;
      const text = Array.isArray(value) ? arrayText(value) : objectText(value as Record<string, unknown>);
      if (!heldMutable) frozenText.set(value, text);
      heldMutable ||= outer;
      return text;
    }
    case 'undefined':
    case 'bigint':
    case 'function':
    case 'symbol':
      throw new TypeError(`RFC 8785: ${typeof value} is not JSON`);
  }
}

// Built by concatenation (V8 joins the pieces once, when the result is read): twice as fast as map and join.
function arrayText(value: readonly unknown[]): string {
  let out = '[';
  for (let i = 0; i < value.length; i += 1) {
    if (i > 0) out += ',';
    out += canonical(value[i] ?? null);
  }
  return `${out}]`;
}

function objectText(record: Record<string, unknown>): string {
  let out = '{';
  let first = true;
  for (const key of Object.keys(record).sort()) {
    const member = record[key];
    if (member === undefined) continue;
    if (!first) out += ',';
    first = false;
    out += `${canonical(key)}:${canonical(member)}`;
  }
  return `${out}}`;
}

/** A value frozen all the way down, so that `canonicalJson` writes it out once. */
export function deepFrozen<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const member of Object.values(value)) deepFrozen(member);
    Object.freeze(value);
  }
  return value;
}

/** What JSON.stringify (and section 3.2.2.2) escapes in a well-formed string: the quote, the backslash, controls. */
// eslint-disable-next-line no-control-regex -- the control characters are the point
const NEEDS_ESCAPE = /["\\\u0000-\u001f]/;

function hasLoneSurrogate(s: string): boolean {
  return !s.isWellFormed();
}
