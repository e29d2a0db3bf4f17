import type { Age } from './schedule-schema.js';

// Calendar days as integers (days since 1970-01-01, UTC), so that comparing and
// adding days is arithmetic. A day is the date as written: the date part of a
// FHIR dateTime is the day the dose was given where it was given.

const MS_PER_DAY = 86_400_000;
const DATE_PREFIX = /^(\d{4})-(\d{2})-(\d{2})(?:$|T)/;

export interface CalendarDay {
  year: number;
  month: number;
  day: number;
  /** Days since 1970-01-01. */
  n: number;
}

/** `YYYY-MM-DD`, or a FHIR dateTime's date part; undefined unless it is a real calendar date (years 1000 to 9999). */
export function parseDay(value: unknown): CalendarDay | undefined {
  if (typeof value !== 'string') return undefined;
  const m = DATE_PREFIX.exec(value);
  if (m === null) return undefined;
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  if (year < 1000 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined;
  return { year, month, day, n: Date.UTC(year, month - 1, day) / MS_PER_DAY };
}

export function dayString(n: number): string {
  const iso = new Date(n * MS_PER_DAY).toISOString();
  return iso.slice(0, iso.indexOf('T'));
}

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/**
 * The day a child born on `birth` reaches `age`: calendar years and months
 * first (a birthday on the 31st reaches one month on the last day of a shorter
 * month; 29 February reaches one year on 28 February), then weeks and days.
 */
export function ageReachedOn(birth: CalendarDay, age: Age): number {
  const months = (age.years ?? 0) * 12 + (age.months ?? 0);
  const monthIndex = birth.month - 1 + months;
  const year = birth.year + Math.floor(monthIndex / 12);
  const month = (monthIndex % 12) + 1;
  const day = Math.min(birth.day, daysInMonth(year, month));
  return Date.UTC(year, month - 1, day) / MS_PER_DAY + (age.weeks ?? 0) * 7 + (age.days ?? 0);
}
