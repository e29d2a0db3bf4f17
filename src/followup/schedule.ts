import { ageReachedOn, dayString, parseDay, type CalendarDay } from './calendar.js';
import type { AppliesTo, Schedule, ScheduledDose } from './schedule-schema.js';

// What a child's routine immunisations stand at on a given day: for every dose
// of the schedule that applies to the child, whether it is given, due,
// overdue, missed, not yet due or no longer due, and the next appointment.
// Pure, total and deterministic: the day is a parameter, any input gives a
// value, and a bad birth date or day is a value that says so.
//
// Counting (DESIGN.md section 11, "count doses, not visits"):
// - A record belongs to a group by its SNOMED procedure code (the schedule's
//   `groups`), or, with no code, by the group it names.
// - Its dose number is its own (protocolApplied.doseNumber), else the one its
//   code names ("second dose of ..."), else it is unnumbered.
// - A completed record satisfies the dose of its group with its number,
//   whenever and wherever it was given (early, late, another practice).
// - The same number given twice: the earlier record satisfies the dose; the
//   later one is a duplicate and does not stand in for a later dose number
//   unless its own dose number says so.
// - Unnumbered records of a group take, in date order, the lowest numbers no
//   numbered record holds. Two unnumbered records of a group on one day are one
//   dose. Feeds should send dose numbers: an unnumbered record can only guess.
// - A not-done record marks the dose with its number missed; unnumbered, the
//   dose of its group due most recently on or before its day (else the group's
//   first dose).
// - Records dated before the birth date or after the day assessed are left out.
// With these rules the given doses only grow when a record is added, so adding a
// given dose never makes any dose more overdue (test/unit/schedule-properties.test.ts).

export type DoseStatus = 'given' | 'due' | 'overdue' | 'missed' | 'not-yet-due' | 'no-longer-due';

/** A dose record the hub holds, as the assessment reads it (see doseRecordFromImmunization). */
export interface DoseRecord {
  /** The stored record's id (Immunization id), to say which record satisfies a dose. */
  id?: string;
  /** SNOMED CT vaccination procedure code. */
  procedureCode?: string;
  /** Antigen group id, for a record without a (known) procedure code. */
  group?: string;
  doseNumber?: number;
  /** YYYY-MM-DD or a FHIR dateTime: the day it was given (or not given). */
  date?: string;
  status: 'completed' | 'not-done';
}

export interface RecordRef {
  /** Index of the record in the input. */
  index: number;
  id?: string;
  date: string;
}

export interface DoseAssessment {
  /** The scheduled dose's id in the schedule file. */
  doseId: string;
  group: string;
  doseNumber: number;
  label: string;
  vaccineCode: string;
  status: DoseStatus;
  dueDate: string;
  overdueFrom: string;
  noLongerDueFrom?: string;
  /** The completed record that satisfies the dose (status given). */
  satisfiedBy?: RecordRef;
  /** The latest not-done record for the dose (kept even if a later dose was given). */
  notDone?: RecordRef;
}

export type IgnoredReason = 'not-a-record' | 'status' | 'no-date' | 'before-birth' | 'after-as-of' | 'unknown-code' | 'duplicate';

export interface IgnoredRecord {
  index: number;
  id?: string;
  reason: IgnoredReason;
}

export interface NextAppointment {
  /** The as-of day if anything is outstanding, else the next due date. */
  date: string;
  doseIds: string[];
}

export type Assessment =
  | {
      ok: true;
      scheduleId: string;
      scheduleVersion: number;
      birthDate: string;
      asOf: string;
      doses: DoseAssessment[];
      next: NextAppointment | null;
      /** Records that satisfy nothing, and why. */
      ignored: IgnoredRecord[];
    }
  | { ok: false; field: 'birthDate' | 'asOf'; problem: string };

