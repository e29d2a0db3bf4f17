import type { CodeableConcept, Coding, Immunization, Patient } from 'fhir/r4.js';
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { DUE_DATE_EXTENSION, SNOMED, VACCINATION_PROCEDURE_EXTENSION, VACCINE_NOT_RECORDED } from './codes.js';
import { parseCsv, type CsvRecord } from './csv-parse.js';
import { entryReference, entryUrl, invalid, ok, unparsable, type AdapterIssue, type AdapterResult, type IngestUnit } from './ingest-unit.js';
import { NHS_NUMBER_SYSTEM, validNhsNumber } from './nhs-number.js';

// NHS England immunisation batch CSV ("|"-delimited, every field quoted, a
// header row) with four columns the hub adds for missed doses: STATUS,
// STATUS_REASON_CODE, STATUS_REASON_TERM, DUE_DATE. One IngestUnit per row
// (Patient + Immunization), so one bad row never blocks the good ones.
// See: https://digital.nhs.uk/developer/api-catalogue/immunisation-fhir (its batch file format)
// and https://hl7.org/fhir/R4/immunization.html
//
// Issue codes, one rule throughout: 'required' an empty mandatory cell;
// 'invalid' a cell not in its written format; 'value' well-formed but
// impossible (30 February, a failed check digit); 'code-invalid' not one of
// the allowed codes; 'structure' a row that cannot be split into its cells.

export const IMMUNISATION_CSV_EVENT = 'immunisation-csv-row';
const UCUM = 'http://unitsofmeasure.org';

type CellCode = 'required' | 'invalid' | 'value' | 'code-invalid';
type Cell<T> = { ok: true; value: T } | { ok: false; code: CellCode; diagnostics: string };
type Check<T> = (s: string) => Cell<T>;

const pass = <T>(value: T): Cell<T> => ({ ok: true, value });
const fail = (code: CellCode, diagnostics: string): Cell<never> => ({ ok: false, code, diagnostics });

/** A zod schema for one cell: trims it, runs the check, and records a failure with its issue code. */
function cell<T>(check: Check<T>): z.ZodType<T, string> {
  return z.string().transform((raw, ctx) => {
    const result = check(raw.trim());
    if (result.ok) return result.value;
    ctx.addIssue({ code: 'custom', message: result.diagnostics, params: { code: result.code } });
    return z.NEVER;
  });
}
const required = <T>(check: Check<T>): Check<T> => (s) => (s === '' ? fail('required', 'is required') : check(s));
const optional = <T>(check: Check<T>): Check<T | undefined> => (s) => (s === '' ? pass(undefined) : check(s));
const text: Check<string> = (s) => pass(s);
const oneOf = <T>(allowed: Record<string, T>, fold: (s: string) => string): Check<T> => (s) => {
  const value = Object.hasOwn(allowed, fold(s)) ? allowed[fold(s)] : undefined;
  return value === undefined ? fail('code-invalid', `must be one of ${Object.keys(allowed).join(', ')} (was ${JSON.stringify(s.slice(0, 40))})`) : pass(value);
};

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
function realDate(y: string, m: string, d: string): boolean {
  const year = Number(y), month = Number(m), day = Number(d);
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  const days = month === 2 && leap ? 29 : DAYS_IN_MONTH[month - 1];
  return year >= 1 && days !== undefined && day >= 1 && day <= days;
}

/** YYYYMMDD → FHIR date. */
const date: Check<string> = (s) => {
  const m = /^(\d{4})(\d{2})(\d{2})$/.exec(s);
  if (m === null) return fail('invalid', 'must be a date written YYYYMMDD');
  const [, y = '', mo = '', d = ''] = m;
  return realDate(y, mo, d) ? pass(`${y}-${mo}-${d}`) : fail('value', 'is not a real calendar date');
};

