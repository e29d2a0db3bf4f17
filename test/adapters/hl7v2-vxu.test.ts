import fc from 'fast-check';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it, test } from 'vitest';
import { decodeEscapes, DEFAULT_ENCODING, parseHl7Timestamp } from '../../src/adapters/hl7v2-parse.js';
import { adaptHl7v2, hl7Ack, type Hl7MessageResult } from '../../src/adapters/hl7v2-vxu.js';
import type { AdapterResult } from '../../src/adapters/ingest-unit.js';
import { haveSharedFixtures, sharedFixtures } from '../conformance/shared-fixtures.js';
import { expectGolden, readFixture } from '../support/golden.js';
import { nhsNumber } from '../support/resources.js';

// HL7 v2.5.1 VXU^V04 adapter: golden files over our own synthetic fixtures,
// refusals with their locations, ACKs, property tests that nothing crashes
// it, and the shared partner fixtures as a conformance suite.

const OPTIONS = { now: '20261122090000+0000', ackControlIdPrefix: 'TEST-ACK-' };
const NHS = nhsNumber(4242);

/** A valid single VXU, one segment per entry, so tests can break one thing at a time. */
const BASE = [
  'MSH|^~\\&|EMISWEB|Y90001|EYHUB|EASTSIDE|20260724091500+0100||VXU^V04^VXU_V04|Y90001-T-1|P|2.5.1|||AL|NE',
  `PID|1||${NHS}^^^NHS^NH||TESTCHILD^KILO^^^^^L||20260402|F|||1 Synthetic Street^^Testtown^^E1 0AA^GBR^H||07700 900001^PRN^CP`,
  'PD1|||GP^^Y90001',
  'NK1|1|TESTCHILD^PARENT^^^^^L|MTH^Mother^HL70063',
  'ORC|RE||Y90001-IMM-1^EMISWEB',
  'RXA|0|1|20260723|20260723|770618004^Third 6-in-1 dose^SCT|999||||||||||||201741000000102^Did not attend child immunisation^SCT||NA|A',
];

const hl7 = (segments: readonly string[]): string => `${segments.join('\r')}\r`;

/** Sets field n of every segment with that ID (MSH numbering counts MSH-1, the separator). */
function withField(segments: readonly string[], name: string, field: number, value: string): string[] {
  return segments.map((s) => {
    if (!s.startsWith(`${name}|`)) return s;
    const fields = s.split('|');
    const index = name === 'MSH' ? field - 1 : field;
    while (fields.length <= index) fields.push('');
    fields[index] = value;
    return fields.join('|');
  });
}

function single(text: string): Hl7MessageResult {
  const adapted = adaptHl7v2(text, OPTIONS);
  if (!adapted.ok) throw new Error(`expected messages, got ${JSON.stringify(adapted.issues)}`);
  expect(adapted.value.messages).toHaveLength(1);
  return adapted.value.messages[0]!;
}

describe('golden files', () => {
  const names = ['missed-dose-na', 'catch-up-cp', 'refusal-re', 'entered-in-error', 'batch-fhs-bhs', 'lf-separated', 'mllp-crlf', 'escapes', 'custom-encoding', 'protected-pd1-12'];
  test.each(names)('%s', async (name) => {
    await expectGolden(`hl7v2/${name}`, adaptHl7v2(await readFixture(`hl7v2/${name}.hl7`), OPTIONS));
  });

  it('decodes escape sequences in names and addresses', async () => {
    const { result } = single(await readFixture('hl7v2/escapes.hl7'));
    const patient = result.ok ? result.value.entries[0]?.resource : undefined;
    expect(patient).toMatchObject({
      name: [{ family: "TEST'CHILD-ZOë", given: ['GOLF\\HOTEL'] }],
      address: [{ line: ['Flat 1 & 2\nSynthetic Court', 'Pipe | Caret ^ Tilde ~'] }],
    });
  });

  it('keeps only the date when RXA-3 has a time but no zone', async () => {
    const { result } = single(await readFixture('hl7v2/lf-separated.hl7'));
    const immunization = result.ok ? result.value.entries.find((e) => e.resource.resourceType === 'Immunization')?.resource : undefined;
    expect(immunization).toMatchObject({ occurrenceDateTime: '2026-08-31', status: 'completed' });
  });

  it('is deterministic: same input, same units and full URLs', async () => {
    const text = await readFixture('hl7v2/batch-fhs-bhs.hl7');
    expect(adaptHl7v2(text, OPTIONS)).toEqual(adaptHl7v2(text, OPTIONS));
  });
});

