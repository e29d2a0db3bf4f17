import path from 'node:path';
import { assessSchedule, type DoseRecord, type DoseStatus } from '../src/followup/schedule.js';
import type { Schedule } from '../src/followup/schedule-schema.js';
import { loadScheduleFile } from '../src/services/schedule-store.js';
import type { Benchmark, BenchContext } from './support/benchmark.js';
import type { LoadFigures } from './support/load.js';
import { percentile } from './support/load.js';
import { runPairs, type LoadSide } from './support/pairs.js';
import { formatPairReport, table } from './support/report.js';
import { isEntryPoint, runAlone } from './support/runner.js';
import { seededRandom } from './support/synthetic.js';

// `npm run bench -- schedule` (or `npx tsx bench/schedule.ts`): the pure
// schedule assessment (src/followup/schedule.ts) over BENCH_PATIENTS (100,000)
// synthetic children aged 0 to 5, each with a realistic history of the doses
// the hub would hold, against a plain loop over the same dose arrays in the
// same run. In memory: no database, one core.
//
// Histories: each dose due by the day assessed is given on time or late
// (85 %), missed with a not-done record (5 %, most caught up later), or not
// recorded (10 %); 60 % of records carry a dose number as the CSV does, the
// rest only the procedure code as HL7 v2 and NEMS do; 2 % arrive twice from a
// second feed; 1 % carry a local code the schedule does not know.
//
// Scenario per child: assessSchedule(schedule, birthDate, records, asOf) and
// a count of its overdue doses. Baseline per child: one pass over the same
// records counting the completed ones and finding the latest date (the cost of
// visiting the data at all). Both loops time batches of BATCH children and
// cycle through all children until BENCH_SECONDS pass; pairs are interleaved,
// baseline first, each after its warm-up.

/** A fixed day, so the histories and figures do not depend on the date of the run. */
const AS_OF = '2026-11-22';
const BATCH = 1000;
/** The loops yield to the event loop this often (ms), so that the time budget and Ctrl-C get through. */
const YIELD_EVERY_MS = 200;

interface Child {
  birthDate: string;
  records: DoseRecord[];
}

