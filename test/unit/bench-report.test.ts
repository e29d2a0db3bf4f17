import { describe, expect, it } from 'vitest';
import type { MeasuredRun, PairResult } from '../../bench/support/pairs.js';
import { cpuRatio, knownMedianText, serverCpuText } from '../../bench/support/report.js';

function run(perSecond: number, server: [number | undefined, number | undefined] | undefined, driver: number | undefined): MeasuredRun {
  return {
    figures: { completed: perSecond * 10, seconds: 10, perSecond, p50Ms: 1, p99Ms: 2 },
    othersShare: 0,
    server: server === undefined ? undefined : { processMsPerOp: server[0], databaseMsPerOp: server[1] },
    driverMsPerOp: driver,
  };
}

function pair(baseline: MeasuredRun, scenario: MeasuredRun): PairResult {
  return { pair: 1, baseline, scenario, ratio: scenario.figures.perSecond / baseline.figures.perSecond };
}

describe('the peer report', () => {
  it('divides the baseline side’s CPU per request (server, database, load) by the scenario side’s', () => {
    // Peer: 0.75 + 0 + 0.25 = 1.00 ms; hub: 0.45 + 0.30 + 0.25 = 1.00 ms.
    expect(cpuRatio(pair(run(1000, [0.75, 0], 0.25), run(1000, [0.45, 0.3], 0.25)))).toBeCloseTo(1, 10);
    // Peer: 2.5 + 1.0 + 0.5 = 4.0 ms; hub: 0.6 + 0.4 + 0.5 = 1.5 ms.
    expect(cpuRatio(pair(run(400, [2.5, 1], 0.5), run(1100, [0.6, 0.4], 0.5)))).toBeCloseTo(4 / 1.5, 10);
  });

  it('gives no CPU ratio where /proc could not tell a part of either side', () => {
    expect(cpuRatio(pair(run(1, [1, 1], undefined), run(1, [1, 1], 1)))).toBeUndefined();
    expect(cpuRatio(pair(run(1, [1, 1], 1), run(1, [1, undefined], 1)))).toBeUndefined();
    expect(cpuRatio(pair(run(1, undefined, 1), run(1, [1, 1], 1)))).toBeUndefined();
    expect(cpuRatio(pair(run(1, [1, 1], 1), run(1, [0, 0], 0)))).toBeUndefined();
  });

  it('takes the median of what was measured and says n/a when nothing was', () => {
    expect(knownMedianText([0.5, undefined, 0.25, 1])).toBe('0.50');
    expect(knownMedianText([undefined, undefined])).toBe('n/a');
    expect(serverCpuText([{ processMsPerOp: 0.4, databaseMsPerOp: undefined }, undefined])).toBe('0.40 + n/a ms');
  });
});