describe('PD1-12 protection indicator', () => {
  it('Y restricts the Patient (v3-Confidentiality R); N adds no label; anything else is refused at PD1-12', async () => {
    const text = await readFixture('hl7v2/protected-pd1-12.hl7');
    const patientOf = (hl7: string) => {
      const { result } = single(hl7);
      return result.ok ? result.value.entries[0]?.resource : undefined;
    };
    expect(patientOf(text)?.meta?.security).toEqual([{ system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'R', display: 'restricted' }]);
    expect(patientOf(text.replace('|||||||||Y', '|||||||||N'))?.meta).toBeUndefined();
    expect(single(text.replace('|||||||||Y', '|||||||||X')).result).toMatchObject({ ok: false, issues: [{ location: 'PD1-12' }] });
  });
});

describe('refusals', () => {
  it('refuses what is not HL7 at all as unparsable', () => {
    const adapted = adaptHl7v2('Dear Health Visitor,\nPlease find attached the list of children.\n', OPTIONS);
    expect(adapted).toMatchObject({ ok: false, kind: 'unparsable', issues: [{ code: 'structure', location: 'line 1' }] });
  });

  test.each([
    ['empty input', '', 'MSH'],
    ['only a batch envelope', 'FHS|^~\\&|EMISWEB|Y90001\rFTS|0\r', 'MSH'],
    ['a broken MSH-2', 'MSH|^|EMISWEB\r', 'MSH-2'],
    ['a batch count that disagrees', `BHS|^~\\&\r${hl7(BASE)}BTS|2\r`, 'BTS-1'],
    ['a segment before any MSH', `FHS|^~\\&\rPID|1\r${hl7(BASE)}`, 'line 2'],
  ])('refuses %s as unparsable', (_label, text, location) => {
    const adapted = adaptHl7v2(text, OPTIONS);
    expect(adapted.ok).toBe(false);
    if (adapted.ok) return;
    expect(adapted.kind).toBe('unparsable');
    expect(adapted.issues[0]).toMatchObject({ code: 'structure', location });
    expect(adapted.issues[0]?.diagnostics).toMatch(/\w+ \w+ \w+/);
  });

  test.each([
    ['no PID', BASE.filter((s) => !s.startsWith('PID')), 'PID', 'required', /PID segment/],
    ['a bad NHS check digit', withField(BASE, 'PID', 3, `${NHS.slice(0, 9)}${(Number(NHS.charAt(9)) + 1) % 10}^^^NHS^NH`), 'PID-3', 'value', /modulus-11/],
    ['no NHS number', withField(BASE, 'PID', 3, 'LOCAL-1^^^Y90001^PI'), 'PID-3', 'required', /NHS number/],
    ['a bad RXA-20', withField(BASE, 'RXA', 20, 'XX'), 'RXA-20', 'code-invalid', /completion status/],
    ['a missing RXA-20', withField(BASE, 'RXA', 20, ''), 'RXA-20', 'code-invalid', /completion status/],
    ['another message type', withField(BASE, 'MSH', 9, 'ADT^A01^ADT_A01'), 'MSH-9', 'not-supported', /ADT\^A01 is not supported/],
    ['a bad birth date', withField(BASE, 'PID', 7, '20261340'), 'PID-7', 'value', /date of birth/],
    ['an unknown sex', withField(BASE, 'PID', 8, 'X'), 'PID-8', 'code-invalid', /M, F, U or O/],
    ['no MSH-10', withField(BASE, 'MSH', 10, ''), 'MSH-10', 'required', /control ID/],
    ['no ORC-3', withField(BASE, 'ORC', 3, ''), 'ORC-3', 'required', /filler order number/],
    ['no RXA', BASE.filter((s) => !s.startsWith('RXA')), 'RXA', 'required', /RXA segment/],
    ['no RXA-3', withField(BASE, 'RXA', 3, ''), 'RXA-3', 'required', /date of administration/],
    ['a bad RXA-3', withField(BASE, 'RXA', 3, '2026072'), 'RXA-3', 'value', /YYYYMMDD/],
    ['no RXA-5', withField(BASE, 'RXA', 5, ''), 'RXA-5', 'required', /administered code/],
    ['a non-SNOMED RXA-5', withField(BASE, 'RXA', 5, '20^DTaP^CVX'), 'RXA-5', 'code-invalid', /SNOMED/],
    ['an RXA-5 that is no SNOMED CT id', withField(BASE, 'RXA', 5, 'x^Third 6-in-1 dose^SCT'), 'RXA-5', 'code-invalid', /SNOMED/],
    ['two patients in one message', [...BASE, BASE[1]!], 'PID[2]', 'structure', /more than one PID/],
  ])('refuses a message with %s', (_label, segments, location, code, diagnostics) => {
    const { result } = single(hl7(segments));
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.kind).toBe('invalid');
    expect(result.issues).toContainEqual(expect.objectContaining({ location, code }));
    expect(result.issues.find((i) => i.location === location)?.diagnostics).toMatch(diagnostics);
  });

  it('marks RXA-21 D as entered-in-error, still an upsert', () => {
    const { result } = single(hl7(withField(BASE, 'RXA', 21, 'D')));
    const entry = result.ok ? result.value.entries.find((e) => e.resource.resourceType === 'Immunization') : undefined;
    expect(entry).toMatchObject({ action: 'upsert', resource: { status: 'entered-in-error' } });
  });
});