/** YYYYMMDDThhmmss with a zone (±hh, ±hhmm or Z) → FHIR dateTime; a time needs a zone in FHIR. See: https://hl7.org/fhir/R4/datatypes.html#dateTime */
const dateTime: Check<string> = (s) => {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(Z|[+-]\d{2}(?:\d{2})?)$/.exec(s);
  if (m === null) return fail('invalid', 'must be a date and time written YYYYMMDDThhmmss with a zone (+hh, +hhmm or Z), e.g. 20260603T093000+01');
  const [, y = '', mo = '', d = '', h = '', mi = '', sec = '', zone = ''] = m;
  const zh = zone === 'Z' ? 0 : Number(zone.slice(1, 3));
  const zm = zone === 'Z' ? 0 : Number(zone.slice(3, 5) || '0');
  if (!realDate(y, mo, d) || Number(h) > 23 || Number(mi) > 59 || Number(sec) > 59 || zh > 14 || zm > 59) {
    return fail('value', 'is not a real date, time and zone');
  }
  const offset = zone === 'Z' ? 'Z' : `${zone.slice(0, 3)}:${zone.slice(3, 5) || '00'}`;
  return pass(`${y}-${mo}-${d}T${h}:${mi}:${sec}${offset}`);
};

// SNOMED CT identifiers end in a Verhoeff check digit; the two digits before it
// say what they identify: 00 or 10 is a concept. See: https://confluence.ihtsdotools.org/display/DOCRELFMT/6.1+SCTID+Data+Type
const VERHOEFF_D = ['0123456789', '1234067895', '2340178956', '3401289567', '4012395678', '5987604321', '6598710432', '7659821043', '8765932104', '9876543210'];
const VERHOEFF_P = ['0123456789', '1576283094', '5803796142', '8916043527', '9453126870', '4286573901', '2793806415', '7046913258'];
function verhoeffValid(digits: string): boolean {
  let c = 0;
  for (let i = 0; i < digits.length; i += 1) {
    const p = Number(VERHOEFF_P[i % 8]?.charAt(Number(digits.charAt(digits.length - 1 - i))));
    c = Number(VERHOEFF_D[c]?.charAt(p));
  }
  return c === 0;
}
const isConceptId = (s: string): boolean => /^[1-9]\d{5,17}$/.test(s) && ['00', '10'].includes(s.slice(-3, -1)) && verhoeffValid(s);
const snomed: Check<string> = (s) => {
  if (!/^\d+$/.test(s)) return fail('invalid', 'must be a SNOMED CT concept id (digits)');
  return isConceptId(s) ? pass(s) : fail('code-invalid', 'is not a valid SNOMED CT concept id (length, partition or check digit)');
};
/** A dose unit: a SNOMED concept id if it is all digits, else a UCUM code. See: https://ucum.org/ucum */
const unit: Check<{ system: string; code: string }> = (s) => {
  if (/^\d+$/.test(s) && s.length >= 6) return isConceptId(s) ? pass({ system: SNOMED, code: s }) : fail('code-invalid', 'is not a valid SNOMED CT concept id');
  return /^[!-~]+$/.test(s) ? pass({ system: UCUM, code: s }) : fail('invalid', 'must be a UCUM unit code or a SNOMED CT concept id');
};
const uri: Check<string> = (s) => (/^[A-Za-z][A-Za-z0-9+.-]*:\S+$/.test(s) ? pass(s) : fail('invalid', 'must be an absolute URI'));
const positiveInt: Check<number> = (s) => (/^[1-9]\d{0,8}$/.test(s) ? pass(Number(s)) : fail('invalid', 'must be a whole number from 1'));
const decimal: Check<number> = (s) => (/^\d{1,9}(\.\d{1,9})?$/.test(s) ? pass(Number(s)) : fail('invalid', 'must be a decimal number such as 0.5'));
const nhsNumber: Check<string> = (s) => {
  const valid = validNhsNumber(s);
  if (valid !== undefined) return pass(valid);
  return /^\d{10}$/.test(s.replace(/\s+/g, '')) ? fail('value', 'fails the NHS number modulus-11 check digit') : fail('invalid', 'must be a 10-digit NHS number');
};

// NHS Data Dictionary person gender code: 0 not known, 1 male, 2 female, 9 not specified.
// See: https://www.datadictionary.nhs.uk/data_elements/person_gender_code.html
const GENDER = { '0': 'unknown', '1': 'male', '2': 'female', '9': 'unknown' } as const;
const ACTIONS = { new: 'new', update: 'update', delete: 'delete' } as const;
const BOOLEANS = { TRUE: true, FALSE: false } as const;
const STATUSES = { completed: 'completed', 'not-done': 'not-done' } as const;
const lower = (s: string): string => s.toLowerCase();
const upper = (s: string): string => s.toUpperCase();

