import { readFile } from 'node:fs/promises';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { parseCsv } from '../../src/adapters/csv-parse.js';
import { adaptImmunisationCsv, IMMUNISATION_CSV_COLUMNS } from '../../src/adapters/immunisation-csv.js';
import { entryUrl, type AdapterResult, type IngestUnit } from '../../src/adapters/ingest-unit.js';
import { validateFhir } from '../../src/fhir/validator.js';
import { haveSharedFixtures, sharedFixtures } from '../conformance/shared-fixtures.js';
import { expectGolden, readFixture } from '../support/golden.js';
import { nhsNumber } from '../support/resources.js';

const FIXTURES = ['good-rows', 'crlf-bom', 'mixed-good-bad'] as const;

/** A valid file built from cells, quoted the way NHS England batch files are. */
function csvOf(rows: Record<string, string>[]): string {
  const quote = (s: string): string => `"${s.replaceAll('"', '""')}"`;
  return [IMMUNISATION_CSV_COLUMNS.join('|'), ...rows.map((r) => IMMUNISATION_CSV_COLUMNS.map((c) => quote(r[c] ?? '')).join('|'))].join('\n') + '\n';
}
function missedDose(seed: number, extra: Record<string, string> = {}): Record<string, string> {
  return {
    NHS_NUMBER: nhsNumber(seed), PERSON_FORENAME: 'Testchild', PERSON_SURNAME: `Synthetic${seed}`, PERSON_DOB: '20260115', PERSON_GENDER_CODE: '2',
    DATE_AND_TIME: '20260611T093000+01', SITE_CODE: 'Y99901', SITE_CODE_TYPE_URI: 'https://fhir.nhs.uk/Id/ods-organization-code',
    UNIQUE_ID: `TEST-${seed}`, UNIQUE_ID_URI: 'https://eastside.example/fhir/Id/test-imms', ACTION_FLAG: 'new', RECORDED_DATE: '20260612',
    PRIMARY_SOURCE: 'TRUE', VACCINATION_PROCEDURE_CODE: '720539004', STATUS: 'not-done', STATUS_REASON_CODE: '201741000000102', ...extra,
  };
}
function rowsOf(result: AdapterResult<{ rows: { row: number; result: AdapterResult<IngestUnit> }[] }>): { row: number; result: AdapterResult<IngestUnit> }[] {
  if (!result.ok) throw new Error(`file refused: ${JSON.stringify(result.issues)}`);
  return result.value.rows;
}
function unitOf(text: string, row = 1): IngestUnit {
  const r = rowsOf(adaptImmunisationCsv(text)).find((x) => x.row === row)?.result;
  if (r?.ok !== true) throw new Error(`row ${row} refused: ${JSON.stringify(r)}`);
  return r.value;
}
/** [location, code] of each issue of a row. */
function faultsOf(text: string, row: number): [string, string][] {
  const r = rowsOf(adaptImmunisationCsv(text)).find((x) => x.row === row)?.result;
  return r === undefined || r.ok ? [] : r.issues.map((i) => [i.location, i.code]);
}

describe('parseCsv', () => {
  test.each([
    ['quoted fields', '"a"|"b"\n"c"|"d"\n', [['a', 'b'], ['c', 'd']]],
    ['doubled quotes', '"say ""hi"""|""\n', [['say "hi"', '']]],
    ['delimiters and line breaks inside quotes', '"a|b"|"line1\r\nline2\nline3"\n', [['a|b', 'line1\r\nline2\nline3']]],
    ['CRLF, LF and CR line ends', 'a|b\r\nc|d\ne|f\rg|h', [['a', 'b'], ['c', 'd'], ['e', 'f'], ['g', 'h']]],
    ['a byte order mark and no final line end', '\uFEFFa|b', [['a', 'b']]],
    ['empty fields and blank lines', '|\n\n\r\n"x"||\n', [['', ''], ['x', '', '']]],
  ])('%s', (_name, text, expected) => {
    const result = parseCsv(text, '|');
    expect(result.ok && result.records.map((r) => r.fields)).toEqual(expected);
  });

  test('counts records and the lines they start on across quoted line breaks', () => {
    const result = parseCsv('h\n"a\nb"\n\nc\n', '|');
    expect(result.ok && result.records.map((r) => [r.record, r.line])).toEqual([[1, 1], [2, 2], [3, 5]]);
  });

  test('an unterminated quote fails the parse with its record and line', () => {
    expect(parseCsv('h|h\n"a"|"b\nc|d\n', '|')).toEqual({ ok: false, record: 2, line: 2, diagnostics: 'field 2 opens a quote on line 2 that is never closed' });
  });

  test('a stray quote is a fault of its record only', () => {
    const result = parseCsv('"a"x|b\nc"d|e\n"f"|"g"\n', '|');
    expect(result.ok && result.records.map((r) => [r.fields, r.faults.map((f) => f.field)])).toEqual([[['ax', 'b'], [0]], [['c"d', 'e'], [0]], [['f', 'g'], []]]);
  });
});