describe('ACK', () => {
  const segmentsOf = (ack: string): string[][] => ack.split('\r').filter(Boolean).map((s) => s.split('|'));

  it('answers AA to a good message, sender and receiver swapped', () => {
    const { ack, result } = single(hl7(BASE));
    expect(result.ok).toBe(true);
    expect(ack).toBe('MSH|^~\\&|EYHUB|EASTSIDE|EMISWEB|Y90001|20261122090000+0000||ACK^V04^ACK|TEST-ACK-1|P|2.5.1\rMSA|AA|Y90001-T-1\r');
  });

  it('answers AE with an ERR naming RXA^1^20 for a bad completion status', () => {
    const segments = segmentsOf(single(hl7(withField(BASE, 'RXA', 20, 'XX'))).ack);
    expect(segments[1]).toEqual(['MSA', 'AE', 'Y90001-T-1']);
    const err = segments.find((s) => s[0] === 'ERR');
    expect(err?.slice(2, 5)).toEqual(['RXA^1^20', '103^Table value not found^HL70357', 'E']);
    expect(err?.[8]).toMatch(/completion status/);
  });

  it('answers AR to another message type', () => {
    const segments = segmentsOf(single(hl7(withField(BASE, 'MSH', 9, 'ADT^A01'))).ack);
    expect(segments[1]?.[1]).toBe('AR');
    expect(segments[2]?.slice(2, 4)).toEqual(['MSH^1^9', '200^Unsupported message type^HL70357']);
  });

  it('escapes delimiters in ERR-8 and names a whole segment without a field', () => {
    const original = { fieldSeparator: '|', encodingCharacters: '^~\\&', sendingApplication: 'A', sendingFacility: 'B', receivingApplication: 'C', receivingFacility: 'D', controlId: 'X1', processingId: 'P', version: '2.5.1' };
    const ack = hl7Ack(original, 'AE', [{ code: 'required', location: 'PID', diagnostics: 'a|b^c&d~e\\f' }], 'ACK-1', '20261122');
    expect(segmentsOf(ack)[2]).toEqual(['ERR', '', 'PID^1', '100^Segment sequence error^HL70357', 'E', '', '', '', 'a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f']);
  });
});