/** One data row, parsed once here; everything after trusts these types. */
export const immunisationCsvRowSchema = z
  .object({
    NHS_NUMBER: cell(required(nhsNumber)),
    PERSON_FORENAME: cell(optional(text)),
    PERSON_SURNAME: cell(optional(text)),
    PERSON_DOB: cell(required(date)),
    PERSON_GENDER_CODE: cell(required(oneOf(GENDER, (s) => s))),
    PERSON_POSTCODE: cell(optional(text)),
    DATE_AND_TIME: cell(required(dateTime)),
    SITE_CODE: cell(required(text)),
    SITE_CODE_TYPE_URI: cell(required(uri)),
    UNIQUE_ID: cell(required(text)),
    UNIQUE_ID_URI: cell(required(uri)),
    ACTION_FLAG: cell(required(oneOf(ACTIONS, lower))),
    PERFORMING_PROFESSIONAL_FORENAME: cell(optional(text)),
    PERFORMING_PROFESSIONAL_SURNAME: cell(optional(text)),
    RECORDED_DATE: cell(required(date)),
    PRIMARY_SOURCE: cell(required(oneOf(BOOLEANS, upper))),
    VACCINATION_PROCEDURE_CODE: cell(required(snomed)),
    VACCINATION_PROCEDURE_TERM: cell(optional(text)),
    DOSE_SEQUENCE: cell(optional(positiveInt)),
    VACCINE_PRODUCT_CODE: cell(optional(snomed)),
    VACCINE_PRODUCT_TERM: cell(optional(text)),
    VACCINE_MANUFACTURER: cell(optional(text)),
    BATCH_NUMBER: cell(optional(text)),
    EXPIRY_DATE: cell(optional(date)),
    SITE_OF_VACCINATION_CODE: cell(optional(snomed)),
    SITE_OF_VACCINATION_TERM: cell(optional(text)),
    ROUTE_OF_VACCINATION_CODE: cell(optional(snomed)),
    ROUTE_OF_VACCINATION_TERM: cell(optional(text)),
    DOSE_AMOUNT: cell(optional(decimal)),
    DOSE_UNIT_CODE: cell(optional(unit)),
    DOSE_UNIT_TERM: cell(optional(text)),
    INDICATION_CODE: cell(optional(snomed)),
    LOCATION_CODE: cell(optional(text)),
    LOCATION_CODE_TYPE_URI: cell(optional(uri)),
    // An empty STATUS is a plain NHS England row: the dose was given.
    STATUS: cell((s) => (s === '' ? pass('completed' as const) : oneOf(STATUSES, lower)(s))),
    STATUS_REASON_CODE: cell(optional(snomed)),
    STATUS_REASON_TERM: cell(optional(text)),
    DUE_DATE: cell(optional(date)),
  })
  // Rules across cells run even when other cells failed (`when`), so a row reports every fault at once.
  // A cell that failed holds no usable value, so these rules stay quiet about it.
  .check(
    z.superRefine(
      (row, ctx) => {
        if (row.STATUS === 'not-done' && row.STATUS_REASON_CODE === undefined) {
          ctx.addIssue({ code: 'custom', path: ['STATUS_REASON_CODE'], message: 'is required when STATUS is not-done (why the dose was not given)', params: { code: 'required' } });
        }
        if (typeof row.LOCATION_CODE === 'string' && row.LOCATION_CODE_TYPE_URI === undefined) {
          ctx.addIssue({ code: 'custom', path: ['LOCATION_CODE_TYPE_URI'], message: 'is required when LOCATION_CODE is given (the code system of the location)', params: { code: 'required' } });
        }
      },
      { when: () => true },
    ),
  );
export type ImmunisationCsvRow = z.infer<typeof immunisationCsvRowSchema>;

/** Every column of the format, in order: a header without one of them is not this format (a missing STATUS must not silently mean "completed"). */
export const IMMUNISATION_CSV_COLUMNS: readonly string[] = Object.keys(immunisationCsvRowSchema.shape);

export interface ImmunisationCsvFile {
  /** row 1 is the first data row (the header is not counted). */
  rows: { row: number; result: AdapterResult<IngestUnit> }[];
}

