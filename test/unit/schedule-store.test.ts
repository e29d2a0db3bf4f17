import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, test } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { loadProtocols } from '../../src/services/protocol-store.js';
import { loadScheduleFile, loadSchedules, ScheduleFileError } from '../../src/services/schedule-store.js';
import { ROUTINE_SCHEDULE_FILE } from '../support/schedule.js';

// Schedules on disk: policies/schedules/*.yaml, validated when loaded.

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

async function dirWith(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'schedules-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  for (const [name, text] of Object.entries(files)) await writeFile(path.join(dir, name), text);
  return dir;
}

const routine = await readFile(ROUTINE_SCHEDULE_FILE, 'utf8');

describe('loading schedules', () => {
  it('the repository schedule validates: its id, version, source and every dose', async () => {
    const { schedule, source } = await loadScheduleFile(ROUTINE_SCHEDULE_FILE);
    expect(source).toBe('england-routine.yaml');
    expect(schedule).toMatchObject({ id: 'england-routine-childhood', version: 1, effective: '2026-01-01', overdueAfterDays: 28 });
    expect(schedule.reviewedBy.role).toMatch(/\S/);
    expect(schedule.source.every((s) => s.url.startsWith('https://www.gov.uk/'))).toBe(true);
    expect(schedule.doses.map((d) => d.id)).toContain('rotavirus-1');
    expect(schedule.doses.find((d) => d.id === 'rotavirus-2')?.noLongerDueFrom).toEqual({ weeks: 24 });
  });

  it('loads every *.yaml of the directory by name, and none from a missing one', async () => {
    const dir = await dirWith({ 'b.yaml': routine.replace('id: england-routine-childhood', 'id: another'), 'a.yaml': routine, 'notes.txt': 'not a schedule' });
    expect((await loadSchedules(dir)).map((l) => [l.source, l.schedule.id])).toEqual([['a.yaml', 'england-routine-childhood'], ['b.yaml', 'another']]);
    expect(await loadSchedules(path.join(dir, 'absent'))).toEqual([]);
  });

  it('refuses two files with one id', async () => {
    const dir = await dirWith({ 'a.yaml': routine, 'b.yaml': routine });
    await expect(loadSchedules(dir)).rejects.toThrow(/^b\.yaml: id: england-routine-childhood is also the id of a\.yaml$/);
  });

  test.each([
    ['a dose without its age unit', (t: string) => t.replace("age: { weeks: 8 }, vaccineCode: '770616000'", "age: { wekes: 8 }, vaccineCode: '770616000'"), /doses\.0\.age\.wekes: unknown member/],
    ['an unquoted code read as a number', (t: string) => t.replace("vaccineCode: '720539004'", 'vaccineCode: 720539004'), /doses\.1\.vaccineCode: /],
    ['a code of another group', (t: string) => t.replace("vaccineCode: '720539004'", "vaccineCode: '770616000'"), /doses\.1\.vaccineCode: 770616000 is not a code of group menb/],
    ['an unknown group', (t: string) => t.replace('group: menb, doseNumber: 1', 'group: men-b, doseNumber: 1'), /doses\.1\.group: no group men-b in groups/],
    ['a code in two groups', (t: string) => t.replace("code: '712834006'", "code: '770616000'"), /groups\.4\.codes\.0\.code: code 770616000 already belongs to group six-in-one/],
    ['a bad effective date', (t: string) => t.replace('effective: 2026-01-01', 'effective: January 2026'), /effective: a date as YYYY-MM-DD/],
    ['a bad cohort date', (t: string) => t.replace('born: { before: 2024-07-01 } }', 'born: { before: 1 July 2024 } }'), /doses\.\d+\.appliesTo\.born\.before: a date as YYYY-MM-DD/],
    ['a negative grace', (t: string) => t.replace('overdueAfterDays: 28', 'overdueAfterDays: -1'), /overdueAfterDays: /],
    ['no reviewer', (t: string) => t.replace(/reviewedBy:\n(.*\n){2}/, ''), /reviewedBy: /],
    ['a duplicate key', (t: string) => t.replace('overdueAfterDays: 28', 'overdueAfterDays: 28\noverdueAfterDays: 14'), /^england-routine\.yaml: \(document\): Map keys must be unique.*line \d+/],
  ])('refuses %s, naming the field', async (_name, edit, message) => {
    const text = edit(routine);
    expect(text).not.toBe(routine);
    const dir = await dirWith({ 'england-routine.yaml': text });
    const refused = loadScheduleFile(path.join(dir, 'england-routine.yaml'));
    await expect(refused).rejects.toBeInstanceOf(ScheduleFileError);
    await expect(refused).rejects.toThrow(message);
  });
});

describe('where schedules live', () => {
  it('SCHEDULES_DIR, default policies/schedules', () => {
    expect(loadConfig({}).schedulesDir).toBe('policies/schedules');
    expect(loadConfig({ SCHEDULES_DIR: '/srv/schedules' }).schedulesDir).toBe('/srv/schedules');
  });

  it('is not read as a protocol: the policies directory holds protocols only at its top level', async () => {
    const protocols = await loadProtocols(path.dirname(path.dirname(ROUTINE_SCHEDULE_FILE)));
    expect(protocols.map((p) => p.source)).not.toContain('england-routine.yaml');
  });
});
