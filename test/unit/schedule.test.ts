import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Immunization, Patient } from 'fhir/r4.js';
import { describe, expect, test } from 'vitest';
import { adaptImmunisationCsv } from '../../src/adapters/immunisation-csv.js';
import { doseRecordFromImmunization, doseRecordsFromImmunizations } from '../../src/followup/dose-records.js';
import { buildImmunizationRecommendation, DATE_OVERDUE, DATE_VACCINE_DUE, FORECAST_STATUS_SYSTEM } from '../../src/followup/immunization-recommendation.js';
import { assessSchedule, scheduledDosesFor, type Assessment, type DoseRecord, type DoseStatus } from '../../src/followup/schedule.js';
import { validateFhir } from '../../src/fhir/validator.js';
import { CODES, given, notDone, plusDays, readRoutineSchedule } from '../support/schedule.js';

// The routine schedule (policies/schedules/england-routine.yaml) and the pure
// assessment over it, at every cohort boundary DESIGN.md section 11 draws.

const schedule = readRoutineSchedule();
type Ok = Extract<Assessment, { ok: true }>;

function assess(birthDate: string, records: readonly DoseRecord[], asOf: string): Ok {
  const a = assessSchedule(schedule, birthDate, records, asOf);
  if (!a.ok) throw new Error(`not assessed: ${a.field}: ${a.problem}`);
  return a;
}
function statuses(a: Ok): Record<string, DoseStatus> {
  return Object.fromEntries(a.doses.map((d) => [d.doseId, d.status]));
}
function withStatus(a: Ok, ...wanted: DoseStatus[]): string[] {
  return a.doses.filter((d) => wanted.includes(d.status)).map((d) => d.doseId);
}
function dose(a: Ok, doseId: string): Ok['doses'][number] {
  const found = a.doses.find((d) => d.doseId === doseId);
  if (found === undefined) throw new Error(`no ${doseId} for this child`);
  return found;
}

const OLD_INFANT = ['six-in-one-1', 'menb-1', 'rotavirus-1', 'six-in-one-2', 'rotavirus-2', 'pcv-1-at-12-weeks', 'six-in-one-3', 'menb-2-at-16-weeks'];
const NEW_INFANT = ['six-in-one-1', 'menb-1', 'rotavirus-1', 'six-in-one-2', 'rotavirus-2', 'menb-2-at-12-weeks', 'six-in-one-3', 'pcv-1-at-16-weeks'];