export function adaptImmunisationCsv(text: string): AdapterResult<ImmunisationCsvFile> {
  const fileIssue = (diagnostics: string, location = 'file'): AdapterIssue => ({ code: 'structure', diagnostics, location });
  if (text.replace(/^\uFEFF/, '').trim() === '') return unparsable(fileIssue('the file is empty: expected a header row and data rows'));
  const parsed = parseCsv(text, '|');
  if (!parsed.ok) return unparsable(fileIssue(`${parsed.diagnostics}; nothing after it can be read`, parsed.record === 1 ? 'header' : `row ${parsed.record - 1}`));
  const [header, ...data] = parsed.records;
  if (header === undefined) return unparsable(fileIssue('the file has no header row'));
  const columns = header.fields.map((f) => f.trim().toUpperCase());
  const fault = header.faults[0];
  if (fault !== undefined) return unparsable(fileIssue(`the header row is malformed: ${fault.diagnostics}`, 'header'));
  const known = new Set<string>(IMMUNISATION_CSV_COLUMNS);
  if (!columns.some((c) => known.has(c))) {
    return unparsable(fileIssue('the first line is not a header row: it must name the columns, NHS_NUMBER|PERSON_FORENAME|…|DUE_DATE', 'header'));
  }
  // Only the format's own columns must be unique (others are ignored); Sets keep a huge first line linear.
  const seen = new Set<string>();
  const repeated = new Set<string>();
  for (const c of columns) {
    if (known.has(c) && seen.has(c)) repeated.add(c);
    seen.add(c);
  }
  const issues = [
    ...[...repeated].map((c) => fileIssue(`column ${c} appears more than once in the header`, `header column ${c}`)),
    ...IMMUNISATION_CSV_COLUMNS.filter((c) => !seen.has(c)).map((c) => fileIssue(`the header has no ${c} column, which this format requires`, `header column ${c}`)),
  ];
  if (issues.length > 0) return unparsable(...issues);
  return ok({ rows: data.map((record) => ({ row: record.record - 1, result: adaptRow(record, columns) })) });
}

function adaptRow(record: CsvRecord, columns: string[]): AdapterResult<IngestUnit> {
  const row = record.record - 1;
  if (record.faults.length > 0) {
    return invalid(...record.faults.map((f) => ({ code: 'structure' as const, diagnostics: f.diagnostics, location: `row ${row} column ${columns[f.field] ?? f.field + 1}` })));
  }
  if (record.fields.length !== columns.length) {
    return invalid({
      code: 'structure',
      diagnostics: `row ${row} (line ${record.line}) has ${record.fields.length} fields; the header has ${columns.length}`,
      location: `row ${row}`,
    });
  }
  const cells = Object.fromEntries(columns.map((c, i) => [c, record.fields[i] ?? '']));
  const result = immunisationCsvRowSchema.safeParse(cells);
  if (!result.success) {
    const issues = result.error.issues.map((issue): AdapterIssue & { order: number } => {
      const column = String(issue.path[0] ?? '');
      const code = issue.code === 'custom' ? (issue.params?.['code'] as CellCode | undefined) : undefined;
      return { code: code ?? 'invalid', diagnostics: `${column} ${issue.message}`, location: `row ${row} column ${column}`, order: IMMUNISATION_CSV_COLUMNS.indexOf(column) };
    });
    // In column order, as the sender reads the row; the sort is stable, so zod's order holds within a column.
    issues.sort((a, b) => a.order - b.order);
    return invalid(...issues.map(({ order: _order, ...issue }) => issue));
  }
  return ok(toUnit(result.data, record.fields));
}

/** The row as it would be sent, every field quoted: an unambiguous text to hash (a bare "|" join could make two different rows equal). */
const canonicalRow = (fields: string[]): string => fields.map((f) => `"${f.replaceAll('"', '""')}"`).join('|');

