import type { EpisodeOfCare, Observation, Task } from 'fhir/r4.js';
import { escalateTask, kindOf, type FollowUpKind, type FollowUpSpec, type Party } from './follow-up-task.js';
import type { DoseAssessment } from './schedule.js';
import type { Schedule } from './schedule-schema.js';

// The follow-up job's rules, pure: the shell (services/follow-up-job.ts) loads
// the facts, asks these functions what to raise, close, escalate or move, and
// writes the answers. Days are compared as calendar days (YYYY-MM-DD).

const DAY_MS = 86_400_000;
const SNOMED = 'http://snomed.info/sct';
const PREGNANCY = '77386006';
const LOINC = 'http://loinc.org';
/** LOINC 11778-8 "Delivery date Estimated": the booking's EDD Observation. */
const EDD = '11778-8';

/** Past its due date by this many days with no birth notified, a pregnancy is an exception (four weeks). */
export const PREGNANCY_OVERDUE_DAYS = 28;

export function addDays(day: string, days: number): string {
  return new Date(Date.parse(`${day}T00:00:00Z`) + days * DAY_MS).toISOString().slice(0, 10);
}

/**
 * The clock of a run as of `asOf`: `clock` moved to that day, so the work a
 * run writes is dated on the day it judged (a run by hand for a past day, as
 * the scheduled run for today, which reads `clock` itself). It keeps ticking
 * from the time of day `clock` read when the run began, and never passes the
 * end of the as-of day (a run that crosses midnight stays on its day).
 */
export function asOfClock(clock: () => Date, asOf: string): () => Date {
  const day = Date.parse(`${asOf}T00:00:00Z`);
  const started = clock().getTime();
  const offset = day - (started - (((started % DAY_MS) + DAY_MS) % DAY_MS));
  const last = day + DAY_MS - 1;
  return () => new Date(Math.min(clock().getTime() + offset, last));
}

/** The calendar day (UTC) of a FHIR date or dateTime. */
export function dayOf(dateTime: string): string {
  return dateTime.length <= 10 ? dateTime : new Date(dateTime).toISOString().slice(0, 10);
}

export interface Organisation extends Party {
  name: string;
  catchment: readonly string[];
}

const party = (o: Organisation): Party => ({ system: o.system, code: o.code, name: o.name });

/** One Task per health-visiting organisation for each overdue dose, focused on the hub's recommendation. */
export function overdueDoseSpecs(dose: DoseAssessment, child: string, recommendation: string, healthVisitors: readonly Organisation[], raisedOn: Date): FollowUpSpec[] {
  return healthVisitors.map((hv) => ({
    kind: 'overdue-dose',
    owner: party(hv),
    subject: child,
    focus: recommendation,
    raisedOn,
    what: `${dose.label} overdue (due ${dose.dueDate}): offer the dose`,
  }));
}

export function isPregnancyEpisode(episode: EpisodeOfCare): boolean {
  return (episode.type ?? []).some((t) => (t.coding ?? []).some((c) => c.system === SNOMED && c.code === PREGNANCY));
}

/** Still expecting a birth: not finished, cancelled or voided. */
export function isOngoingPregnancy(episode: EpisodeOfCare): boolean {
  return isPregnancyEpisode(episode) && (episode.status === 'active' || episode.status === 'planned' || episode.status === 'waitlist' || episode.status === 'onhold');
}

export function isEddObservation(o: Observation): boolean {
  return o.status !== 'entered-in-error' && o.status !== 'cancelled' && (o.code.coding ?? []).some((c) => c.system === LOINC && c.code === EDD);
}

/**
 * The pregnancy's estimated delivery date: the EDD the booking sent with the
 * episode (its identifier is the episode's, see the booking adapter), else the
 * latest EDD recorded for the mother.
 */
export function expectedDelivery(episode: EpisodeOfCare, observations: readonly Observation[]): string | undefined {
  const edds = observations.filter(isEddObservation).filter((o) => typeof o.valueDateTime === 'string');
  const keys = (episode.identifier ?? []).map((i) => `${i.value ?? ''}:`);
  const own = edds.filter((o) => (o.identifier ?? []).some((i) => keys.some((k) => k !== ':' && (i.value ?? '').startsWith(k))));
  const latest = (list: Observation[]): string | undefined => list.map((o) => dayOf(o.valueDateTime ?? '')).sort().at(-1);
  return latest(own) ?? latest(edds);
}

/**
 * A birth notified for the mother since the pregnancy was booked (a birth that
 * came before its booking leaves the episode open; it is still notified).
 */
export function birthNotifiedSince(episode: EpisodeOfCare, birthDates: readonly string[]): boolean {
  const start = episode.period?.start;
  return birthDates.some((b) => start === undefined || b >= dayOf(start));
}