describe('which doses a child has, by birth cohort', () => {
  test.each([
    ['2024-06-30', [...OLD_INFANT, 'hib-menc-1', 'mmr-1', 'pcv-booster', 'menb-booster', 'pre-school-booster', 'measles-2-pre-school']],
    ['2024-07-01', [...OLD_INFANT, 'mmr-1', 'pcv-booster', 'menb-booster', 'six-in-one-4', 'measles-2-at-18-months', 'pre-school-booster']],
    ['2024-12-31', [...OLD_INFANT, 'mmr-1', 'pcv-booster', 'menb-booster', 'six-in-one-4', 'measles-2-at-18-months', 'pre-school-booster']],
    ['2025-01-01', [...OLD_INFANT, 'mmrv-1', 'pcv-booster', 'menb-booster', 'six-in-one-4', 'measles-2-at-18-months', 'pre-school-booster']],
  ])('born %s', (birthDate, expected) => {
    const a = assess(birthDate, [], '2030-01-01');
    expect(a.doses.map((d) => d.doseId).sort()).toEqual([...expected].sort());
  });

  test.each([
    // [born, dose, due date, label]
    ['2024-06-30', 'hib-menc-1', '2025-06-30', 'Hib/MenC'],
    ['2024-06-30', 'measles-2-pre-school', '2027-10-30', 'MMR dose 2'],
    ['2024-07-01', 'six-in-one-4', '2026-01-01', '6-in-1 dose 4'],
    ['2024-07-01', 'measles-2-at-18-months', '2026-01-01', 'MMRV dose 2'],
    ['2024-12-31', 'mmr-1', '2025-12-31', 'MMR dose 1'],
    ['2025-01-01', 'mmrv-1', '2026-01-01', 'MMRV dose 1'],
    ['2025-01-01', 'pre-school-booster', '2028-05-01', 'Pre-school booster (4-in-1)'],
    // Calendar months: a birthday on the 31st reaches 18 months on the last day of a shorter month.
    ['2024-08-31', 'six-in-one-4', '2026-02-28', '6-in-1 dose 4'],
    ['2024-02-29', 'mmr-1', '2025-02-28', 'MMR dose 1'],
  ])('born %s: %s due %s (%s)', (birthDate, doseId, dueDate, label) => {
    const d = dose(assess(birthDate, [], '2030-01-01'), doseId);
    expect(d).toMatchObject({ dueDate, overdueFrom: plusDays(dueDate, 28), label });
  });

  test.each([
    // The schedule in force on the day the child reached 12 weeks decides the infant series.
    ['2025-04-07', '2025-06-30', OLD_INFANT],
    ['2025-04-08', '2025-07-01', NEW_INFANT],
  ])('born %s (12 weeks on %s): the infant series of that day', (birthDate, twelveWeeks, expected) => {
    const a = assess(birthDate, [], '2026-01-01');
    expect(dose(a, 'six-in-one-2').dueDate).toBe(twelveWeeks);
    expect(a.doses.map((d) => d.doseId).filter((id) => NEW_INFANT.includes(id) || OLD_INFANT.includes(id))).toEqual(expected);
  });

  test('every child born 2023 to 2027 has each group dose exactly once, and the whole routine series', () => {
    const full = ['six-in-one|1', 'six-in-one|2', 'six-in-one|3', 'menb|1', 'menb|2', 'menb|3', 'rotavirus|1', 'rotavirus|2', 'pcv|1', 'pcv|2', 'measles|1', 'measles|2', 'four-in-one|1'];
    const problems: string[] = [];
    for (let day = '2023-01-01'; day <= '2027-12-31'; day = plusDays(day, 1)) {
      const keys = (scheduledDosesFor(schedule, day) ?? []).map((d) => `${d.group}|${String(d.doseNumber)}`);
      const twice = keys.filter((k, i) => keys.indexOf(k) !== i);
      const missing = full.filter((k) => !keys.includes(k));
      if (twice.length > 0 || missing.length > 0) problems.push(`${day}: twice ${twice.join(',')}; missing ${missing.join(',')}`);
    }
    expect(problems).toEqual([]);
  });
});