interface Indexed {
  codes: Map<string, { group: string; dose: number | undefined }>;
  groups: Set<string>;
  appliesTo: Map<ScheduledDose, (birth: CalendarDay) => boolean>;
  /** Plans by birth date: a child's doses depend only on it (bounded: see planFor). */
  plans: Map<string, PlannedDose[]>;
}

/** A dose that applies to a child, with its days worked out from the birth date. */
interface PlannedDose {
  dose: ScheduledDose;
  key: string;
  due: number;
  overdueFrom: number;
  limit: number | undefined;
  dueDate: string;
  overdueFromDate: string;
  limitDate: string | undefined;
}

/** Plans kept per schedule; past this many birth dates the cache starts afresh (six years of births is ~2,200). */
const MAX_PLANS = 10_000;

const indexes = new WeakMap<Schedule, Indexed>();

function indexOf(schedule: Schedule): Indexed {
  const cached = indexes.get(schedule);
  if (cached !== undefined) return cached;
  const codes = new Map<string, { group: string; dose: number | undefined }>();
  for (const g of schedule.groups) for (const c of g.codes) codes.set(c.code, { group: g.id, dose: c.dose });
  const appliesTo = new Map<ScheduledDose, (birth: CalendarDay) => boolean>();
  for (const d of schedule.doses) appliesTo.set(d, compileAppliesTo(d.appliesTo));
  const built = { codes, groups: new Set(schedule.groups.map((g) => g.id)), appliesTo, plans: new Map<string, PlannedDose[]>() };
  indexes.set(schedule, built);
  return built;
}

function compileAppliesTo(appliesTo: AppliesTo | undefined): (birth: CalendarDay) => boolean {
  if (appliesTo === undefined) return () => true;
  const within = (range: { onOrAfter?: string; before?: string }): ((n: number) => boolean) => {
    const from = parseDay(range.onOrAfter)?.n ?? -Infinity;
    const before = parseDay(range.before)?.n ?? Infinity;
    return (n) => n >= from && n < before;
  };
  const { born, reached } = appliesTo;
  const bornWithin = born === undefined ? () => true : within(born);
  const reachedWithin = reached === undefined ? undefined : within(reached);
  return (birth) => bornWithin(birth.n) && (reached === undefined || reachedWithin === undefined || reachedWithin(ageReachedOn(birth, reached.age)));
}

interface NormalRecord {
  index: number;
  id: string | undefined;
  day: number;
  group: string;
  doseNumber: number | undefined;
  status: 'completed' | 'not-done';
}