describe('adaptImmunisationCsv: golden files', () => {
  test.each(FIXTURES)('%s.csv', async (name) => {
    await expectGolden(`csv/${name}`, adaptImmunisationCsv(await readFixture(`csv/${name}.csv`)));
  });

  test.each(FIXTURES)('every resource of %s.csv is valid R4', async (name) => {
    for (const { result } of rowsOf(adaptImmunisationCsv(await readFixture(`csv/${name}.csv`)))) {
      for (const entry of result.ok ? result.value.entries : []) expect(validateFhir(entry.resource)).toEqual({ ok: true });
    }
  });
});

describe('adaptImmunisationCsv: the file', () => {
  test.each([
    ['an empty file', '', 'file'],
    ['blank lines and a byte order mark only', '\uFEFF\r\n \n', 'file'],
    ['a data row where the header should be', '"9990005028"|"Testchild"|"Alpha"\n', 'header'],
    ['an unterminated quote', `${IMMUNISATION_CSV_COLUMNS.join('|')}\n"a"|"b\n`, 'row 1'],
    ['an unterminated quote in the header', '"NHS_NUMBER|PERSON_DOB\n', 'header'],
  ])('%s is unparsable at %s', (_name, text, location) => {
    const result = adaptImmunisationCsv(text);
    expect(result.ok ? [] : [result.kind, result.issues.map((i) => i.location)]).toEqual(['unparsable', [location]]);
  });

  test('names each column the header lacks, and each it repeats', () => {
    const header = IMMUNISATION_CSV_COLUMNS.filter((c) => c !== 'STATUS' && c !== 'DUE_DATE').concat('NHS_NUMBER');
    const result = adaptImmunisationCsv(`${header.join('|')}\n`);
    expect(result.ok ? [] : result.issues.map((i) => i.location)).toEqual(['header column NHS_NUMBER', 'header column STATUS', 'header column DUE_DATE']);
  });

  test('a header with no rows is an empty batch; extra columns are ignored; header names are case-blind', () => {
    expect(adaptImmunisationCsv(`${IMMUNISATION_CSV_COLUMNS.join('|').toLowerCase()}|LOCAL_NOTE\n`)).toEqual({ ok: true, value: { rows: [] } });
  });
});