describe('an infant part-way through the series on 1 July 2025 keeps its series', () => {
  const eightWeeks = (date: string): DoseRecord[] => [given(CODES.sixInOne[0], 1, date), given(CODES.menb[0], 1, date), given(CODES.rotavirus[0], 1, date)];

  test('reached 8 weeks before the change and 12 weeks after: MenB at 12 weeks, PCV at 16', () => {
    // Born 2025-05-01: 8 weeks on 2025-06-26, 12 weeks on 2025-07-24, 16 weeks on 2025-08-21.
    const records = [...eightWeeks('2025-06-26'), given(CODES.sixInOne[1], 2, '2025-07-24'), given(CODES.menb[1], 2, '2025-07-24'), given(CODES.rotavirus[1], 2, '2025-07-24')];
    const a = assess('2025-05-01', records, '2025-09-25');
    expect(withStatus(a, 'given')).toEqual(['six-in-one-1', 'menb-1', 'rotavirus-1', 'six-in-one-2', 'rotavirus-2', 'menb-2-at-12-weeks']);
    expect(withStatus(a, 'overdue')).toEqual(['six-in-one-3', 'pcv-1-at-16-weeks']);
    expect(dose(a, 'pcv-1-at-16-weeks')).toMatchObject({ dueDate: '2025-08-21', overdueFrom: '2025-09-18' });
  });

  test('reached 12 weeks before the change and 16 weeks after: had PCV at 12 weeks, so MenB at 16, never PCV twice', () => {
    // Born 2025-03-20: 12 weeks on 2025-06-12, 16 weeks on 2025-07-10.
    const records = [...eightWeeks('2025-05-15'), given(CODES.sixInOne[1], 2, '2025-06-12'), given(CODES.pcv[0], 1, '2025-06-12'), given(CODES.rotavirus[1], 2, '2025-06-12')];
    const a = assess('2025-03-20', records, '2025-07-20');
    expect(statuses(a)).toMatchObject({ 'pcv-1-at-12-weeks': 'given', 'six-in-one-3': 'due', 'menb-2-at-16-weeks': 'due' });
    expect(a.doses.filter((d) => d.group === 'pcv' && d.doseNumber === 1)).toHaveLength(1);
    expect(a.next).toEqual({ date: '2025-07-20', doseIds: ['six-in-one-3', 'menb-2-at-16-weeks'] });
  });

  test('doses counted, not visits: a practice that gave PCV at 12 weeks and MenB at 16 after the change is up to date', () => {
    const records = [
      ...eightWeeks('2025-06-26'),
      given(CODES.sixInOne[1], 2, '2025-07-24'), given(CODES.pcv[0], 1, '2025-07-24'), given(CODES.rotavirus[1], 2, '2025-07-24'),
      given(CODES.sixInOne[2], 3, '2025-08-21'), given(CODES.menb[1], 2, '2025-08-21'),
    ];
    const a = assess('2025-05-01', records, '2025-09-25');
    expect(withStatus(a, 'due', 'overdue', 'missed')).toEqual([]);
    expect(dose(a, 'pcv-1-at-16-weeks').satisfiedBy?.date).toBe('2025-07-24');
    expect(a.next).toEqual({ date: '2026-05-01', doseIds: ['mmrv-1', 'pcv-booster', 'menb-booster'] });
  });
});

