import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Schedule } from '../../src/followup/schedule-schema.js';
import { parseScheduleText } from '../../src/followup/schedule-text.js';
import type { DoseRecord } from '../../src/followup/schedule.js';

/** The repository's schedule file (policies/schedules/england-routine.yaml). */
export const ROUTINE_SCHEDULE_FILE = path.resolve(import.meta.dirname, '../../policies/schedules/england-routine.yaml');

export function readRoutineSchedule(): Schedule {
  const parsed = parseScheduleText(readFileSync(ROUTINE_SCHEDULE_FILE, 'utf8'));
  if (!parsed.ok) throw new Error(`the schedule file does not validate: ${JSON.stringify(parsed.issues)}`);
  return parsed.schedule;
}

/** SNOMED procedure codes by what they name (DESIGN.md section 11). */
export const CODES = {
  sixInOne: ['770616000', '770617009', '770618004'],
  rotavirus: ['868631000000102', '868651000000109'],
  menb: ['720539004', '720540002', '720544006'],
  pcv: ['247631000000101', '247641000000105', '247651000000108'],
  hibMenc: '712834006',
  mmr: ['308081000000105', '170433008'],
  mmrv: ['871909005', '433733003'],
  preSchool: '390865008',
} as const;

/** A completed dose: the code, the dose number if the feed gave one, the day. */
export function given(procedureCode: string, doseNumber: number | undefined, date: string, id?: string): DoseRecord {
  return { status: 'completed', procedureCode, date, ...(doseNumber === undefined ? {} : { doseNumber }), ...(id === undefined ? {} : { id }) };
}

export function notDone(procedureCode: string, doseNumber: number | undefined, date: string, id?: string): DoseRecord {
  return { status: 'not-done', procedureCode, date, ...(doseNumber === undefined ? {} : { doseNumber }), ...(id === undefined ? {} : { id }) };
}

/** `YYYY-MM-DD` plus days. */
export function plusDays(date: string, days: number): string {
  const d = new Date(`${date}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}
