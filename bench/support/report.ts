import { median } from './load.js';
import type { MeasuredRun, PairResult, ServerCpu } from './pairs.js';

/** BENCH.md rule 6: a pair where other processes took more than this is flagged. */
export const OTHERS_FLAG = 0.1;

export interface PairReport {
  title: string;
  /** Lines that say what was measured and under which settings. */
  setting: readonly string[];
  baselineLabel: string;
  baselineUnit: string;
  scenarioLabel: string;
  scenarioUnit: string;
  pairs: readonly PairResult[];
  /** Whether the baseline is the raw limit of the work (false: a peer server, not a limit). */
  baselineIsLimit?: boolean;
}

export function share(value: number | undefined): string {
  if (value === undefined) return 'n/a';
  return `${(value * 100).toFixed(1)}%${value > OTHERS_FLAG ? ' !' : ''}`;
}

export function table(header: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)];
}

export function formatPairReport(report: PairReport): string[] {
  const b = report.baselineLabel;
  const s = report.scenarioLabel;
  const header = [
    'pair',
    `${b} ${report.baselineUnit}`,
    'p50 ms',
    'p99 ms',
    'other CPU',
    `${s} ${report.scenarioUnit}`,
    'p50 ms',
    'p99 ms',
    'other CPU',
    'ratio',
  ];
  const rows = report.pairs.map((p) => [
    String(p.pair),
    p.baseline.figures.perSecond.toFixed(1),
    p.baseline.figures.p50Ms.toFixed(2),
    p.baseline.figures.p99Ms.toFixed(2),
    share(p.baseline.othersShare),
    p.scenario.figures.perSecond.toFixed(1),
    p.scenario.figures.p50Ms.toFixed(2),
    p.scenario.figures.p99Ms.toFixed(2),
    share(p.scenario.othersShare),
    p.ratio.toFixed(3),
  ]);
  const ratios = report.pairs.map((p) => p.ratio);
  const flagged = report.pairs.filter((p) => [p.baseline.othersShare, p.scenario.othersShare].some((v) => v !== undefined && v > OTHERS_FLAG));
  const mid = median(ratios);
  const cpu = report.pairs.map((p) => p.scenario.cpuMsPerOp).filter((v): v is number => v !== undefined);
  return [
    '',
    report.title,
    ...report.setting.map((line) => `  ${line}`),
    '',
    ...table(header, rows),
    '',
    `ratio = ${s} ÷ ${b} throughput: median ${mid.toFixed(3)} (min–max ${Math.min(...ratios).toFixed(3)}–${Math.max(...ratios).toFixed(3)}, ${ratios.length} pairs)`,
    ...(report.baselineIsLimit === false ? [] : [`  i.e. the raw limit is ${(1 / mid).toFixed(2)}× the scenario's throughput`]),
    ...(cpu.length === 0
      ? []
      : [`hub process CPU per ${s} operation: median ${median(cpu).toFixed(2)} ms (min–max ${Math.min(...cpu).toFixed(2)}–${Math.max(...cpu).toFixed(2)}; /proc utime+stime ÷ answered requests)`]),
    ...serverLines(report),
    flagged.length === 0
      ? `other processes' CPU ≤ ${OTHERS_FLAG * 100} % in every run`
      : `! other processes' CPU > ${OTHERS_FLAG * 100} % in pair(s) ${flagged.map((p) => p.pair).join(', ')}: treat those ratios with care`,
  ];
}

/** The median CPU per operation of each side's server and its database backends, when the pairs measured them. */
function serverLines(report: PairReport): string[] {
  const side = (label: string, servers: readonly (ServerCpu | undefined)[]): string | undefined => {
    if (servers.every((v) => v === undefined)) return undefined;
    return `  ${label}: ${serverCpuText(servers)}`;
  };
  const lines = [side(report.baselineLabel, report.pairs.map((p) => p.baseline.server)), side(report.scenarioLabel, report.pairs.map((p) => p.scenario.server))];
  const shown = lines.filter((l): l is string => l !== undefined);
  return shown.length === 0 ? [] : ['CPU per operation, median over the pairs: server processes + PostgreSQL backends serving its database (/proc utime+stime)', ...shown];
}

/** "process + database ms" per operation, each the median over the pairs that could tell. */
export function serverCpuText(servers: readonly (ServerCpu | undefined)[]): string {
  return `${knownMedianText(servers.map((s) => s?.processMsPerOp))} + ${knownMedianText(servers.map((s) => s?.databaseMsPerOp))} ms`;
}

/** The median of the values /proc could tell, to two places, or "n/a". */
export function knownMedianText(values: readonly (number | undefined)[]): string {
  const known = values.filter((v): v is number => v !== undefined);
  return known.length === 0 ? 'n/a' : median(known).toFixed(2);
}

/**
 * A pair's CPU per answered request, the baseline's side over the scenario's
 * (server, database and load generator): the throughput ratio a machine whose
 * cores are the limit would show. Undefined where /proc could not tell.
 */
export function cpuRatio(pair: PairResult): number | undefined {
  const total = (run: MeasuredRun): number | undefined => {
    const parts = [run.server?.processMsPerOp, run.server?.databaseMsPerOp, run.driverMsPerOp];
    let sum = 0;
    for (const part of parts) {
      if (part === undefined) return undefined;
      sum += part;
    }
    return sum;
  };
  const baseline = total(pair.baseline);
  const scenario = total(pair.scenario);
  return baseline === undefined || scenario === undefined || scenario === 0 ? undefined : baseline / scenario;
}