describe('parsing details', () => {
  test.each([
    ['20260723', '2026-07-23', '2026-07-23'],
    ['202607', '2026-07', '2026-07'],
    ['20260723101500', '2026-07-23', '2026-07-23'],
    ['202607231015+0100', '2026-07-23', '2026-07-23T10:15:00+01:00'],
    ['20260723101530.25-0500', '2026-07-23', '2026-07-23T10:15:30.25-05:00'],
  ])('reads the HL7 timestamp %s', (text, date, dateTime) => {
    expect(parseHl7Timestamp(text)).toEqual({ date, dateTime });
  });

  test.each(['', '20260230', '20261301', '20260723251500', '2026072310+2500', 'yesterday', '00000101'])('refuses the HL7 timestamp %s', (text) => {
    expect(parseHl7Timestamp(text)).toBeUndefined();
  });

  test.each([
    ['\\F\\\\S\\\\T\\\\R\\\\E\\', '|^&~\\'],
    ['line\\.br\\next', 'line\nnext'],
    ['\\X4142\\', 'AB'],
    ['caf\\XE9\\', 'café'],
    ['\\H\\bold\\N\\', 'bold'],
    ['unknown \\Q\\ and unterminated \\F', 'unknown \\Q\\ and unterminated \\F'],
  ])('decodes %s', (text, expected) => {
    expect(decodeEscapes(text, DEFAULT_ENCODING)).toBe(expected);
  });

  it('decodes a very long \\X..\\ escape without overflowing the stack', () => {
    expect(decodeEscapes(`\\X${'E9'.repeat(300_000)}\\`, DEFAULT_ENCODING)).toBe('é'.repeat(300_000));
  });
});

/** Every refusal says where and why; nothing throws. */
function wellFormed(adapted: AdapterResult<{ messages: Hl7MessageResult[] }>): boolean {
  const issuesOk = (r: AdapterResult<unknown>): boolean => r.ok || (r.issues.length > 0 && r.issues.every((i) => i.location.length > 0 && i.diagnostics.length > 0));
  if (!adapted.ok) return issuesOk(adapted);
  return adapted.value.messages.length > 0 && adapted.value.messages.every((m) => issuesOk(m.result) && m.ack.startsWith('MSH'));
}

describe('properties', () => {
  it('never throws on arbitrary strings', () => {
    const text = fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.string({ unit: fc.constantFrom('M', 'S', 'H', '|', '^', '~', '\\', '&', '\r', '\n', 'P', 'I', 'D', '1') }), fc.string().map((s) => `MSH|^~\\&|${s}`));
    fc.assert(fc.property(text, (t) => wellFormed(adaptHl7v2(t, OPTIONS))), { numRuns: 500 });
  });

  // Found by a random seed: a split surrogate pair in the order namespace broke encodeURIComponent.
  it('never throws on a lone surrogate in the filler order namespace', () => {
    const segments = BASE.map((s) => (s.startsWith('ORC|') ? s.replace('^EMISWEB', '^EMIS\uD800WEB') : s));
    expect(wellFormed(adaptHl7v2(segments.join('\r'), OPTIONS))).toBe(true);
  });

  it('never throws on mutations of a valid message', () => {
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant('drop' as const), at: fc.nat() }),
      fc.record({ kind: fc.constant('duplicate' as const), at: fc.nat() }),
      fc.record({ kind: fc.constant('truncate' as const), at: fc.nat(), length: fc.nat(200) }),
      fc.record({ kind: fc.constant('edit' as const), at: fc.nat(), field: fc.nat(25), value: fc.string({ maxLength: 20 }) }),
      fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), offset: fc.nat(300), bytes: fc.string({ unit: 'binary', maxLength: 5 }) }),
    );
    const separators = fc.array(fc.constantFrom('\r', '\n', '\r\n'), { minLength: 12, maxLength: 12 });
    fc.assert(
      fc.property(fc.array(mutation, { maxLength: 6 }), separators, fc.boolean(), (mutations, seps, framed) => {
        const segments = [...BASE, ...BASE];
        for (const m of mutations) {
          const at = m.at % Math.max(segments.length, 1);
          const segment = segments[at] ?? '';
          if (m.kind === 'drop') segments.splice(at, 1);
          else if (m.kind === 'duplicate') segments.splice(at, 0, segment);
          else if (m.kind === 'truncate') segments[at] = segment.slice(0, m.length);
          else if (m.kind === 'edit') segments[at] = withField([segment], segment.slice(0, 3), m.field, m.value)[0] ?? '';
          else segments[at] = `${segment.slice(0, m.offset)}${m.bytes}${segment.slice(m.offset)}`;
        }
        const text = segments.map((s, i) => `${s}${seps[i % seps.length] ?? '\r'}`).join('');
        return wellFormed(adaptHl7v2(framed ? `\u000b${text}\u001c\r` : text, OPTIONS));
      }),
      { numRuns: 500 },
    );
  });
});

