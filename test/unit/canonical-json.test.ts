import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson, deepFrozen } from '../../src/audit/canonical-json.js';
import { auditLeafHash, chainHash, EMPTY_CHAIN, leafHash } from '../../src/audit/log-hash.js';

describe('RFC 8785 canonical JSON', () => {
  it.each([
    ['sorts members', { b: 2, a: 1, c: { z: true, y: null } }, '{"a":1,"b":2,"c":{"y":null,"z":true}}'],
    ['keeps array order', [3, 1, 2], '[3,1,2]'],
    ['drops whitespace', JSON.parse('{ "a" : [ 1 , 2 ] }'), '{"a":[1,2]}'],
    ['writes integers plainly', { n: 100 }, '{"n":100}'],
    ['writes negative zero as 0', { n: -0 }, '{"n":0}'],
    ['uses exponents from 1e21', { n: 1e21 }, '{"n":1e+21}'],
    ['writes 1e20 in full', { n: 1e20 }, '{"n":100000000000000000000}'],
    ['writes small fractions plainly down to 1e-6', { n: 0.000001 }, '{"n":0.000001}'],
    ['uses exponents below 1e-6', { n: 1e-7 }, '{"n":1e-7}'],
    ['writes the shortest round-tripping form', { n: 0.1 + 0.2 }, '{"n":0.30000000000000004}'],
    ['escapes controls, quote and backslash only', { s: '\n\t"\\\u0001€' }, '{"s":"\\n\\t\\"\\\\\\u0001€"}'],
    ['leaves U+2028 unescaped', { s: '\u2028' }, '{"s":"\u2028"}'],
  ])('%s', (_name, value, expected) => {
    expect(canonicalJson(value)).toBe(expected);
  });

  it('orders member names by UTF-16 code units, not code points', () => {
    const value = { '\u20ac': 1, '\r': 2, '\ufb33': 3, '1': 4, '\ud83d\ude00': 5, '\u0080': 6, '\u00f6': 7 };
    expect(Object.keys(JSON.parse(canonicalJson(value)) as object)).toEqual(['1', '\r', '\u0080', '\u00f6', '\u20ac', '\ud83d\ude00', '\ufb33']);
    expect(canonicalJson(value).indexOf('\ud83d\ude00')).toBeLessThan(canonicalJson(value).indexOf('\ufb33'));
  });

  it.each([
    ['a lone surrogate', { s: '\ud800' }],
    ['NaN', { n: Number.NaN }],
    ['Infinity', [Number.POSITIVE_INFINITY]],
    ['a bigint', { n: 1n }],
  ])('refuses %s', (_name, value) => {
    expect(() => canonicalJson(value)).toThrow(/RFC 8785/);
  });

  it('writes every well-formed string exactly as JSON.stringify does (section 3.2.2.2), controls, quotes and astral characters included (property)', () => {
    const chars = fc.oneof(fc.constantFrom('"', '\\', '\u0000', '\u001f', '\u007f', '\u2028', '\ud83d\ude00', '/'), fc.string({ unit: 'grapheme', maxLength: 3 }));
    fc.assert(
      fc.property(fc.array(chars, { maxLength: 12 }), (parts) => {
        const s = parts.join('');
        expect(canonicalJson(s)).toBe(JSON.stringify(s));
      }),
      { numRuns: 500 },
    );
  });

  it('is stable under re-parsing and member order (property)', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const once = canonicalJson(value);
        expect(canonicalJson(JSON.parse(once))).toBe(once);
        const shuffled = JSON.parse(JSON.stringify(value, (_k, v: unknown) =>
          v !== null && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).reverse()) : v,
        )) as unknown;
        expect(canonicalJson(shuffled)).toBe(once);
      }),
      { numRuns: 300 },
    );
  });
});

describe('canonical JSON of frozen values', () => {
  it('writes a value frozen all the way down as it writes an unfrozen copy, again and again, alone and inside others (property)', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const expected = canonicalJson(structuredClone(value));
        const frozen = deepFrozen(structuredClone(value));
        expect(canonicalJson(frozen)).toBe(expected);
        expect(canonicalJson(frozen)).toBe(expected);
        expect(canonicalJson({ b: [frozen, { c: frozen }], a: frozen })).toBe(canonicalJson({ b: [value, { c: value }], a: value }));
      }),
      { numRuns: 300 },
    );
  });

  it('writes a frozen object again when something inside it can still change', () => {
    const inner = { code: '1' };
    const outer = Object.freeze({ coding: Object.freeze([inner]) });
    expect(canonicalJson(outer)).toBe('{"coding":[{"code":"1"}]}');
    inner.code = '2';
    expect(canonicalJson(outer)).toBe('{"coding":[{"code":"2"}]}');
    expect(canonicalJson({ x: outer })).toBe('{"x":{"coding":[{"code":"2"}]}}');
  });

  it('writes a mutable object holding frozen parts afresh each time', () => {
    const part = deepFrozen({ system: 's', code: 'c' });
    const holder: { a: unknown; b?: unknown } = { a: part };
    expect(canonicalJson(holder)).toBe('{"a":{"code":"c","system":"s"}}');
    holder.b = 1;
    expect(canonicalJson(holder)).toBe('{"a":{"code":"c","system":"s"},"b":1}');
  });

  it('checks a frozen value when it first writes it: a lone surrogate is refused, and still refused the next time', () => {
    const bad = deepFrozen({ s: '\ud800' });
    expect(() => canonicalJson(bad)).toThrow(/RFC 8785/);
    expect(() => canonicalJson(bad)).toThrow(/RFC 8785/);
    // A failure half way leaves nothing behind: the next value is written whole.
    expect(canonicalJson(deepFrozen({ a: [1, { b: 2 }] }))).toBe('{"a":[1,{"b":2}]}');
  });
});

describe('log hashes', () => {
  it('computes the RFC 6962 leaf hash with the 0x00 prefix', () => {
    // SHA-256 of the single byte 0x00: the leaf hash of an empty entry.
    expect(leafHash(new Uint8Array())).toBe('6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d');
    expect(auditLeafHash({ b: 1, a: 2 })).toBe(auditLeafHash({ a: 2, b: 1 }));
    expect(auditLeafHash({ a: 1 })).not.toBe(auditLeafHash({ a: 2 }));
  });

  it('chains from 32 zero bytes', () => {
    expect(EMPTY_CHAIN).toHaveLength(64);
    const leaf = auditLeafHash({ a: 1 });
    expect(chainHash(EMPTY_CHAIN, leaf)).not.toBe(chainHash(leaf, EMPTY_CHAIN));
    expect(chainHash(EMPTY_CHAIN, leaf)).toMatch(/^[0-9a-f]{64}$/);
  });
});
