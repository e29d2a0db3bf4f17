import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Schedule } from '../followup/schedule-schema.js';
import { parseScheduleText, type ScheduleIssue } from '../followup/schedule-text.js';

// Immunisation schedules on disk (policies/schedules/README.md): every `*.yaml`
// in SCHEDULES_DIR, validated by scheduleSchema. A file the hub cannot read
// stops the start, naming the file and each problem's path: the hub must not
// judge a child overdue against a schedule it half understood.

export class ScheduleFileError extends Error {
  override readonly name = 'ScheduleFileError';
  constructor(
    readonly file: string,
    readonly issues: readonly ScheduleIssue[],
  ) {
    super(`${file}: ${issues.map((i) => `${i.path === '' ? '(document)' : i.path}: ${i.message}`).join('; ')}`);
  }
}

export interface LoadedSchedule {
  schedule: Schedule;
  /** The file name it came from. */
  source: string;
}

/** One schedule file; throws ScheduleFileError if it does not validate. */
export async function loadScheduleFile(file: string): Promise<LoadedSchedule> {
  const source = path.basename(file);
  const parsed = parseScheduleText(await readFile(file, 'utf8'));
  if (!parsed.ok) throw new ScheduleFileError(source, parsed.issues);
  return { schedule: parsed.schedule, source };
}

/** Every `*.yaml` schedule in `dir`, by file name; a missing directory holds none. Two files with one id are refused. */
export async function loadSchedules(dir: string): Promise<LoadedSchedule[]> {
  let names: string[];
  try {
    const entries = await readdir(dir, { withFileTypes: true });
    names = entries.filter((e) => e.isFile() && e.name.endsWith('.yaml')).map((e) => e.name).sort();
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOENT') return [];
    throw err;
  }
  const loaded: LoadedSchedule[] = [];
  for (const name of names) {
    const one = await loadScheduleFile(path.join(dir, name));
    const clash = loaded.find((l) => l.schedule.id === one.schedule.id);
    if (clash !== undefined) throw new ScheduleFileError(name, [{ path: 'id', message: `${one.schedule.id} is also the id of ${clash.source}` }]);
    loaded.push(one);
  }
  return loaded;
}
