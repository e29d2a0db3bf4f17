import { cpuMsBetween, othersShare, processCpuMsBetween, sampleCpu, type CpuSample } from './cpu.js';
import type { LoadFigures } from './load.js';

// BENCH.md rule 1: baseline, scenario, baseline, scenario ... in one run, so
// that each ratio compares two figures taken under the same machine weather.

export type SideName = 'baseline' | 'scenario';

export interface LoadSide {
  label: string;
  unit: string;
  run(seconds: number, signal: AbortSignal): Promise<LoadFigures>;
}

export interface MeasuredRun {
  figures: LoadFigures;
  /** Other processes' share of the machine's CPU during the measured window; undefined off Linux. */
  othersShare: number | undefined;
  /** CPU ms the scenario's own process (plan.scenarioPid) spent per completed operation. */
  cpuMsPerOp?: number | undefined;
  /** CPU ms per completed operation of the side's server processes and of its database backends (plan.servers). */
  server?: ServerCpu | undefined;
  /**
   * CPU ms per completed operation of the process driving the load
   * (plan.driverPid: autocannon and node-postgres run in it). On a small
   * machine the driver shares the cores with both sides, so its cost per
   * operation is in each side's rate.
   */
  driverMsPerOp?: number | undefined;
}

/** The processes serving one side: the server's own, and the PostgreSQL backends serving its database. */
export interface ServerPids {
  process: readonly number[];
  database: readonly number[];
}

/** CPU ms per completed operation, as ServerPids splits it; undefined where /proc could not tell. */
export interface ServerCpu {
  processMsPerOp: number | undefined;
  databaseMsPerOp: number | undefined;
}

export interface PairResult {
  pair: number;
  baseline: MeasuredRun;
  scenario: MeasuredRun;
  /** scenario throughput ÷ baseline throughput. */
  ratio: number;
}

export interface PairPlan {
  pairs: number;
  seconds: number;
  warmupSeconds: number;
  baseline: LoadSide;
  scenario: LoadSide;
  /** Settles the system before a run (drain queues, CHECKPOINT, fresh token); not timed. */
  beforeRun(side: SideName): Promise<void>;
  /** Called after a measured run, outside its window (checks, counters). */
  afterRun?(side: SideName, figures: LoadFigures): Promise<void>;
  /** The pids doing the benchmark's work, asked for at the end of each run. */
  ourPids(): Promise<number[]>;
  /** The process serving the scenario (the hub), whose CPU per operation is reported. */
  scenarioPid?: number;
  /** The process driving the load (this one), where it serves neither side, whose CPU per operation is reported. */
  driverPid?: number;
  /**
   * Each side's server processes and database backends, asked for at the end
   * of each of its runs, whose CPU per operation is reported (for two servers
   * compared side by side, what each spends on an operation).
   */
  servers?: Record<SideName, () => Promise<ServerPids>>;
  signal: AbortSignal;
  log: (line: string) => void;
}

export async function runPairs(plan: PairPlan): Promise<PairResult[]> {
  const results: PairResult[] = [];
  for (let pair = 1; pair <= plan.pairs; pair += 1) {
    const baseline = await measure(plan, 'baseline', pair);
    const scenario = await measure(plan, 'scenario', pair);
    results.push({ pair, baseline, scenario, ratio: scenario.figures.perSecond / baseline.figures.perSecond });
  }
  return results;
}

async function measure(plan: PairPlan, side: SideName, pair: number): Promise<MeasuredRun> {
  const load = side === 'baseline' ? plan.baseline : plan.scenario;
  plan.signal.throwIfAborted();
  await plan.beforeRun(side);
  if (plan.warmupSeconds > 0) await load.run(plan.warmupSeconds, plan.signal);
  const before = sampleCpu();
  const figures = await load.run(plan.seconds, plan.signal);
  const after = sampleCpu();
  const share = othersShare(before, after, await plan.ourPids());
  const other = share === undefined ? 'n/a' : `${(share * 100).toFixed(1)} %`;
  const cpuMs = side === 'scenario' && plan.scenarioPid !== undefined ? processCpuMsBetween(before, after, plan.scenarioPid) : undefined;
  const cpuMsPerOp = perOperation(cpuMs, figures.completed);
  const server = plan.servers === undefined ? undefined : serverCpu(before, after, await plan.servers[side](), figures.completed);
  const driverMsPerOp = perOperation(plan.driverPid === undefined ? undefined : processCpuMsBetween(before, after, plan.driverPid), figures.completed);
  plan.log(
    `  pair ${pair} ${side} (${load.label}): ${figures.perSecond.toFixed(1)} ${load.unit}, ` +
      `p50 ${figures.p50Ms.toFixed(2)} ms, p99 ${figures.p99Ms.toFixed(2)} ms, other CPU ${other}` +
      (cpuMsPerOp === undefined ? '' : `, hub CPU ${cpuMsPerOp.toFixed(2)} ms per operation`) +
      (server === undefined ? '' : `, server CPU per operation ${msText(server.processMsPerOp)} + database ${msText(server.databaseMsPerOp)}`) +
      (plan.driverPid === undefined ? '' : `, load generator CPU per operation ${msText(driverMsPerOp)}`),
  );
  await plan.afterRun?.(side, figures);
  return { figures, othersShare: share, cpuMsPerOp, server, driverMsPerOp };
}

function serverCpu(before: CpuSample | undefined, after: CpuSample | undefined, pids: ServerPids, completed: number): ServerCpu {
  return {
    processMsPerOp: perOperation(cpuMsBetween(before, after, pids.process), completed),
    databaseMsPerOp: perOperation(cpuMsBetween(before, after, pids.database), completed),
  };
}

/** CPU ms per completed operation; undefined where /proc could not tell or nothing completed. */
function perOperation(ms: number | undefined, completed: number): number | undefined {
  return ms === undefined || completed === 0 ? undefined : ms / completed;
}

/** "0.42 ms", or "n/a" where /proc could not tell. */
function msText(ms: number | undefined): string {
  return ms === undefined ? 'n/a' : `${ms.toFixed(2)} ms`;
}