function plusDays(date: string, days: number): string {
  const d = new Date(`${date}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}

function buildChildren(schedule: Schedule, count: number): Child[] {
  const random = seededRandom(20_261_206);
  const codeDose = new Map<string, number | undefined>();
  for (const g of schedule.groups) for (const c of g.codes) codeDose.set(c.code, c.dose);
  const children: Child[] = [];
  for (let n = 0; n < count; n += 1) {
    // Aged 0 to 5 years 6 months on the day assessed.
    const birthDate = plusDays(AS_OF, -Math.floor(random() * 2010));
    const plan = assessSchedule(schedule, birthDate, [], AS_OF);
    if (!plan.ok) throw new Error(`synthetic child ${n}: ${plan.problem}`);
    const records: DoseRecord[] = [];
    let k = 0;
    const add = (record: Omit<DoseRecord, 'id'>): void => {
      if (record.date !== undefined && record.date > AS_OF) return;
      records.push({ ...record, id: `c${n}-${k}` });
      k += 1;
      // A second feed sends the same dose again.
      if (random() < 0.02) {
        records.push({ ...record, id: `c${n}-${k}-copy` });
        k += 1;
      }
    };
    for (const dose of plan.doses) {
      if (dose.dueDate > AS_OF) continue;
      // The procedure code names the dose, or (6-in-1 dose 4) the record must carry its number.
      const numbered = random() < 0.6 || codeDose.get(dose.vaccineCode) !== dose.doseNumber;
      const code = random() < 0.01 ? '1082441000000108' : dose.vaccineCode;
      const form = numbered ? { procedureCode: code, doseNumber: dose.doseNumber } : { procedureCode: code };
      const r = random();
      const lateness = r < 0.7 ? Math.floor(random() * 8) : r < 0.9 ? 8 + Math.floor(random() * 53) : 61 + Math.floor(random() * 305);
      const given = plusDays(dose.dueDate, lateness);
      const pastLimit = dose.noLongerDueFrom !== undefined && given >= dose.noLongerDueFrom;
      const fate = random();
      if (fate < 0.85) {
        if (!pastLimit) add({ status: 'completed', date: given, ...form });
      } else if (fate < 0.9) {
        add({ status: 'not-done', date: plusDays(dose.dueDate, Math.floor(random() * 8)), ...form });
        if (random() < 0.6 && !pastLimit) add({ status: 'completed', date: plusDays(given, 14 + Math.floor(random() * 77)), ...form });
      }
    }
    children.push({ birthDate, records });
  }
  return children;
}

// ---------------------------------------------------------------- the two loops
// Written out twice, not as one loop over a callback, so that each call site stays monomorphic.

function assessBatch(schedule: Schedule, children: readonly Child[], first: number): number {
  let overdue = 0;
  for (let i = first; i < first + BATCH; i += 1) {
    const child = children[i % children.length] as Child;
    const a = assessSchedule(schedule, child.birthDate, child.records, AS_OF);
    if (a.ok) for (const d of a.doses) if (d.status === 'overdue') overdue += 1;
  }
  return overdue;
}

function scanBatch(children: readonly Child[], first: number): number {
  let completed = 0;
  let latest = '';
  for (let i = first; i < first + BATCH; i += 1) {
    const child = children[i % children.length] as Child;
    for (const r of child.records) {
      if (r.status === 'completed') completed += 1;
      if (r.date !== undefined && r.date > latest) latest = r.date;
    }
  }
  return completed + latest.length;
}

function side(label: string, children: readonly Child[], batch: (first: number) => number): LoadSide {
  return {
    label,
    unit: 'children/s',
    async run(seconds: number, signal: AbortSignal): Promise<LoadFigures> {
      const batchMs: number[] = [];
      const started = process.hrtime.bigint();
      const deadline = started + BigInt(Math.round(seconds * 1e9));
      let sink = 0;
      let first = 0;
      let lastYield = started;
      for (;;) {
        const t0 = process.hrtime.bigint();
        if (t0 >= deadline) break;
        sink += batch(first);
        const t1 = process.hrtime.bigint();
        batchMs.push(Number(t1 - t0) / 1e6);
        first = (first + BATCH) % children.length;
        if (t1 - lastYield > BigInt(YIELD_EVERY_MS * 1e6)) {
          await new Promise((resolve) => setImmediate(resolve));
          signal.throwIfAborted();
          lastYield = process.hrtime.bigint();
        }
      }
      if (sink < 0) throw new Error('unreachable');
      const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
      const sorted = batchMs.sort((a, b) => a - b);
      const completed = batchMs.length * BATCH;
      return { completed, seconds: elapsed, perSecond: completed / elapsed, p50Ms: percentile(sorted, 50), p99Ms: percentile(sorted, 99) };
    },
  };
}

/** How the children's doses stand on the day assessed: the share of each status. */
function describeMix(schedule: Schedule, children: readonly Child[]): string[] {
  const counts = new Map<DoseStatus, number>();
  let doses = 0;
  let records = 0;
  for (const c of children) {
    records += c.records.length;
    const a = assessSchedule(schedule, c.birthDate, c.records, AS_OF);
    if (!a.ok) throw new Error(a.problem);
    for (const d of a.doses) {
      counts.set(d.status, (counts.get(d.status) ?? 0) + 1);
      doses += 1;
    }
  }
  const pct = (n: number): string => `${((100 * n) / doses).toFixed(1)} %`;
  return [
    `${children.length} children, ${records} dose records (${(records / children.length).toFixed(1)} per child), ${doses} scheduled doses assessed on ${AS_OF}:`,
    ...table(['status', 'doses', 'share'], [...counts].sort((a, b) => b[1] - a[1]).map(([s, n]) => [s, String(n), pct(n)])).map((l) => `  ${l}`),
  ];
}

export async function benchSchedule(context: BenchContext): Promise<void> {
  const { options, signal, log, out } = context;
  const file = path.resolve(import.meta.dirname, '../policies/schedules/england-routine.yaml');
  const { schedule } = await loadScheduleFile(file);
  log(`schedule: building ${options.patients} synthetic children and their dose histories`);
  const children = buildChildren(schedule, options.patients);
  // Also the first warm-up of the assessment: every child assessed once.
  const mix = describeMix(schedule, children);
  log(`schedule: ${options.pairs} pairs, each side ${options.warmupSeconds} s warm-up then ${options.seconds} s in batches of ${BATCH} children`);
  const pairs = await runPairs({
    pairs: options.pairs,
    seconds: options.seconds,
    warmupSeconds: options.warmupSeconds,
    baseline: side('a plain loop over the dose records', children, (first) => scanBatch(children, first)),
    scenario: side('assessSchedule', children, (first) => assessBatch(schedule, children, first)),
    beforeRun: () => Promise.resolve(),
    ourPids: () => Promise.resolve([process.pid]),
    signal,
    log,
  });
  const report = formatPairReport({
    title: 'schedule: the pure immunisation schedule assessment against a plain loop over the same dose records, in process',
    setting: [
      `schedule: ${schedule.id} v${schedule.version} (${schedule.doses.length} doses in ${schedule.groups.length} groups), assessed on ${AS_OF}`,
      `scenario: per child, assessSchedule(schedule, birthDate, records, asOf) and a count of its overdue doses`,
      `baseline: per child, a loop over its records counting completed ones and finding the latest date`,
      `timing: batches of ${BATCH} children (p50/p99 are per batch), cycling through all children for ${options.seconds} s per run`,
      `runs: ${options.pairs} pairs (baseline first), each side after ${options.warmupSeconds} s of warm-up; node ${process.version}, started ${new Date().toISOString()}`,
    ],
    baselineLabel: 'loop',
    baselineUnit: 'children/s',
    scenarioLabel: 'assess',
    scenarioUnit: 'children/s',
    pairs,
  });
  for (const line of [...report, '', ...mix]) out(line);
}

export const scheduleBenchmark: Benchmark = {
  summary: 'the pure immunisation schedule assessment over 100,000 synthetic children against a plain loop over their dose records, in memory',
  // Building the children and their histories: tens of seconds on a busy machine.
  setupSeconds: 180,
  runSlackSeconds: 30,
  run: benchSchedule,
};

if (isEntryPoint(import.meta.url)) await runAlone('schedule', scheduleBenchmark);