describe('adaptImmunisationCsv: rows', () => {
  test('the mixed file: good rows stored, each bad cell named', async () => {
    const text = await readFixture('csv/mixed-good-bad.csv');
    expect(rowsOf(adaptImmunisationCsv(text)).map((r) => [r.row, r.result.ok])).toEqual([[1, true], [2, false], [3, true], [4, false], [5, false], [6, false], [7, true]]);
    expect(faultsOf(text, 2)).toEqual([
      ['row 2 column NHS_NUMBER', 'value'], ['row 2 column PERSON_DOB', 'value'], ['row 2 column PERSON_GENDER_CODE', 'code-invalid'],
      ['row 2 column DATE_AND_TIME', 'invalid'], ['row 2 column ACTION_FLAG', 'code-invalid'], ['row 2 column RECORDED_DATE', 'invalid'],
      ['row 2 column PRIMARY_SOURCE', 'code-invalid'], ['row 2 column DOSE_SEQUENCE', 'invalid'], ['row 2 column VACCINE_PRODUCT_CODE', 'code-invalid'],
    ]);
    expect(faultsOf(text, 4)).toEqual([['row 4', 'structure']]);
    expect(faultsOf(text, 5)).toEqual([['row 5 column SITE_CODE', 'required'], ['row 5 column LOCATION_CODE_TYPE_URI', 'required'], ['row 5 column STATUS_REASON_CODE', 'required']]);
    expect(faultsOf(text, 6)).toEqual([['row 6 column PERSON_SURNAME', 'structure']]);
  });

  test.each([
    ['NHS_NUMBER', '', 'required'], ['NHS_NUMBER', '99900050', 'invalid'], ['NHS_NUMBER', '9990005029', 'value'],
    ['PERSON_DOB', '2026-01-15', 'invalid'], ['PERSON_DOB', '20260431', 'value'], ['PERSON_GENDER_CODE', 'F', 'code-invalid'],
    ['DATE_AND_TIME', '20260611T093000', 'invalid'], ['DATE_AND_TIME', '20260611T243000Z', 'value'], ['RECORDED_DATE', '', 'required'],
    ['UNIQUE_ID', ' ', 'required'], ['UNIQUE_ID_URI', 'not a uri', 'invalid'], ['ACTION_FLAG', 'amend', 'code-invalid'],
    ['PRIMARY_SOURCE', 'Y', 'code-invalid'], ['VACCINATION_PROCEDURE_CODE', '', 'required'], ['VACCINATION_PROCEDURE_CODE', '720539005', 'code-invalid'],
    ['VACCINATION_PROCEDURE_CODE', 'MENB1', 'invalid'], ['DOSE_SEQUENCE', '1.5', 'invalid'], ['STATUS', 'given', 'code-invalid'],
    ['STATUS_REASON_CODE', '', 'required'], ['DUE_DATE', '20261301', 'value'], ['SITE_CODE', '', 'required'], ['DOSE_UNIT_CODE', 'milli litre', 'invalid'],
  ])('%s "%s" → %s', (column, value, code) => {
    expect(faultsOf(csvOf([missedDose(1, { [column]: value })]), 1)).toEqual([[`row 1 column ${column}`, code]]);
  });

  test('a bad reason code is reported once, not also as missing', () => {
    expect(faultsOf(csvOf([missedDose(1, { STATUS_REASON_CODE: 'DNA' })]), 1)).toEqual([['row 1 column STATUS_REASON_CODE', 'invalid']]);
  });

  test.each([
    ['20260611T093000+01', '2026-06-11T09:30:00+01:00'], ['20260611T093000+0130', '2026-06-11T09:30:00+01:30'],
    ['20260611T093000Z', '2026-06-11T09:30:00Z'], ['20260611T093000-05', '2026-06-11T09:30:00-05:00'],
  ])('DATE_AND_TIME %s → occurrenceDateTime %s', (value, expected) => {
    const immunization = unitOf(csvOf([missedDose(1, { DATE_AND_TIME: value })])).entries[1]?.resource;
    expect(immunization).toMatchObject({ occurrenceDateTime: expected });
  });

  test.each([['0', 'unknown'], ['1', 'male'], ['2', 'female'], ['9', 'unknown']])('PERSON_GENDER_CODE %s → %s', (code, gender) => {
    expect(unitOf(csvOf([missedDose(1, { PERSON_GENDER_CODE: code })])).entries[0]?.resource).toMatchObject({ gender });
  });

  test('an empty STATUS is a dose given; a delete marks the Immunization only', () => {
    const unit = unitOf(csvOf([missedDose(1, { STATUS: '', STATUS_REASON_CODE: '', ACTION_FLAG: 'DELETE' })]));
    expect(unit.entries.map((e) => [e.resource.resourceType, e.action])).toEqual([['Patient', 'upsert'], ['Immunization', 'delete']]);
    expect(unit.entries[1]?.resource).toMatchObject({ status: 'completed' });
  });

  test('the message key: same row → same key and URLs; any change → a new key; no two rows share one', () => {
    const unit = unitOf(csvOf([missedDose(1)]));
    expect(unitOf(csvOf([missedDose(1)]))).toEqual(unit);
    expect(unit.messageKey).toMatch(/^immunisation-csv:https:\/\/eastside\.example\/fhir\/Id\/test-imms\|TEST-1\|[0-9a-f]{64}$/);
    expect(unit.entries.map((e) => e.fullUrl)).toEqual([entryUrl(unit.messageKey, 'patient'), entryUrl(unit.messageKey, 'immunization')]);
    expect(unit.entries[1]?.resource).toMatchObject({ patient: { reference: unit.entries[0]?.fullUrl } });
    expect(unitOf(csvOf([missedDose(1, { DUE_DATE: '20260515' })])).messageKey).not.toBe(unit.messageKey);
    // A bare "|" join would make these two rows one text.
    const a = unitOf(csvOf([missedDose(1, { PERSON_FORENAME: 'A|B', PERSON_SURNAME: 'C' })]));
    const b = unitOf(csvOf([missedDose(1, { PERSON_FORENAME: 'A', PERSON_SURNAME: 'B|C' })]));
    expect(a.messageKey).not.toBe(b.messageKey);
  });
});