describe('doses given early, late, twice or by another practice', () => {
  // Born 2026-01-01: 8 weeks 2026-02-26, 12 weeks 2026-03-26, 16 weeks 2026-04-23.
  const born = '2026-01-01';

  test.each<[string, DoseRecord[], string, Record<string, DoseStatus>]>([
    ['early (6 weeks) still counts', [given(CODES.sixInOne[0], 1, '2026-02-12')], '2026-03-01', { 'six-in-one-1': 'given', 'menb-1': 'due' }],
    ['late: overdue until given', [given(CODES.sixInOne[0], 1, '2026-05-01')], '2026-04-30', { 'six-in-one-1': 'overdue' }],
    ['late: given once given', [given(CODES.sixInOne[0], 1, '2026-05-01')], '2026-05-01', { 'six-in-one-1': 'given', 'six-in-one-2': 'overdue' }],
    [
      'the same dose twice does not stand in for the next',
      [given(CODES.sixInOne[0], 1, '2026-02-26'), given(CODES.sixInOne[0], 1, '2026-03-26')],
      '2026-04-30',
      { 'six-in-one-1': 'given', 'six-in-one-2': 'overdue' },
    ],
    [
      'a second record whose dose number says 2 is dose 2',
      [given(CODES.sixInOne[0], 1, '2026-02-26'), given(CODES.sixInOne[0], 2, '2026-03-26')],
      '2026-04-30',
      { 'six-in-one-1': 'given', 'six-in-one-2': 'given' },
    ],
    ['no dose number: the code names the dose (HL7 v2, NEMS)', [given(CODES.sixInOne[1], undefined, '2026-03-26')], '2026-03-27', { 'six-in-one-1': 'overdue', 'six-in-one-2': 'given' }],
    [
      'by two practices',
      [given(CODES.sixInOne[0], 1, '2026-02-26', 'Y90001-0001'), given(CODES.sixInOne[1], 2, '2026-03-30', 'Y90002-0042')],
      '2026-04-01',
      { 'six-in-one-1': 'given', 'six-in-one-2': 'given' },
    ],
    [
      'group only, no number: one a day, in date order',
      [
        { status: 'completed', group: 'six-in-one', date: '2026-02-26' },
        { status: 'completed', group: 'six-in-one', date: '2026-02-26' },
        { status: 'completed', group: 'six-in-one', date: '2026-03-26' },
      ],
      '2026-05-30',
      { 'six-in-one-1': 'given', 'six-in-one-2': 'given', 'six-in-one-3': 'overdue' },
    ],
  ])('%s', (_name, records, asOf, expected) => {
    expect(statuses(assess(born, records, asOf))).toMatchObject(expected);
  });

  test('says which record satisfies a dose, and why others satisfy nothing', () => {
    const records: DoseRecord[] = [
      given(CODES.sixInOne[0], 1, '2026-02-26', 'first'),
      given(CODES.sixInOne[0], 1, '2026-03-26', 'again'),
      given(CODES.sixInOne[0], 1, '2025-12-01', 'before-birth'),
      given('1082441000000108', 3, '2026-04-23', 'unknown'),
      { status: 'entered-in-error' as 'completed', procedureCode: CODES.menb[0], date: '2026-02-26', id: 'withdrawn' },
      given(CODES.menb[0], 1, '2026-03-01', 'future'),
      { status: 'completed', procedureCode: CODES.menb[0], id: 'no-date' },
    ];
    const a = assess(born, records, '2026-02-28');
    expect(dose(a, 'six-in-one-1').satisfiedBy).toEqual({ index: 0, id: 'first', date: '2026-02-26' });
    // As of 2026-02-28 the repeat (2026-03-26) and the future record lie after the day assessed.
    expect(a.ignored).toEqual([
      { index: 1, id: 'again', reason: 'after-as-of' },
      { index: 2, id: 'before-birth', reason: 'before-birth' },
      { index: 3, id: 'unknown', reason: 'after-as-of' },
      { index: 4, id: 'withdrawn', reason: 'status' },
      { index: 5, id: 'future', reason: 'after-as-of' },
      { index: 6, id: 'no-date', reason: 'no-date' },
    ]);
    const later = assess(born, records, '2026-05-01');
    expect(later.ignored.filter((i) => i.index === 1 || i.index === 3)).toEqual([
      { index: 1, id: 'again', reason: 'duplicate' },
      { index: 3, id: 'unknown', reason: 'unknown-code' },
    ]);
  });
});

describe('missed doses', () => {
  const born = '2026-01-01';

  test('a not-done record marks its dose missed until a dose is given, and is kept beside it', () => {
    const dna = notDone(CODES.sixInOne[2], 3, '2026-04-23', 'dna');
    expect(dose(assess(born, [dna], '2026-04-24'), 'six-in-one-3')).toMatchObject({ status: 'missed', notDone: { id: 'dna', date: '2026-04-23' } });
    const caughtUp = assess(born, [dna, given(CODES.sixInOne[2], 3, '2026-05-07', 'catch-up')], '2026-05-08');
    expect(dose(caughtUp, 'six-in-one-3')).toMatchObject({ status: 'given', satisfiedBy: { id: 'catch-up' }, notDone: { id: 'dna' } });
  });

  test('a not-done record with no number marks the dose of its group due most recently', () => {
    const a = assess(born, [{ status: 'not-done', group: 'six-in-one', date: '2026-04-25' }], '2026-04-26');
    expect(statuses(a)).toMatchObject({ 'six-in-one-1': 'overdue', 'six-in-one-2': 'overdue', 'six-in-one-3': 'missed' });
  });
});

