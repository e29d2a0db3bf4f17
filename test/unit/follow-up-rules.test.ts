import type { EpisodeOfCare, Observation, Task } from 'fhir/r4.js';
import { describe, expect, it, test } from 'vitest';
import { adaptImmunisationCsv } from '../../src/adapters/immunisation-csv.js';
import { completeHistoryUnits } from '../../src/adapters/immunisation-history.js';
import { buildCompleteHistoryList, isCompleteHistory } from '../../src/followup/complete-history.js';
import {
  asOfClock,
  birthWithoutBookingSpecs,
  escalated,
  expectedDelivery,
  isPregnancyOverdue,
  moveAction,
  needsEscalation,
  scheduleInEffect,
  type Organisation,
} from '../../src/followup/follow-up-rules.js';
import { followUpKey, nextEpisode } from '../../src/followup/follow-up-task.js';
import { readFixture } from '../support/golden.js';
import { readRoutineSchedule } from '../support/schedule.js';

// The follow-up job's pure rules, as tables: what is overdue, escalated or moved on a given day.

const FOLLOW_UP = 'https://eastside.example/fhir/CodeSystem/follow-up';
const STATUS = 'https://eastside.example/fhir/CodeSystem/follow-up-status';
const ocean: Organisation = { system: 'urn:eastside:org', code: 'CC-OCEAN', name: 'Ocean', catchment: ['E1', 'E1W'] };
const iod: Organisation = { system: 'urn:eastside:org', code: 'CC-IOD', name: 'Isle of Dogs', catchment: ['E14'] };
const hv: Organisation = { system: 'https://fhir.nhs.uk/Id/ods-organization-code', code: 'R9H', name: 'Health visitors', catchment: [] };
const maternity: Organisation = { system: 'https://fhir.nhs.uk/Id/ods-organization-code', code: 'R9M', name: 'Maternity', catchment: [] };

function task(over: Partial<Task> & { kind?: string; business?: string } = {}): Task {
  const { kind = 'missed-dose', business = 'open', ...rest } = over;
  return {
    resourceType: 'Task',
    status: 'requested',
    intent: 'order',
    code: { coding: [{ system: FOLLOW_UP, code: kind }] },
    businessStatus: { coding: [{ system: STATUS, code: business }] },
    for: { reference: 'Patient/child' },
    focus: { reference: 'Immunization/missed' },
    owner: { identifier: { system: 'urn:eastside:org', value: 'CC-OCEAN' } },
    executionPeriod: { start: '2026-11-22T09:00:00.000Z' },
    authoredOn: '2026-11-22T09:00:00.000Z',
    ...rest,
  };
}

const pregnancy = (over: Partial<EpisodeOfCare> = {}): EpisodeOfCare => ({
  resourceType: 'EpisodeOfCare',
  identifier: [{ system: 'https://eastside.example/fhir/Id/northgate-pregnancy', value: 'NG-1' }],
  status: 'active',
  type: [{ coding: [{ system: 'http://snomed.info/sct', code: '77386006' }] }],
  patient: { reference: 'Patient/mother' },
  period: { start: '2026-03-02' },
  ...over,
});
const edd = (value: string, key = 'NG-1'): Observation => ({
  resourceType: 'Observation',
  identifier: [{ system: 'https://eastside.example/fhir/Id/pregnancy-observation', value: `${key}:http://loinc.org|11778-8` }],
  status: 'final',
  code: { coding: [{ system: 'http://loinc.org', code: '11778-8' }] },
  valueDateTime: value,
});

