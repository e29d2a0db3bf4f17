import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Benchmark, BenchContext } from './benchmark.js';
import { loadBenchOptions } from './options.js';

// Runs one benchmark within a time budget, with Ctrl-C and the budget both
// ending it through its cleanup. Used by bench/run.ts (`npm run bench -- <name>`)
// and by a benchmark file run on its own (`npx tsx bench/<name>.ts`).
// Exit codes: 0 done, 1 failed, 2 usage.

/** Per measured run, beyond its warm-up and measurement: queue drain, CHECKPOINT, token. */
const RUN_SLACK_SECONDS = 60;
/** After the budget runs out, how long cleanup may take before the process exits anyway. */
const CLEANUP_GRACE_MS = 90_000;

export const ENVIRONMENT_HELP = [
  'environment: DATABASE_URL (admin connection; a fresh database is created and dropped),',
  '  BENCH_SECONDS (15), BENCH_WARMUP_SECONDS (3), BENCH_PAIRS (3), BENCH_PATIENTS (100000), BENCH_LOG_ENTRIES (10000000),',
  '  BENCH_INGEST_FORMATS (ingest: e.g. fhir-message,caf; every format when unset)',
];

export async function runBenchmark(name: string, benchmark: Benchmark): Promise<number> {
  const loaded = loadBenchOptions(process.env);
  if (!loaded.ok) {
    console.error(`invalid environment: ${loaded.message}`);
    return 2;
  }
  const options = loaded.options;

  const controller = new AbortController();
  const abort = (reason: string): void => {
    if (controller.signal.aborted) return;
    console.error(`bench: ${reason}; stopping and cleaning up`);
    controller.abort(new Error(reason));
    // Cleanup is bounded too: if it hangs, leave rather than run forever.
    setTimeout(() => {
      console.error('bench: cleanup did not finish in time; exiting (a hubbench_* database may be left to drop)');
      process.exit(1);
    }, CLEANUP_GRACE_MS).unref();
  };
  const runs = (benchmark.series ?? 1) * options.pairs * 2;
  const slack = benchmark.runSlackSeconds ?? RUN_SLACK_SECONDS;
  const budgetSeconds = benchmark.setupSeconds + runs * (options.warmupSeconds + options.seconds + slack);
  const budget = setTimeout(() => {
    abort(`time budget of ${budgetSeconds} s exceeded`);
  }, budgetSeconds * 1000);
  // Not once: Ctrl-C reaches this process both from the terminal and relayed by
  // the tsx wrapper, and a signal with no listener left would exit without cleanup.
  const onSignal = (signal: NodeJS.Signals): void => {
    abort(`received ${signal}`);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const context: BenchContext = {
    options,
    signal: controller.signal,
    log: (line) => {
      console.error(line);
    },
    out: (line) => {
      console.log(line);
    },
  };
  try {
    await benchmark.run(context);
    return 0;
  } catch (err) {
    // A stop asked for (signal, budget) needs no stack trace; anything else does.
    const detail = err instanceof Error ? (controller.signal.aborted ? err.message : (err.stack ?? err.message)) : String(err);
    console.error(`bench ${name} failed: ${detail}`);
    return 1;
  } finally {
    clearTimeout(budget);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** True when the module at moduleUrl is the script node was started with (not imported by bench/run.ts). */
export function isEntryPoint(moduleUrl: string): boolean {
  const script = process.argv[1];
  return script !== undefined && pathToFileURL(path.resolve(script)).href === moduleUrl;
}

/**
 * `npx tsx bench/<name>.ts`: runs that benchmark alone and exits. Explicitly:
 * every resource was released by the benchmark's cleanup, and nothing a
 * library left referenced may keep a finished run alive.
 */
export async function runAlone(name: string, benchmark: Benchmark): Promise<never> {
  process.exit(await runBenchmark(name, benchmark));
}