describe('rotavirus past its upper age limits is no longer due, not overdue', () => {
  // Born 2026-01-01: dose 1 due 2026-02-26, no longer from 15 weeks (2026-04-16);
  // dose 2 due 2026-03-26, overdue from 2026-04-23, no longer from 24 weeks (2026-06-18).
  test.each<[string, DoseStatus, DoseStatus]>([
    ['2026-03-25', 'due', 'not-yet-due'],
    ['2026-04-15', 'overdue', 'due'],
    ['2026-04-16', 'no-longer-due', 'due'],
    ['2026-06-17', 'no-longer-due', 'overdue'],
    ['2026-06-18', 'no-longer-due', 'no-longer-due'],
  ])('as of %s: dose 1 %s, dose 2 %s', (asOf, first, second) => {
    const a = assess('2026-01-01', [], asOf);
    expect([dose(a, 'rotavirus-1').status, dose(a, 'rotavirus-2').status]).toEqual([first, second]);
    expect(dose(a, 'rotavirus-1').noLongerDueFrom).toBe('2026-04-16');
    expect(a.next?.doseIds.some((id) => id.startsWith('rotavirus')) ?? false).toBe(second !== 'no-longer-due');
  });

  test('a missed rotavirus dose past its limit is no longer due; one given stays given', () => {
    const records = [notDone(CODES.rotavirus[0], 1, '2026-02-26'), given(CODES.rotavirus[1], 2, '2026-03-26')];
    expect(statuses(assess('2026-01-01', records, '2026-04-01'))).toMatchObject({ 'rotavirus-1': 'missed', 'rotavirus-2': 'given' });
    expect(statuses(assess('2026-01-01', records, '2026-09-01'))).toMatchObject({ 'rotavirus-1': 'no-longer-due', 'rotavirus-2': 'given' });
  });
});

describe('bad input is a value, not an exception', () => {
  test.each([
    ['', '2026-01-01', 'birthDate'],
    ['2025-02-30', '2026-01-01', 'birthDate'],
    ['2025-1-01', '2026-01-01', 'birthDate'],
    ['2025-01-01T00:00:00Z', '2026-01-01', 'birthDate'],
    ['yesterday', '2026-01-01', 'birthDate'],
    ['2026-01-02', '2026-01-01', 'birthDate'],
    ['2025-01-01', '2026-13-01', 'asOf'],
    ['2025-01-01', '', 'asOf'],
  ])('born %j, as of %j: names %s', (birthDate, asOf, field) => {
    expect(assessSchedule(schedule, birthDate, [], asOf)).toMatchObject({ ok: false, field, problem: expect.any(String) });
  });

  test('a born-today child has its first doses not yet due', () => {
    expect(assess('2026-01-01', [], '2026-01-01').next).toEqual({ date: '2026-02-26', doseIds: ['six-in-one-1', 'menb-1', 'rotavirus-1'] });
  });
});