describe('pregnancy past its due date', () => {
  test.each([
    { name: 'four weeks less a day after the due date', asOf: '2026-11-08', births: [], episode: {}, overdue: false },
    { name: 'four weeks after the due date', asOf: '2026-11-09', births: [], episode: {}, overdue: true },
    { name: 'a birth notified since the booking', asOf: '2026-11-22', births: ['2026-10-20'], episode: {}, overdue: false },
    { name: 'only an earlier baby of the mother', asOf: '2026-11-22', births: ['2024-01-05'], episode: {}, overdue: true },
    { name: 'the episode finished (birth notified)', asOf: '2026-11-22', births: [], episode: { status: 'finished' as const }, overdue: false },
    { name: 'the episode entered in error', asOf: '2026-11-22', births: [], episode: { status: 'entered-in-error' as const }, overdue: false },
  ])('$name: overdue $overdue', ({ asOf, births, episode, overdue }) => {
    const e = pregnancy(episode);
    expect(isPregnancyOverdue(e, expectedDelivery(e, [edd('2026-10-12')]), asOf, births)).toBe(overdue);
  });

  it('takes the EDD the booking sent with the episode before any other EDD of the mother', () => {
    expect(expectedDelivery(pregnancy(), [edd('2027-01-01', 'OTHER'), edd('2026-10-12')])).toBe('2026-10-12');
    expect(expectedDelivery(pregnancy(), [edd('2027-01-01', 'OTHER')])).toBe('2027-01-01');
    expect(expectedDelivery(pregnancy(), [])).toBeUndefined();
  });
});

describe('escalation', () => {
  test.each([
    { name: 'requested, 13 days on', over: {}, asOf: '2026-12-05', escalate: false },
    { name: 'requested, 14 days on', over: {}, asOf: '2026-12-06', escalate: true },
    { name: 'accepted by its owner', over: { status: 'accepted' as const }, asOf: '2026-12-20', escalate: false },
    { name: 'in progress', over: { status: 'in-progress' as const }, asOf: '2026-12-20', escalate: false },
    { name: 'already escalated', over: { business: 'escalated' }, asOf: '2026-12-20', escalate: false },
    { name: 'completed', over: { status: 'completed' as const }, asOf: '2026-12-20', escalate: false },
  ])('$name: escalate $escalate', ({ over, asOf, escalate }) => {
    expect(needsEscalation(task(over), asOf, 14)).toBe(escalate);
  });

  it('marks the Task escalated with a note and keeps everything else, earlier notes included', () => {
    const before = task({ note: [{ text: 'left a message' }] });
    const after = escalated(before, 14, new Date('2026-12-06T02:00:00Z'), 'the hub');
    expect(after.businessStatus?.coding?.[0]?.code).toBe('escalated');
    expect(after.status).toBe('requested');
    expect(after.note?.map((n) => n.text)).toEqual(['left a message', 'Escalated to the health visitors: not accepted within 14 days']);
    expect({ ...after, businessStatus: before.businessStatus, note: before.note, lastModified: undefined }).toEqual({ ...before, lastModified: undefined });
  });
});

describe('the clock of a run as of a day', () => {
  const fixed = (iso: string) => () => new Date(iso);

  it('is the clock itself for a run as of today', () => {
    expect(asOfClock(fixed('2026-12-06T07:45:12.345Z'), '2026-12-06')().toISOString()).toBe('2026-12-06T07:45:12.345Z');
  });

  test.each([
    ['a past day', '2026-11-22', '2026-11-22T07:45:12.345Z'],
    ['a later day', '2027-01-02', '2027-01-02T07:45:12.345Z'],
    ['29 February', '2028-02-29', '2028-02-29T07:45:12.345Z'],
  ])('moves the clock to %s, at the time of day it read', (_name, asOf, expected) => {
    expect(asOfClock(fixed('2026-12-06T07:45:12.345Z'), asOf)().toISOString()).toBe(expected);
  });

  it('keeps ticking, and a run that crosses midnight stays on its day', () => {
    let now = Date.parse('2026-12-06T23:59:59.000Z');
    const clock = asOfClock(() => new Date(now), '2026-11-22');
    expect(clock().toISOString()).toBe('2026-11-22T23:59:59.000Z');
    now += 500;
    expect(clock().toISOString()).toBe('2026-11-22T23:59:59.500Z');
    now += 5_000;
    expect(clock().toISOString()).toBe('2026-11-22T23:59:59.999Z');
  });
});