/** Four weeks past the due date on `asOf`, still open, and no birth notified for the mother since the booking. */
export function isPregnancyOverdue(episode: EpisodeOfCare, edd: string | undefined, asOf: string, birthDates: readonly string[] = []): boolean {
  return isOngoingPregnancy(episode) && edd !== undefined && addDays(edd, PREGNANCY_OVERDUE_DAYS) <= asOf && !birthNotifiedSince(episode, birthDates);
}

/** The exception Tasks for a pregnancy past its due date: the booking unit and the health visitors. */
export function pregnancyOverdueSpecs(
  episode: string,
  mother: string,
  edd: string,
  bookingUnit: Organisation | undefined,
  healthVisitors: readonly Organisation[],
  raisedOn: Date,
): FollowUpSpec[] {
  const owners = [...(bookingUnit === undefined ? [] : [bookingUnit]), ...healthVisitors];
  return owners.map((o) => ({
    kind: 'pregnancy-overdue',
    owner: party(o),
    subject: mother,
    focus: episode,
    raisedOn,
    what: `No birth notified four weeks after the due date (${edd}): confirm the outcome of the pregnancy`,
  }));
}

/** The exception Tasks for a birth with no booking: the unit that notified it and the health visitors. */
export function birthWithoutBookingSpecs(baby: string, notifiedBy: readonly Organisation[], healthVisitors: readonly Organisation[], raisedOn: Date): FollowUpSpec[] {
  return [...notifiedBy, ...healthVisitors].map((o) => ({
    kind: 'birth-without-booking',
    owner: party(o),
    subject: baby,
    focus: baby,
    raisedOn,
    what: 'A birth was notified for a mother with no booking from a partner maternity unit: check her antenatal care was recorded',
  }));
}

/** Not progressed: still `requested` (no owner accepted it) `days` days after it was raised, and not escalated yet. */
export function needsEscalation(task: Task, asOf: string, days: number): boolean {
  if (task.status !== 'requested' || task.businessStatus?.coding?.some((c) => c.code === 'escalated') === true) return false;
  const raised = task.executionPeriod?.start ?? task.authoredOn;
  return raised !== undefined && addDays(dayOf(raised), days) <= asOf;
}

/** The Task escalated: businessStatus `escalated` and a note its owner can read; everything else as it was. */
export function escalated(task: Task, days: number, now: Date, author: string): Task {
  return escalateTask(task, `Escalated to the health visitors: not accepted within ${days} days`, now, author);
}

/** Children's follow-up (a dose) moves with the child; exceptions about a notification do not. */
export const CHILD_KINDS: readonly FollowUpKind[] = ['missed-dose', 'overdue-dose'];

export interface SubjectWhereabouts {
  /** Postcode districts of the subject's current addresses (none known: nothing moves). */
  districts: readonly string[];
  deceased: boolean;
}

export type MoveAction =
  | { action: 'stay' }
  | { action: 'transfer'; to: Organisation }
  /** A death closes the work as no longer needed: partners who may not know of it are not told. */
  | { action: 'close'; businessStatus: 'moved-away' | 'no-longer-needed' };

/**
 * What happens to an open Task when its subject moves or dies. A death closes
 * every Task. A child's dose follow-up: owned by a children's centre, it moves
 * to the centre whose catchment now holds the child; out of every partner's
 * catchment, it closes (moved-away) whoever owns it.
 */
export function moveAction(task: Task, where: SubjectWhereabouts, centres: readonly Organisation[]): MoveAction {
  if (where.deceased) return { action: 'close', businessStatus: 'no-longer-needed' };
  const kind = kindOf(task);
  if (kind === undefined || !CHILD_KINDS.includes(kind) || where.districts.length === 0) return { action: 'stay' };
  const holding = centres.filter((c) => c.catchment.some((d) => where.districts.includes(d)));
  if (holding.length === 0) return { action: 'close', businessStatus: 'moved-away' };
  const owner = task.owner?.identifier?.value;
  const ownerCentre = centres.find((c) => c.code === owner);
  if (ownerCentre === undefined || holding.some((c) => c.code === owner)) return { action: 'stay' };
  const [to] = holding;
  return to === undefined ? { action: 'stay' } : { action: 'transfer', to };
}

/** The same follow-up for another owner (a centre the child moved to, or the health visitors on escalation). */
export function specFor(task: Task, owner: Organisation, raisedOn: Date): FollowUpSpec | undefined {
  const kind = kindOf(task);
  const subject = task.for?.reference;
  const focus = task.focus?.reference;
  if (kind === undefined || subject === undefined || focus === undefined) return undefined;
  return { kind, owner: party(owner), subject, focus, raisedOn, ...(task.code?.text === undefined ? {} : { what: task.code.text }) };
}

/** The schedule in effect on a day: the latest effective on or before it. */
export function scheduleInEffect(schedules: readonly Schedule[], asOf: string): Schedule | undefined {
  return [...schedules].filter((s) => s.effective <= asOf).sort((a, b) => (a.effective < b.effective ? -1 : a.effective > b.effective ? 1 : 0)).at(-1);
}