// The three children of the GP's complete history (story step 9), as synthetic
// copies: test/fixtures/csv/immunisation-history-y90001.csv, read by the real
// CSV adapter, mapped from the stored Immunization shape.
describe('the Y90001 history on 2026-11-22', () => {
  const children = historyByChild(readFileSync(path.resolve(import.meta.dirname, '../fixtures/csv/immunisation-history-y90001.csv'), 'utf8'));
  const child = (given: string): { birthDate: string; records: DoseRecord[]; immunizations: Immunization[] } => {
    const found = children.get(given);
    if (found === undefined) throw new Error(`no ${given} in the history`);
    return found;
  };

  test.each([
    ['Olivia', '2026-05-04', ['six-in-one-3', 'pcv-1-at-16-weeks'], []],
    ['Ella', '2025-02-01', ['six-in-one-4', 'measles-2-at-18-months'], []],
    ['Jacob', '2024-03-10', [], ['pre-school-booster', 'measles-2-pre-school']],
  ])('%s (born %s): overdue %j, later %j, the rest given', (name, birthDate, overdue, later) => {
    const { birthDate: recorded, records } = child(name);
    expect(recorded).toBe(birthDate);
    const a = assess(birthDate, records, '2026-11-22');
    expect(withStatus(a, 'overdue')).toEqual(overdue);
    expect(withStatus(a, 'due', 'missed', 'no-longer-due')).toEqual([]);
    expect(a.ignored).toEqual([]);
    const notYet = withStatus(a, 'not-yet-due');
    if (later.length > 0) expect(notYet).toEqual(later);
    expect(withStatus(a, 'given')).toHaveLength(a.doses.length - overdue.length - notYet.length);
  });

  test('Olivia: the 16-week 6-in-1 dose 3 and first PCV, overdue since 2026-09-21; the next appointment is now', () => {
    const a = assess('2026-05-04', child('Olivia').records, '2026-11-22');
    expect(dose(a, 'six-in-one-3')).toMatchObject({ dueDate: '2026-08-24', overdueFrom: '2026-09-21', label: '6-in-1 dose 3' });
    expect(dose(a, 'pcv-1-at-16-weeks')).toMatchObject({ dueDate: '2026-08-24', label: 'PCV dose 1' });
    expect(a.next).toEqual({ date: '2026-11-22', doseIds: ['six-in-one-3', 'pcv-1-at-16-weeks'] });
  });

  test('Ella: the 18-month 6-in-1 dose 4 and MMRV dose 2', () => {
    const a = assess('2025-02-01', child('Ella').records, '2026-11-22');
    expect(a.doses.filter((d) => d.status === 'overdue').map((d) => [d.label, d.dueDate])).toEqual([
      ['6-in-1 dose 4', '2026-08-01'],
      ['MMRV dose 2', '2026-08-01'],
    ]);
    expect(dose(a, 'mmrv-1').satisfiedBy?.id).toBe('Y90001-HIST-0027');
  });

  test('Jacob: no 18-month appointment applies to him; the pre-school boosters come next', () => {
    const a = assess('2024-03-10', child('Jacob').records, '2026-11-22');
    expect(a.doses.some((d) => d.doseId === 'six-in-one-4' || d.doseId === 'measles-2-at-18-months')).toBe(false);
    expect(dose(a, 'hib-menc-1').status).toBe('given');
    expect(a.next).toEqual({ date: '2027-07-10', doseIds: ['pre-school-booster', 'measles-2-pre-school'] });
  });

  test('as an ImmunizationRecommendation: valid R4, forecast statuses, due and overdue dates, supporting records', () => {
    const { immunizations, records } = child('Olivia');
    expect(immunizations).toHaveLength(6);
    const a = assess('2026-05-04', records, '2026-11-22');
    const resource = buildImmunizationRecommendation(schedule, a, { patient: { reference: 'Patient/olivia' }, id: 'olivia-2026-11-22' });
    expect(validateFhir(resource)).toEqual({ ok: true });
    expect(resource).toMatchObject({ resourceType: 'ImmunizationRecommendation', patient: { reference: 'Patient/olivia' }, date: '2026-11-22' });
    const byLabel = new Map(resource.recommendation.map((r) => [r.vaccineCode?.[0]?.text ?? '?', r]));
    expect(resource.recommendation).toHaveLength(a.doses.length);
    expect(byLabel.get('6-in-1 dose 3')).toEqual({
      vaccineCode: [{ coding: [{ system: 'http://snomed.info/sct', code: CODES.sixInOne[2], display: 'Third dose of 6-in-1 (DTaP/IPV/Hib/HepB) vaccine' }], text: '6-in-1 dose 3' }],
      forecastStatus: { coding: [{ system: FORECAST_STATUS_SYSTEM, code: 'overdue', display: 'Overdue' }] },
      dateCriterion: [
        { code: { coding: [DATE_VACCINE_DUE] }, value: '2026-08-24' },
        { code: { coding: [DATE_OVERDUE] }, value: '2026-09-21' },
      ],
      series: '6-in-1 (DTaP/IPV/Hib/HepB)',
      doseNumberPositiveInt: 3,
    });
    expect(byLabel.get('6-in-1 dose 1')).toMatchObject({
      forecastStatus: { coding: [{ code: 'complete' }] },
      supportingImmunization: [{ reference: 'Immunization/Y90001-HIST-0001' }],
    });
    expect(byLabel.get('MMRV dose 1')).toMatchObject({ forecastStatus: { coding: [{ code: 'due' }] }, dateCriterion: [{ value: '2027-05-04' }, { value: '2027-06-01' }] });
  });
});

