import type { Benchmark } from './support/benchmark.js';
import { auditBenchmark } from './audit.js';
import { decideBenchmark } from './decide.js';
import { discloseBenchmark } from './disclose.js';
import { fhirReadBenchmark } from './fhir-read.js';
import { followUpJobBenchmark } from './follow-up-job.js';
import { ingestBenchmark } from './ingest.js';
import { peerBenchmark } from './peer.js';
import { mllpBenchmark } from './mllp.js';
import { logScaleBenchmark } from './log-scale.js';
import { scheduleBenchmark } from './schedule.js';
import { subscriptionsBenchmark } from './subscriptions.js';
import { ENVIRONMENT_HELP, runBenchmark } from './support/runner.js';

// `npm run bench -- <name>`: runs one benchmark of the table below, within a
// time budget; `npm run bench` lists them. Rules for what a benchmark
// measures and reports: BENCH.md. Exit codes: 0 done, 1 failed, 2 usage.
// A benchmark file also runs on its own: `npx tsx bench/<file>.ts`.

const benchmarks: Readonly<Record<string, Benchmark>> = {
  read: fhirReadBenchmark,
  ingest: ingestBenchmark,
  decide: decideBenchmark,
  disclose: discloseBenchmark,
  audit: auditBenchmark,
  schedule: scheduleBenchmark,
  followups: followUpJobBenchmark,
  peer: peerBenchmark,
  mllp: mllpBenchmark,
  'log-scale': logScaleBenchmark,
  subscriptions: subscriptionsBenchmark,
};

function usage(): string {
  const names = Object.entries(benchmarks).map(([name, b]) => `  ${name.padEnd(10)} ${b.summary}`);
  return ['usage: npm run bench -- <name>', '', 'benchmarks:', ...names, '', ...ENVIRONMENT_HELP].join('\n');
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
  return runBenchmark(name, benchmark);
}

// Exit explicitly: every resource was released by the benchmark's cleanup,
// and nothing a library left referenced may keep a finished run alive.
process.exit(await main(process.argv.slice(2)));
