import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ageReachedOn, dayString, parseDay } from '../../src/followup/calendar.js';
import { buildImmunizationRecommendation } from '../../src/followup/immunization-recommendation.js';
import { assessSchedule, type Assessment, type DoseRecord, type DoseStatus } from '../../src/followup/schedule.js';
import { validateFhir } from '../../src/fhir/validator.js';
import { plusDays, readRoutineSchedule } from '../support/schedule.js';

// Properties of the schedule assessment over generated histories. The seed
// comes from test/support/fast-check-seed.ts (FC_SEED in CI).

const schedule = readRoutineSchedule();
const codes = [...schedule.groups.flatMap((g) => g.codes.map((c) => c.code)), '1082441000000108', '999999999'];
const groups = [...schedule.groups.map((g) => g.id), 'not-a-group'];

/** Birth dates around every cohort boundary (2023 to 2027). */
const birthDate = fc.integer({ min: 0, max: 5 * 365 }).map((d) => plusDays('2023-01-01', d));

/** Days of age records fall on: mostly the appointments (so that records share days), sometimes any day. */
const appointment = fc.tuple(fc.constantFrom(42, 56, 84, 112, 365, 548, 1217), fc.constantFrom(0, 0, 0, 1, 7, 30, 120)).map(([age, late]) => age + late);

/** A record as a feed might send it: a known or unknown code or a group only, with or without a dose number and id. */
const record = (birth: string): fc.Arbitrary<DoseRecord> =>
  fc.record(
    {
      status: fc.constantFrom<'completed' | 'not-done'>('completed', 'completed', 'completed', 'not-done'),
      procedureCode: fc.constantFrom(...codes),
      group: fc.constantFrom(...groups),
      doseNumber: fc.integer({ min: 1, max: 5 }),
      date: fc.oneof(appointment, fc.integer({ min: -30, max: 2000 })).map((d) => plusDays(birth, d)),
      id: fc.constantFrom('a', 'b', 'c', 'Y90001-1', 'Y90002-1'),
    },
    { requiredKeys: ['status', 'date'] },
  );

const history = birthDate.chain((birth) =>
  fc.record({
    birth: fc.constant(birth),
    records: fc.array(record(birth), { maxLength: 25 }),
    asOf: fc.integer({ min: 0, max: 2200 }).map((d) => plusDays(birth, d)),
    extra: record(birth).map((r): DoseRecord => ({ ...r, status: 'completed' })),
    at: fc.nat(),
  }),
);

function statusesOf(a: Assessment): Map<string, DoseStatus> {
  if (!a.ok) throw new Error(`not assessed: ${a.problem}`);
  return new Map(a.doses.map((d) => [d.doseId, d.status]));
}