describe('ImmunizationRecommendation forecast status', () => {
  test.each<[string, DoseRecord[], string, string | undefined]>([
    ['not yet due: due, with its future date', [], '2026-02-01', 'due'],
    ['due', [], '2026-03-01', 'due'],
    ['overdue', [], '2026-03-26', 'overdue'],
    ['missed, before its overdue date: due', [notDone(CODES.menb[0], 1, '2026-02-26')], '2026-03-01', 'due'],
    ['missed, after it: overdue', [notDone(CODES.menb[0], 1, '2026-02-26')], '2026-03-26', 'overdue'],
    ['given: complete', [given(CODES.menb[0], 1, '2026-02-26')], '2026-03-01', 'complete'],
  ])('MenB dose 1 %s', (_name, records, asOf, expected) => {
    const r = buildImmunizationRecommendation(schedule, assess('2026-01-01', records, asOf), { patient: { reference: 'Patient/x' } });
    expect(r.recommendation.find((x) => x.vaccineCode?.[0]?.text === 'MenB dose 1')?.forecastStatus.coding?.[0]?.code).toBe(expected);
  });

  test('a missed dose is recommended without saying why or citing the not-done record', () => {
    const refused: Immunization = {
      resourceType: 'Immunization',
      id: 'refused-1',
      status: 'not-done',
      statusReason: { coding: [{ system: 'http://snomed.info/sct', code: '310376006', display: 'Immunisation consent not given' }] },
      vaccineCode: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-NullFlavor', code: 'UNK' }] },
      patient: { reference: 'Patient/x' },
      occurrenceDateTime: '2026-02-26T09:00:00+00:00',
      extension: [{ url: 'https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-VaccinationProcedure', valueCodeableConcept: { coding: [{ system: 'http://snomed.info/sct', code: CODES.menb[0] }] } }],
    };
    const record = doseRecordFromImmunization(refused);
    expect(record).toEqual({ status: 'not-done', id: 'refused-1', procedureCode: CODES.menb[0], date: '2026-02-26T09:00:00+00:00' });
    const a = assess('2026-01-01', [record!], '2026-04-01');
    const r = buildImmunizationRecommendation(schedule, a, { patient: { reference: 'Patient/x' } });
    const menb = r.recommendation.find((x) => x.vaccineCode?.[0]?.text === 'MenB dose 1');
    expect(menb?.forecastStatus.coding?.[0]?.code).toBe('overdue');
    // Not even the refused record's id: its existence is the health visitors' to know.
    expect(menb?.supportingImmunization).toBeUndefined();
    expect(JSON.stringify(r)).not.toMatch(/310376006|consent not given|refused-1/i);
  });

  test('a dose past its upper age limit is not recommended at all', () => {
    const r = buildImmunizationRecommendation(schedule, assess('2026-01-01', [], '2026-07-01'), { patient: { reference: 'Patient/x' } });
    expect(r.recommendation.map((x) => x.vaccineCode?.[0]?.text).filter((t) => t?.startsWith('Rotavirus'))).toEqual([]);
    expect(validateFhir(r)).toEqual({ ok: true });
  });
});

