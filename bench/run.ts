import type { Benchmark, BenchContext } from './support/benchmark.js';
import { fhirReadBenchmark } from './fhir-read.js';
import { ingestBenchmark } from './ingest.js';
import { loadBenchOptions } from './support/options.js';

// `npm run bench -- <name>`: runs one benchmark of the table below, within a
// time budget; `npm run bench` lists them. Rules for what a benchmark
// measures and reports: BENCH.md. Exit codes: 0 done, 1 failed, 2 usage.

const benchmarks: Readonly<Record<string, Benchmark>> = {
  read: fhirReadBenchmark,
  ingest: ingestBenchmark,
};

/** Per measured run, beyond its warm-up and measurement: queue drain, CHECKPOINT, token. */
const RUN_SLACK_SECONDS = 60;
/** After the budget runs out, how long cleanup may take before the process exits anyway. */
const CLEANUP_GRACE_MS = 90_000;

function usage(): string {
  const names = Object.entries(benchmarks).map(([name, b]) => `  ${name.padEnd(10)} ${b.summary}`);
  return [
    'usage: npm run bench -- <name>',
    '',
    'benchmarks:',
    ...names,
    '',
    'environment: DATABASE_URL (admin connection; a fresh database is created and dropped),',
    '  BENCH_SECONDS (15), BENCH_WARMUP_SECONDS (3), BENCH_PAIRS (3), BENCH_PATIENTS (100000)',
  ].join('\n');
}

async function main(args: readonly string[]): Promise<number> {
  const name = args[0];
  if (name === undefined) {
    console.log(usage());
    return 0;
  }
  const benchmark = Object.hasOwn(benchmarks, name) ? benchmarks[name] : undefined;
  if (benchmark === undefined) {
    console.error(`unknown benchmark "${name}"\n\n${usage()}`);
    return 2;
  }
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
  const budgetSeconds = benchmark.setupSeconds + runs * (options.warmupSeconds + options.seconds + RUN_SLACK_SECONDS);
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
  }
}

// Exit explicitly: every resource was released by the benchmark's cleanup,
// and nothing a library left referenced may keep a finished run alive.
process.exit(await main(process.argv.slice(2)));