/** The assessment of one child's schedule on the day `asOf` (YYYY-MM-DD). */
export function assessSchedule(schedule: Schedule, birthDate: string, records: readonly DoseRecord[], asOf: string): Assessment {
  const birth = parseDay(birthDate);
  if (birth === undefined || typeof birthDate !== 'string' || birthDate.length !== 10) {
    return { ok: false, field: 'birthDate', problem: 'the birth date must be a calendar date as YYYY-MM-DD' };
  }
  const today = parseDay(asOf);
  if (today === undefined || typeof asOf !== 'string' || asOf.length !== 10) return { ok: false, field: 'asOf', problem: 'the day assessed must be a calendar date as YYYY-MM-DD' };
  if (birth.n > today.n) return { ok: false, field: 'birthDate', problem: `the birth date ${birthDate} is after the day assessed (${asOf})` };

  const index = indexOf(schedule);
  const ignored: IgnoredRecord[] = [];
  const byGroup = new Map<string, NormalRecord[]>();
  (Array.isArray(records) ? records : []).forEach((raw: unknown, i) => {
    const normal = normalise(raw, i, index, birth.n, today.n);
    if ('reason' in normal) ignored.push(normal);
    else {
      const list = byGroup.get(normal.group);
      if (list === undefined) byGroup.set(normal.group, [normal]);
      else list.push(normal);
    }
  });

  const applicable = planFor(schedule, index, birth, birthDate);
  const given = new Map<string, NormalRecord>();
  const notDone = new Map<string, NormalRecord>();
  for (const [group, list] of byGroup) {
    list.sort(byDayThenId);
    countGiven(group, list.filter((r) => r.status === 'completed'), given, ignored);
    const groupDoses = applicable.filter((a) => a.dose.group === group);
    for (const r of list) {
      if (r.status !== 'not-done') continue;
      const number = r.doseNumber ?? attachNotDone(groupDoses, r.day);
      // Sorted by day: the latest not-done record for a dose wins.
      if (number !== undefined) notDone.set(`${group}|${String(number)}`, r);
    }
  }

  const doses = applicable.map(({ dose, key, due, overdueFrom, limit, dueDate, overdueFromDate, limitDate }): DoseAssessment => {
    const satisfied = given.get(key);
    const missed = notDone.get(key);
    const status: DoseStatus =
      satisfied !== undefined
        ? 'given'
        : limit !== undefined && today.n >= limit
          ? 'no-longer-due'
          : missed !== undefined
            ? 'missed'
            : today.n < due
              ? 'not-yet-due'
              : today.n >= overdueFrom
                ? 'overdue'
                : 'due';
    return {
      doseId: dose.id,
      group: dose.group,
      doseNumber: dose.doseNumber,
      label: dose.label,
      vaccineCode: dose.vaccineCode,
      status,
      dueDate,
      overdueFrom: overdueFromDate,
      ...(limitDate === undefined ? {} : { noLongerDueFrom: limitDate }),
      ...(satisfied === undefined ? {} : { satisfiedBy: refOf(satisfied) }),
      ...(missed === undefined ? {} : { notDone: refOf(missed) }),
    };
  });

  ignored.sort((a, b) => a.index - b.index);
  return {
    ok: true,
    scheduleId: schedule.id,
    scheduleVersion: schedule.version,
    birthDate,
    asOf,
    doses,
    next: nextAppointment(doses, today.n, asOf),
    ignored,
  };
}