describe('moves and deaths', () => {
  test.each([
    { name: 'still in the owner centre\'s catchment', t: {}, districts: ['E1W'], deceased: false, expected: { action: 'stay' } },
    { name: 'moved to another centre\'s catchment', t: {}, districts: ['E14'], deceased: false, expected: { action: 'transfer', to: iod } },
    { name: 'moved out of every catchment', t: {}, districts: ['N1'], deceased: false, expected: { action: 'close', businessStatus: 'moved-away' } },
    { name: 'no address known', t: {}, districts: [], deceased: false, expected: { action: 'stay' } },
    { name: 'died (closed as no longer needed: partners are not told of a death)', t: {}, districts: ['E1'], deceased: true, expected: { action: 'close', businessStatus: 'no-longer-needed' } },
    { name: 'the health visitors\' Task, child moved to another centre', t: { owner: { identifier: { value: 'R9H' } } }, districts: ['E14'], deceased: false, expected: { action: 'stay' } },
    { name: 'the health visitors\' Task, child moved out of area', t: { owner: { identifier: { value: 'R9H' } } }, districts: ['N1'], deceased: false, expected: { action: 'close', businessStatus: 'moved-away' } },
    { name: 'a pregnancy exception does not move with an address', t: { kind: 'pregnancy-overdue' }, districts: ['N1'], deceased: false, expected: { action: 'stay' } },
    { name: 'a pregnancy exception closes on death', t: { kind: 'pregnancy-overdue' }, districts: [], deceased: true, expected: { action: 'close', businessStatus: 'no-longer-needed' } },
  ])('$name', ({ t, districts, deceased, expected }) => {
    expect(moveAction(task(t), { districts, deceased }, [ocean, iod])).toEqual(expected);
  });
});

describe('exception owners', () => {
  it('a birth with no booking goes to the unit that notified it and to each health-visiting organisation', () => {
    const specs = birthWithoutBookingSpecs('Patient/baby', [maternity], [hv], new Date('2026-11-22T09:00:00Z'));
    expect(specs.map((s) => [s.owner.code, s.kind, s.focus, s.subject])).toEqual([
      ['R9M', 'birth-without-booking', 'Patient/baby', 'Patient/baby'],
      ['R9H', 'birth-without-booking', 'Patient/baby', 'Patient/baby'],
    ]);
  });
});

describe('complete history units', () => {
  it('one unit per child, keyed by exactly the rows sent, naming the doses not withdrawn', async () => {
    const file = adaptImmunisationCsv(await readFixture('csv/immunisation-history.csv'));
    const units = completeHistoryUnits(file, []);
    expect(units.map((u) => u.label)).toEqual(['complete history of 9997300017', 'complete history of 9997300025', 'complete history of 9997300033']);
    const doses = units.map((u) => (u.result.ok ? u.result.value.effects[0] : undefined)).map((e) => (e?.kind === 'complete-history' ? e.immunizations.length : 0));
    expect(doses).toEqual([6, 12, 11]);
    expect(completeHistoryUnits(file, [])).toEqual(units);
  });

  it('none from a file with a refused row, or one that could not be read', () => {
    const file = adaptImmunisationCsv('NHS_NUMBER\n"1"\n');
    const [unit] = completeHistoryUnits(file, []);
    expect(unit?.result).toMatchObject({ ok: false, issues: [{ location: 'history', code: 'business-rule' }] });
  });

  it('builds a current snapshot List, and an empty history says it is empty (R4 lst-1)', () => {
    const list = buildCompleteHistoryList({ id: 'l', subject: 'Patient/c', source: { system: 's', code: 'Y90001' }, nhsNumber: '9997300017', date: '2026-11-22T09:00:00Z', entries: [] });
    expect(isCompleteHistory(list)).toBe(true);
    expect(list.entry).toBeUndefined();
    expect(list.emptyReason?.coding?.[0]?.code).toBe('nilknown');
    expect(isCompleteHistory({ ...list, mode: 'working' })).toBe(false);
  });
});

