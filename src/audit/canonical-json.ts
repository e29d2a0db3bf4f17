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
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError('RFC 8785: number must be finite');
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object': {
      if (value === null) return 'null';
      if (Array.isArray(value)) return `[${value.map((v: unknown) => canonicalJson(v ?? null)).join(',')}]`;
      const record = value as Record<string, unknown>;
      const members = Object.keys(record)
        .filter((k) => record[k] !== undefined)
        .sort()
        .map((k) => `${canonicalJson(k)}:${canonicalJson(record[k])}`);
      return `{${members.join(',')}}`;
    }
    case 'undefined':
    case 'bigint':
    case 'function':
    case 'symbol':
      throw new TypeError(`RFC 8785: ${typeof value} is not JSON`);
  }
}

function hasLoneSurrogate(s: string): boolean {
  return !s.isWellFormed();
}