/** The doses that apply to a child born on `birth`, by due date; one per group and dose number (the earliest due, if the data held two). */
function planFor(schedule: Schedule, index: Indexed, birth: CalendarDay, birthDate: string): PlannedDose[] {
  const cached = index.plans.get(birthDate);
  if (cached !== undefined) return cached;
  const plan: PlannedDose[] = [];
  const seen = new Set<string>();
  const candidates = applying(schedule, index, birth)
    .map((dose) => ({ dose, due: ageReachedOn(birth, dose.age) }))
    .sort((a, b) => a.due - b.due);
  for (const { dose, due } of candidates) {
    const key = `${dose.group}|${String(dose.doseNumber)}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const overdueFrom = due + schedule.overdueAfterDays;
    const limit = dose.noLongerDueFrom === undefined ? undefined : ageReachedOn(birth, dose.noLongerDueFrom);
    plan.push({ dose, key, due, overdueFrom, limit, dueDate: dayString(due), overdueFromDate: dayString(overdueFrom), limitDate: limit === undefined ? undefined : dayString(limit) });
  }
  if (index.plans.size >= MAX_PLANS) index.plans.clear();
  index.plans.set(birthDate, plan);
  return plan;
}

function applying(schedule: Schedule, index: Indexed, birth: CalendarDay): ScheduledDose[] {
  return schedule.doses.filter((d) => index.appliesTo.get(d)?.(birth) ?? false);
}

/**
 * The schedule's doses whose `appliesTo` holds for a child born on `birthDate`,
 * as written (before the assessment keeps one per group and dose number);
 * undefined for a birth date that is not YYYY-MM-DD. For checking the data.
 */
export function scheduledDosesFor(schedule: Schedule, birthDate: string): ScheduledDose[] | undefined {
  const birth = birthDate.length === 10 ? parseDay(birthDate) : undefined;
  return birth === undefined ? undefined : applying(schedule, indexOf(schedule), birth);
}

function normalise(raw: unknown, i: number, index: Indexed, birth: number, today: number): NormalRecord | IgnoredRecord {
  if (typeof raw !== 'object' || raw === null) return { index: i, reason: 'not-a-record' };
  const r = raw as Partial<Record<keyof DoseRecord, unknown>>;
  const id = typeof r.id === 'string' ? r.id : undefined;
  const ignore = (reason: IgnoredReason): IgnoredRecord => (id === undefined ? { index: i, reason } : { index: i, id, reason });
  if (r.status !== 'completed' && r.status !== 'not-done') return ignore('status');
  const day = parseDay(r.date);
  if (day === undefined) return ignore('no-date');
  if (day.n < birth) return ignore('before-birth');
  if (day.n > today) return ignore('after-as-of');
  const coded = typeof r.procedureCode === 'string' ? index.codes.get(r.procedureCode) : undefined;
  const group = coded?.group ?? (typeof r.group === 'string' && index.groups.has(r.group) ? r.group : undefined);
  if (group === undefined) return ignore('unknown-code');
  const own = typeof r.doseNumber === 'number' && Number.isInteger(r.doseNumber) && r.doseNumber >= 1 ? r.doseNumber : undefined;
  return { index: i, id, day: day.n, group, doseNumber: own ?? coded?.dose, status: r.status };
}

function byDayThenId(a: NormalRecord, b: NormalRecord): number {
  if (a.day !== b.day) return a.day - b.day;
  const ai = a.id ?? '';
  const bi = b.id ?? '';
  if (ai !== bi) return ai < bi ? -1 : 1;
  return a.index - b.index;
}

/** Completed records (sorted by day) → the dose numbers they satisfy; duplicates are ignored. */
function countGiven(group: string, completed: readonly NormalRecord[], given: Map<string, NormalRecord>, ignored: IgnoredRecord[]): void {
  const taken = new Set<number>();
  const duplicate = (r: NormalRecord): void => {
    ignored.push(r.id === undefined ? { index: r.index, reason: 'duplicate' } : { index: r.index, id: r.id, reason: 'duplicate' });
  };
  for (const r of completed) {
    if (r.doseNumber === undefined) continue;
    if (taken.has(r.doseNumber)) duplicate(r);
    else {
      taken.add(r.doseNumber);
      given.set(`${group}|${String(r.doseNumber)}`, r);
    }
  }
  let lastUnnumberedDay: number | undefined;
  for (const r of completed) {
    if (r.doseNumber !== undefined) continue;
    if (r.day === lastUnnumberedDay) {
      duplicate(r);
      continue;
    }
    lastUnnumberedDay = r.day;
    let n = 1;
    while (taken.has(n)) n += 1;
    taken.add(n);
    given.set(`${group}|${String(n)}`, r);
  }
}

/** An unnumbered not-done record: the group's dose due most recently on or before its day, else the group's first. */
function attachNotDone(groupDoses: readonly PlannedDose[], day: number): number | undefined {
  let chosen = groupDoses[0];
  for (const d of groupDoses) if (d.due <= day) chosen = d;
  return chosen?.dose.doseNumber;
}

function refOf(r: NormalRecord): RecordRef {
  return r.id === undefined ? { index: r.index, date: dayString(r.day) } : { index: r.index, id: r.id, date: dayString(r.day) };
}

const OPEN: ReadonlySet<DoseStatus> = new Set<DoseStatus>(['due', 'overdue', 'missed', 'not-yet-due']);

function nextAppointment(doses: readonly DoseAssessment[], today: number, asOf: string): NextAppointment | null {
  const open = doses.filter((d) => OPEN.has(d.status));
  if (open.length === 0) return null;
  const earliest = open.reduce((min, d) => (d.dueDate < min ? d.dueDate : min), open[0]?.dueDate ?? asOf);
  const date = (parseDay(earliest)?.n ?? today) <= today ? asOf : earliest;
  return { date, doseIds: open.filter((d) => d.dueDate <= date).map((d) => d.doseId) };
}
