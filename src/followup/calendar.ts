import type { Age } from './schedule-schema.js';

// Calendar days as integers (days since 1970-01-01, UTC), so that comparing and
// adding days is arithmetic. A day is the date as written: the date part of a
// FHIR dateTime is the day the dose was given where it was given.

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
  return { year, month, day, n: daysFromCivil(year, month, day) };
}

/** `YYYY-MM-DD` of a day number (arithmetic, not Date: the assessment formats a few dozen per child). */
export function dayString(n: number): string {
  const { year, month, day } = civilFromDays(n);
  return `${year < 1000 ? String(year).padStart(4, '0') : String(year)}-${month < 10 ? '0' : ''}${String(month)}-${day < 10 ? '0' : ''}${String(day)}`;
}

function isLeapYear(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return isLeapYear(year) ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

// Proleptic Gregorian day numbers by 400-year eras counted from 1 March, as in
// Howard Hinnant's "chrono-Compatible Low-Level Date Algorithms".
// See: https://howardhinnant.github.io/date_algorithms.html
const DAYS_PER_ERA = 146_097;
const EPOCH_SHIFT = 719_468; // days from 0000-03-01 to 1970-01-01

function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yearOfEra = y - era * 400;
  const dayOfYear = Math.floor((153 * ((month + 9) % 12) + 2) / 5) + day - 1;
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  return era * DAYS_PER_ERA + dayOfEra - EPOCH_SHIFT;
}

function civilFromDays(n: number): { year: number; month: number; day: number } {
  const z = n + EPOCH_SHIFT;
  const era = Math.floor(z / DAYS_PER_ERA);
  const dayOfEra = z - era * DAYS_PER_ERA;
  const yearOfEra = Math.floor((dayOfEra - Math.floor(dayOfEra / 1460) + Math.floor(dayOfEra / 36_524) - Math.floor(dayOfEra / 146_096)) / 365);
  const dayOfYear = dayOfEra - (365 * yearOfEra + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100));
  const shiftedMonth = Math.floor((5 * dayOfYear + 2) / 153);
  const day = dayOfYear - Math.floor((153 * shiftedMonth + 2) / 5) + 1;
  const month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9;
  return { year: yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day };
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
  return daysFromCivil(year, month, day) + (age.weeks ?? 0) * 7 + (age.days ?? 0);
}