describe('stored Immunizations as dose records', () => {
  const base: Immunization = {
    resourceType: 'Immunization',
    id: 'imm-1',
    status: 'completed',
    vaccineCode: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-NullFlavor', code: 'UNK' }] },
    patient: { reference: 'Patient/p' },
    occurrenceDateTime: '2026-06-30T10:00:00+00:00',
    extension: [{ url: 'https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-VaccinationProcedure', valueCodeableConcept: { coding: [{ system: 'http://snomed.info/sct', code: CODES.sixInOne[0] }] } }],
  };
  test.each<[string, Immunization, DoseRecord | undefined]>([
    ['HL7 v2 / NEMS: the code names the dose', base, { status: 'completed', id: 'imm-1', procedureCode: CODES.sixInOne[0], date: '2026-06-30T10:00:00+00:00' }],
    ['CSV: with its DOSE_SEQUENCE', { ...base, protocolApplied: [{ doseNumberPositiveInt: 4 }] }, { status: 'completed', id: 'imm-1', procedureCode: CODES.sixInOne[0], doseNumber: 4, date: '2026-06-30T10:00:00+00:00' }],
    ['a dose number as text', { ...base, protocolApplied: [{ doseNumberString: '2' }] }, { status: 'completed', id: 'imm-1', procedureCode: CODES.sixInOne[0], doseNumber: 2, date: '2026-06-30T10:00:00+00:00' }],
    ['a dose "number" that is not one', { ...base, protocolApplied: [{ doseNumberString: 'booster' }] }, { status: 'completed', id: 'imm-1', procedureCode: CODES.sixInOne[0], date: '2026-06-30T10:00:00+00:00' }],
    ['not done', { ...base, status: 'not-done' }, { status: 'not-done', id: 'imm-1', procedureCode: CODES.sixInOne[0], date: '2026-06-30T10:00:00+00:00' }],
    ['entered in error: not a dose', { ...base, status: 'entered-in-error' }, undefined],
    ['no procedure extension', { ...base, extension: [] }, { status: 'completed', id: 'imm-1', date: '2026-06-30T10:00:00+00:00' }],
  ])('%s', (_name, immunization, expected) => {
    expect(doseRecordFromImmunization(immunization)).toEqual(expected);
  });

  test('the day is the date as written where the dose was given', () => {
    const late = doseRecordFromImmunization({ ...base, occurrenceDateTime: '2026-06-30T23:30:00-05:00' });
    expect(dose(assess('2026-05-04', [late!], '2026-06-30'), 'six-in-one-1').satisfiedBy?.date).toBe('2026-06-30');
  });
});

/** The CSV, through the real adapter, grouped by child: birth date, Immunizations (id = UNIQUE_ID), dose records. */
function historyByChild(text: string): Map<string, { birthDate: string; records: DoseRecord[]; immunizations: Immunization[] }> {
  const adapted = adaptImmunisationCsv(text);
  if (!adapted.ok) throw new Error(`history refused: ${JSON.stringify(adapted.issues)}`);
  const children = new Map<string, { birthDate: string; records: DoseRecord[]; immunizations: Immunization[] }>();
  for (const { row, result } of adapted.value.rows) {
    if (!result.ok) throw new Error(`row ${String(row)} refused: ${JSON.stringify(result.issues)}`);
    const patient = result.value.entries.find((e) => e.resource.resourceType === 'Patient')?.resource as Patient | undefined;
    const immunization = result.value.entries.find((e) => e.resource.resourceType === 'Immunization')?.resource as Immunization | undefined;
    const name = patient?.name?.[0]?.given?.[0];
    if (patient?.birthDate === undefined || immunization === undefined || name === undefined) throw new Error(`row ${String(row)}: no child or dose`);
    const stored: Immunization = { ...immunization, id: immunization.identifier?.[0]?.value ?? `row-${String(row)}` };
    const entry = children.get(name) ?? { birthDate: patient.birthDate, records: [], immunizations: [] };
    entry.immunizations.push(stored);
    entry.records = doseRecordsFromImmunizations(entry.immunizations);
    children.set(name, entry);
  }
  return children;
}