describe('the schedule in effect', () => {
  it('is the latest effective on or before the day; none before the first', () => {
    const routine = readRoutineSchedule();
    const later = { ...routine, version: routine.version + 1, effective: '2027-09-01' };
    expect(scheduleInEffect([later, routine], '2026-11-22')).toBe(routine);
    expect(scheduleInEffect([routine, later], '2027-09-01')).toBe(later);
    expect(scheduleInEffect([routine], '2025-12-31')).toBeUndefined();
  });
});

describe('nextEpisode: when a kind, focus and owner may have its work raised again', () => {
  const closed = (business: string, status: Task['status'], kind = 'missed-dose', end = '2026-11-30T10:00:00.000Z'): Task =>
    task({ kind, business, status, executionPeriod: { start: '2026-11-22T09:00:00.000Z', end } });
  test.each([
    ['nothing raised yet', [], 'condition', '2026-12-01', 1],
    ['one open: a re-run raises nothing', [task()], 'condition', '2026-12-01', undefined],
    ['one open: nor does an escalation', [task()], 'escalation', '2026-12-01', undefined],
    ['the hub closed it (moved to another centre): the child moved back', [closed('moved-to-another-centre', 'cancelled')], 'condition', '2026-12-01', 2],
    ['the hub closed it (moved away): back in a catchment the next day', [closed('moved-away', 'cancelled')], 'condition', '2026-12-01', 2],
    ['the hub closed it today: a re-run of the day raises nothing', [closed('moved-away', 'cancelled')], 'condition', '2026-11-30', undefined],
    ['the hub closed it (dose given): a run as of an earlier day raises nothing', [closed('dose-given', 'completed', 'overdue-dose')], 'condition', '2026-11-08', undefined],
    ['closed today: nor does an escalation of the day', [closed('progressed-by-owner', 'completed')], 'escalation', '2026-11-30', undefined],
    ['the hub closed it (dose given): overdue again', [closed('dose-given', 'completed', 'overdue-dose')], 'condition', '2026-12-01', 2],
    ['the hub closed two before: the third episode', [closed('moved-away', 'cancelled'), { ...closed('moved-to-another-centre', 'cancelled'), authoredOn: '2026-11-25T09:00:00.000Z' }], 'condition', '2026-12-01', 3],
    ['its owner completed a missed appointment: closed for good', [closed('progressed-by-owner', 'completed')], 'condition', '2027-06-01', undefined],
    ['its owner closed an exception report: closed for good', [closed('progressed-by-owner', 'cancelled', 'birth-without-booking')], 'condition', '2027-06-01', undefined],
    ['its owner completed overdue work, the dose still overdue 27 days on', [closed('progressed-by-owner', 'completed', 'overdue-dose')], 'condition', '2026-12-27', undefined],
    ['its owner completed overdue work, the dose still overdue 28 days on', [closed('progressed-by-owner', 'completed', 'overdue-dose')], 'condition', '2026-12-28', 2],
    ['its owner completed an escalated Task: a new escalation asks again', [closed('escalated', 'completed')], 'escalation', '2026-12-01', 2],
    ['its owner completed it: an escalation is a new request', [closed('progressed-by-owner', 'completed')], 'escalation', '2026-12-01', 2],
  ] as const)('%s', (_name, existing, cause, asOf, expected) => {
    expect(nextEpisode(existing, cause, asOf)).toBe(expected);
  });

  it('keys the first episode as before and each later one with its number', () => {
    const spec = { kind: 'missed-dose', focus: 'Immunization/x', owner: { system: 'urn:eastside:org', code: 'CC-OCEAN' } } as const;
    expect(followUpKey(spec)).toBe('missed-dose:Immunization/x:CC-OCEAN');
    expect(followUpKey(spec, 1)).toBe('missed-dose:Immunization/x:CC-OCEAN');
    expect(followUpKey(spec, 2)).toBe('missed-dose:Immunization/x:CC-OCEAN:2');
  });
});