describe('schedule assessment properties', () => {
  it('a dose given never makes anything more overdue: every status stays or becomes given', () => {
    fc.assert(
      fc.property(history, ({ birth, records, asOf, extra, at }) => {
        const before = statusesOf(assessSchedule(schedule, birth, records, asOf));
        // Half the time the new dose shares a day and a group with a record already held (a second system's copy, say).
        const twin = at % 2 === 0 ? records[at % (records.length + 1)] : undefined;
        const added: DoseRecord = twin === undefined ? extra : { ...extra, date: twin.date, ...(twin.group === undefined ? {} : { group: twin.group }), ...(twin.procedureCode === undefined ? {} : { procedureCode: twin.procedureCode }) };
        const withDose = [...records];
        withDose.splice(at % (records.length + 1), 0, added);
        const after = statusesOf(assessSchedule(schedule, birth, withDose, asOf));
        expect([...after.keys()]).toEqual([...before.keys()]);
        for (const [doseId, status] of after) {
          if (status !== before.get(doseId)) expect([doseId, status]).toEqual([doseId, 'given']);
        }
        const overdue = (m: Map<string, DoseStatus>): string[] => [...m].filter(([, s]) => s === 'overdue' || s === 'missed').map(([id]) => id);
        expect(overdue(before)).toEqual(expect.arrayContaining(overdue(after)));
      }),
      { numRuns: 1000 },
    );
  });

  it('is deterministic, and the order records arrive in changes no status', () => {
    fc.assert(
      fc.property(history, fc.nat(), ({ birth, records, asOf }, seed) => {
        const first = assessSchedule(schedule, birth, records, asOf);
        expect(assessSchedule(schedule, birth, records, asOf)).toEqual(first);
        const shuffled = records.map((r, i) => ({ r, key: (i * 7919 + seed) % 1009 })).sort((a, b) => a.key - b.key).map((x) => x.r);
        expect(statusesOf(assessSchedule(schedule, birth, shuffled, asOf))).toEqual(statusesOf(first));
      }),
      { numRuns: 300 },
    );
  });

  it('is total: any birth date, records and day give a value, never an exception', () => {
    const anyRecord = fc.record({
      status: fc.oneof(fc.constantFrom('completed', 'not-done', 'entered-in-error'), fc.anything()),
      procedureCode: fc.oneof(fc.constantFrom(...codes), fc.anything()),
      group: fc.oneof(fc.constantFrom(...groups), fc.anything()),
      doseNumber: fc.oneof(fc.integer(), fc.double(), fc.anything()),
      date: fc.oneof(fc.date({ noInvalidDate: false }).map((d) => (Number.isNaN(d.getTime()) ? 'NaN' : d.toISOString())), fc.string(), fc.anything()),
      id: fc.anything(),
    }, { requiredKeys: [] });
    const day = fc.oneof(birthDate, fc.string(), fc.constantFrom('0999-12-31', '9999-12-31', '2024-02-29', '2023-02-29'), fc.anything());
    fc.assert(
      fc.property(day, fc.oneof(fc.array(fc.oneof(anyRecord, fc.anything())), fc.anything()), day, (birth, records, asOf) => {
        const a = assessSchedule(schedule, birth as string, records as DoseRecord[], asOf as string);
        expect(typeof a.ok).toBe('boolean');
        if (!a.ok) expect(['birthDate', 'asOf']).toContain(a.field);
      }),
      { numRuns: 500 },
    );
  });

  it('every assessment builds a valid R4 ImmunizationRecommendation', () => {
    fc.assert(
      fc.property(history, ({ birth, records, asOf }) => {
        const a = assessSchedule(schedule, birth, records, asOf);
        if (!a.ok) throw new Error(a.problem);
        const resource = buildImmunizationRecommendation(schedule, a, { patient: { reference: 'Patient/child' } });
        expect(resource.recommendation.length).toBe(a.doses.filter((d) => d.status !== 'no-longer-due').length);
        if (resource.recommendation.length > 0) expect(validateFhir(resource)).toEqual({ ok: true });
      }),
      { numRuns: 40 },
    );
  });
});

describe('calendar arithmetic', () => {
  it('agrees with Date for every day from year 1000 to 9999, both ways', () => {
    const MS_PER_DAY = 86_400_000;
    fc.assert(
      fc.property(fc.integer({ min: Date.UTC(1000, 0, 1) / MS_PER_DAY, max: Date.UTC(9999, 11, 31) / MS_PER_DAY }), (n) => {
        const iso = new Date(n * MS_PER_DAY).toISOString().slice(0, 10);
        expect(dayString(n)).toBe(iso);
        expect(parseDay(iso)?.n).toBe(n);
      }),
      { numRuns: 2000 },
    );
  });

  it('reaches calendar months as Date does, clamped to the end of a shorter month', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 3 * 365 }), fc.integer({ min: 0, max: 60 }), fc.integer({ min: 0, max: 20 }), (offset, months, weeks) => {
        const birth = parseDay(plusDays('2020-01-01', offset));
        if (birth === undefined) throw new Error('unreachable');
        const target = new Date(Date.UTC(birth.year, birth.month - 1 + months, 1));
        const lastDay = new Date(Date.UTC(target.getUTCFullYear(), target.getUTCMonth() + 1, 0)).getUTCDate();
        target.setUTCDate(Math.min(birth.day, lastDay) + weeks * 7);
        expect(dayString(ageReachedOn(birth, { months, weeks }))).toBe(target.toISOString().slice(0, 10));
      }),
      { numRuns: 500 },
    );
  });
});