describe.skipIf(!haveSharedFixtures)('conformance: shared partner fixtures', () => {
  const read = (relative: string): Promise<string> => readFile(path.join(sharedFixtures, relative), 'utf8');
  const immunizations = (adapted: AdapterResult<{ messages: Hl7MessageResult[] }>): unknown[] =>
    adapted.ok ? adapted.value.messages.flatMap((m) => (m.result.ok ? m.result.value.entries.filter((e) => e.resource.resourceType === 'Immunization').map((e) => e.resource) : [])) : [];

  it('adapts every GP fixture with all messages accepted', async () => {
    const files = (await readdir(path.join(sharedFixtures, 'gp'))).filter((f) => f.endsWith('.hl7'));
    expect(files.length).toBeGreaterThan(0);
    for (const file of files) {
      const adapted = adaptHl7v2(await read(path.join('gp', file)), OPTIONS);
      expect(adapted.ok, file).toBe(true);
      if (adapted.ok) for (const m of adapted.value.messages) expect(m.result, `${file} ${m.controlId ?? ''}`).toMatchObject({ ok: true });
    }
  });

  test.each([
    ['gp/vxu-missed-6in1-dose3.hl7', [{ status: 'not-done', statusReason: { coding: [{ code: '201741000000102' }] } }]],
    ['gp/vxu-catch-up-given-6in1-dose3.hl7', [{ status: 'completed' }]],
    ['gp/vxu-batch-y90002.hl7', [{ status: 'not-done', statusReason: { coding: [{ code: '201741000000102' }] } }, { status: 'not-done', statusReason: { coding: [{ code: '310376006' }] } }]],
  ])('%s yields the expected Immunization statuses', async (file, expected) => {
    expect(immunizations(adaptHl7v2(await read(file), OPTIONS))).toMatchObject(expected);
  });

  it('refuses the letter that is not HL7', async () => {
    expect(adaptHl7v2(await read('bad/not-hl7.hl7'), OPTIONS)).toMatchObject({ ok: false, kind: 'unparsable' });
  });

  it('refuses the VXU without PID at PID', async () => {
    const { result, ack } = single(await read('bad/vxu-without-pid.hl7'));
    expect(result).toMatchObject({ ok: false, kind: 'invalid', issues: [{ location: 'PID', code: 'required' }] });
    expect(ack).toContain('\rMSA|AE|Y90001-20260724-0001\r');
  });
});

describe('a dose not given without its reason', () => {
  it('is refused at RXA-18', async () => {
    const text = (await readFixture('hl7v2/missed-dose-na.hl7')).replace('201741000000102^Did not attend child immunisation^SCT', '');
    const result = adaptHl7v2(text);
    expect(result.ok && result.value.messages[0]?.result).toMatchObject({ ok: false, kind: 'invalid', issues: [{ location: 'RXA-18', code: 'required' }] });
  });
});
