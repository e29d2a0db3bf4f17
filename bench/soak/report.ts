import type { Operation, Outcome } from './traffic.js';

// The soak's figures, per phase of the fault timeline: operations started in
// the phase and their latency (start to final answer, re-sends included),
// p50/p99; attempts answered in the phase by outcome (503s, other errors).

export interface Phase {
  name: string;
  from: number;
  to: number;
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

export function phaseLines(operations: readonly Operation[], phases: readonly Phase[]): string[] {
  const lines = [`${'phase'.padEnd(34)} ${'seconds'.padStart(7)} ${'ops'.padStart(6)} ${'p50 ms'.padStart(7)} ${'p99 ms'.padStart(7)}  attempts not ok (503 / other 5xx / refused / reset / token / 4xx)`];
  for (const phase of phases) {
    const ops = operations.filter((o) => o.start >= phase.from && o.start < phase.to && o.end > 0);
    const latencies = ops.map((o) => o.end - o.start).sort((a, b) => a - b);
    const seen = new Map<Outcome, number>();
    for (const op of operations) {
      for (const a of op.attempts) if (a.at >= phase.from && a.at < phase.to) seen.set(a.outcome, (seen.get(a.outcome) ?? 0) + 1);
    }
    const n = (o: Outcome): number => seen.get(o) ?? 0;
    lines.push(
      `${phase.name.padEnd(34)} ${((phase.to - phase.from) / 1000).toFixed(1).padStart(7)} ${String(ops.length).padStart(6)} ${percentile(latencies, 50).toFixed(0).padStart(7)} ${percentile(latencies, 99).toFixed(0).padStart(7)}  ` +
        `${n('503')} / ${n('5xx')} / ${n('refused')} / ${n('reset')} / ${n('token')} / ${n('4xx')}`,
    );
  }
  return lines;
}

/** Reads and writes per kind: how many, answered, not answered within the patience. */
export function kindLines(operations: readonly Operation[]): string[] {
  const kinds = [...new Set(operations.map((o) => o.kind))];
  return kinds.map((kind) => {
    const ops = operations.filter((o) => o.kind === kind);
    const answered = ops.filter((o) => o.acknowledged).length;
    return `  ${kind.padEnd(40)} sent ${ops.length}  answered ${answered}  unanswered ${ops.length - answered}`;
  });
}
