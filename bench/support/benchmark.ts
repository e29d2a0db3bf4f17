import type { BenchOptions } from './options.js';

/** What bench/run.ts hands to every benchmark. */
export interface BenchContext {
  options: BenchOptions;
  /** Aborted when the time budget runs out or on SIGINT/SIGTERM; every wait honours it. */
  signal: AbortSignal;
  /** Progress lines (stderr), so that stdout carries only the results. */
  log: (line: string) => void;
  /** Result lines (stdout). */
  out: (line: string) => void;
}

export interface Benchmark {
  summary: string;
  /** Seconds allowed for everything but the measured pairs (setup, preload, cleanup). */
  setupSeconds: number;
  /** How many series of BENCH_PAIRS measured pairs it runs (one per format, say); 1 if absent. */
  series?: number;
  /**
   * Seconds allowed per measured run beyond its warm-up and BENCH_SECONDS
   * (queue drain, CHECKPOINT, token; a run of whole pulls that outlasts
   * BENCH_SECONDS); 60 if absent.
   */
  runSlackSeconds?: number;
  run(context: BenchContext): Promise<void>;
}