function toUnit(r: ImmunisationCsvRow, fields: string[]): IngestUnit {
  // The content hash in the key: an identical re-sent row is the same message;
  // a corrected row (same UNIQUE_ID, new content) is a new one.
  const messageKey = `immunisation-csv:${r.UNIQUE_ID_URI}|${r.UNIQUE_ID}|${createHash('sha256').update(canonicalRow(fields)).digest('hex')}`;
  const patientUrl = entryUrl(messageKey, 'patient');
  const nhs = { system: NHS_NUMBER_SYSTEM, value: r.NHS_NUMBER };
  const name = compact({ family: r.PERSON_SURNAME, given: r.PERSON_FORENAME === undefined ? undefined : [r.PERSON_FORENAME] });
  const patient: Patient = compact({
    resourceType: 'Patient' as const,
    identifier: [{ ...nhs }],
    name: Object.keys(name).length > 0 ? [name] : undefined,
    gender: r.PERSON_GENDER_CODE,
    birthDate: r.PERSON_DOB,
    address: r.PERSON_POSTCODE === undefined ? undefined : [{ postalCode: r.PERSON_POSTCODE }],
  });

  const identifier = { system: r.UNIQUE_ID_URI, value: r.UNIQUE_ID };
  const professional = [r.PERFORMING_PROFESSIONAL_FORENAME, r.PERFORMING_PROFESSIONAL_SURNAME].filter((p) => p !== undefined).join(' ');
  const immunization: Immunization = compact({
    resourceType: 'Immunization' as const,
    extension: [
      { url: VACCINATION_PROCEDURE_EXTENSION, valueCodeableConcept: snomedConcept(r.VACCINATION_PROCEDURE_CODE, r.VACCINATION_PROCEDURE_TERM) },
      ...(r.DUE_DATE === undefined ? [] : [{ url: DUE_DATE_EXTENSION, valueDate: r.DUE_DATE }]),
    ],
    identifier: [{ ...identifier }],
    status: r.STATUS,
    statusReason: snomedConcept(r.STATUS_REASON_CODE, r.STATUS_REASON_TERM),
    vaccineCode: snomedConcept(r.VACCINE_PRODUCT_CODE, r.VACCINE_PRODUCT_TERM) ?? { coding: [{ ...VACCINE_NOT_RECORDED }] },
    patient: entryReference(patientUrl),
    occurrenceDateTime: r.DATE_AND_TIME,
    recorded: r.RECORDED_DATE,
    primarySource: r.PRIMARY_SOURCE,
    // A Reference may carry only a display when the source names no resource. See: https://hl7.org/fhir/R4/references.html
    manufacturer: r.VACCINE_MANUFACTURER === undefined ? undefined : { display: r.VACCINE_MANUFACTURER },
    location: r.LOCATION_CODE === undefined ? undefined : { identifier: { system: r.LOCATION_CODE_TYPE_URI, value: r.LOCATION_CODE } },
    lotNumber: r.BATCH_NUMBER,
    expirationDate: r.EXPIRY_DATE,
    site: snomedConcept(r.SITE_OF_VACCINATION_CODE, r.SITE_OF_VACCINATION_TERM),
    route: snomedConcept(r.ROUTE_OF_VACCINATION_CODE, r.ROUTE_OF_VACCINATION_TERM),
    doseQuantity: r.DOSE_AMOUNT === undefined ? undefined : compact({ value: r.DOSE_AMOUNT, unit: r.DOSE_UNIT_TERM, system: r.DOSE_UNIT_CODE?.system, code: r.DOSE_UNIT_CODE?.code }),
    performer: [
      { actor: { type: 'Organization', identifier: { system: r.SITE_CODE_TYPE_URI, value: r.SITE_CODE } } },
      ...(professional === '' ? [] : [{ actor: { type: 'Practitioner', display: professional } }]),
    ],
    reasonCode: r.INDICATION_CODE === undefined ? undefined : [{ coding: [{ system: SNOMED, code: r.INDICATION_CODE }] }],
    // protocolApplied.doseNumber[x] is 1..1, so the element exists only with a dose number.
    protocolApplied: r.DOSE_SEQUENCE === undefined ? undefined : [{ doseNumberPositiveInt: r.DOSE_SEQUENCE }],
  });

  return {
    messageKey,
    event: IMMUNISATION_CSV_EVENT,
    senderCode: r.SITE_CODE,
    entries: [
      { fullUrl: patientUrl, resource: patient, match: nhs, action: 'upsert' },
      { fullUrl: entryUrl(messageKey, 'immunization'), resource: immunization, match: identifier, action: r.ACTION_FLAG === 'delete' ? 'delete' : 'upsert' },
    ],
    effects: [],
  };
}

/** A SNOMED CodeableConcept; only the term → text; neither → undefined. */
function snomedConcept(code: string | undefined, term: string | undefined): CodeableConcept | undefined {
  if (code === undefined) return term === undefined ? undefined : { text: term };
  const coding: Coding = compact({ system: SNOMED, code, display: term });
  return { coding: [coding] };
}

/** Drops undefined properties, so resources hold only elements that have values (FHIR JSON has no nulls). */
function compact<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