describe('adaptImmunisationCsv: properties', () => {
  const valid = csvOf([1, 2, 3, 4].map((seed) => missedDose(seed)));
  const expectWellFormed = (result: AdapterResult<{ rows: { row: number; result: AdapterResult<IngestUnit> }[] }>): void => {
    const issues = result.ok ? result.value.rows.flatMap((r) => (r.result.ok ? [] : r.result.issues)) : result.issues;
    if (!result.ok) expect(issues.length).toBeGreaterThan(0);
    for (const issue of issues) {
      expect(issue.location).not.toBe('');
      expect(issue.diagnostics).not.toBe('');
    }
    if (result.ok) {
      expect(result.value.rows.map((r) => r.row)).toEqual(result.value.rows.map((_r, i) => i + 1));
      for (const r of result.value.rows) if (!r.result.ok) expect(r.result.issues.length).toBeGreaterThan(0);
    }
  };
  const risky = fc.constantFrom('"', '|', '\r', '\n', '\r\n', '\uFEFF', 'a', '0', ' ', 'NHS_NUMBER', '""');

  test('arbitrary text never throws and always answers well-formed', () => {
    fc.assert(fc.property(fc.oneof(fc.string({ unit: 'binary' }), fc.string({ unit: risky })), (text) => { expectWellFormed(adaptImmunisationCsv(text)); }));
  });

  test('text mutations of a valid file (quotes removed, pipes, line breaks and quotes inserted) never throw', () => {
    const edit = fc.record({ at: fc.nat(), insert: fc.oneof(fc.constant(''), risky), remove: fc.integer({ min: 0, max: 2 }) });
    fc.assert(fc.property(fc.array(edit, { maxLength: 8 }), (edits) => {
      let text = valid;
      for (const e of edits) {
        const at = e.at % (text.length + 1);
        text = text.slice(0, at) + e.insert + text.slice(at + e.remove);
      }
      expectWellFormed(adaptImmunisationCsv(text));
    }));
  });

  test('row mutations (drop, duplicate, swap) and cell edits never throw; an edited cell affects its own row only', () => {
    const rows = [1, 2, 3, 4].map((seed) => missedDose(seed));
    const before = rowsOf(adaptImmunisationCsv(csvOf(rows)));
    const cellEdit = fc.record({ row: fc.nat(3), column: fc.constantFrom(...IMMUNISATION_CSV_COLUMNS), value: fc.string({ unit: 'binary', maxLength: 24 }) });
    fc.assert(fc.property(cellEdit, ({ row, column, value }) => {
      const after = adaptImmunisationCsv(csvOf(rows.map((r, i) => (i === row ? { ...r, [column]: value } : r))));
      expectWellFormed(after);
      rowsOf(after).forEach((r, i) => {
        if (i !== row) expect(r).toEqual(before[i]);
      });
    }));
    const reorder = fc.array(fc.nat(3), { maxLength: 8 });
    fc.assert(fc.property(reorder, (order) => { expectWellFormed(adaptImmunisationCsv(csvOf(order.map((i) => rows[i] ?? {})))); }));
  });
});

describe.skipIf(!haveSharedFixtures)('conformance: shared immunisation CSV fixtures', () => {
  const read = (relative: string): Promise<string> => readFile(path.join(sharedFixtures, relative), 'utf8');

  test('gp/missed-immunisations-y90001.csv: four missed doses with their reasons', async () => {
    const rows = rowsOf(adaptImmunisationCsv(await read('gp/missed-immunisations-y90001.csv')));
    const immunizations = rows.map((r) => (r.result.ok ? r.result.value.entries.find((e) => e.resource.resourceType === 'Immunization')?.resource : undefined));
    expect(immunizations.map((i) => [i?.resourceType, i && 'status' in i ? i.status : undefined])).toEqual(Array(4).fill(['Immunization', 'not-done']));
    expect(immunizations.map((i) => (i?.resourceType === 'Immunization' ? i.statusReason?.coding?.[0]?.code : undefined))).toEqual(['201741000000102', '201741000000102', '201741000000102', '310376006']);
    for (const r of rows) expect(r.result.ok && r.result.value.senderCode).toBe('Y90001');
  });

  test('bad/missed-immunisations-some-bad-rows.csv: row 1 good; rows 2, 3, 4 refused at their cell', async () => {
    const text = await read('bad/missed-immunisations-some-bad-rows.csv');
    expect(rowsOf(adaptImmunisationCsv(text)).map((r) => r.result.ok)).toEqual([true, false, false, false]);
    expect(faultsOf(text, 2)).toEqual([['row 2 column NHS_NUMBER', 'value']]);
    expect(faultsOf(text, 3)).toEqual([['row 3 column PERSON_DOB', 'value']]);
    expect(faultsOf(text, 4)).toEqual([['row 4 column STATUS', 'code-invalid']]);
  });
});
