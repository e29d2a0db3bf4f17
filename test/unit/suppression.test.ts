import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { determinedEntries, gridTable, isSmall, lineUnsafe, suppress, type CountTable } from '../../src/figures/suppression.js';

// Small-number suppression: table cases worked by hand, and properties over
// random tables checked against oracles that do not share the code under test.

/** A grid's published form: cells row by row, then row totals, column totals, grand total; "*" for withheld. */
function publishedGrid(cells: number[][]): (number | '*')[] {
  const table = gridTable(cells);
  const shown = suppress(table);
  return table.entries.map((e, i) => (shown[i] === true ? e.value : '*'));
}

describe('suppress, worked cases', () => {
  it.each([
    {
      name: 'nothing small: everything shown',
      cells: [[10, 20], [30, 40]],
      expected: [10, 20, 30, 40, 30, 70, 40, 60, 100],
    },
    {
      name: 'zeros are shown, never withheld',
      cells: [[0, 20], [30, 0]],
      expected: [0, 20, 30, 0, 20, 30, 30, 20, 50],
    },
    {
      // 3 is small; its row and column each need a second withheld cell: the 2x2 block of the smallest counts.
      name: 'one small cell: the smallest complement in its row and column, and the cell that closes the cycle',
      cells: [[3, 10, 20], [12, 11, 30], [40, 50, 60]],
      expected: ['*', '*', 20, '*', '*', 30, 40, 50, 60, 33, 53, 150, 55, 71, 110, 236],
    },
    {
      // Two small cells in one row add to 5: withheld with nothing else, since their block is not small.
      name: 'two small cells in a row whose sum is at least 5, each with a column complement',
      cells: [[2, 3, 9], [6, 7, 8]],
      expected: ['*', '*', 9, '*', '*', 8, 14, 21, 8, 10, 17, 35],
    },
  ])('$name', ({ cells, expected }) => {
    expect(publishedGrid(cells)).toEqual(expected);
  });

  it('a block of withheld ones is widened: two 1s in a row would each be 1', () => {
    // Row [1, 1, 50]: withholding the two 1s leaves S = 2 = number withheld, so both are pinned to 1.
    const table: CountTable = { entries: [{ value: 1 }, { value: 1 }, { value: 50 }, { value: 52 }], lines: [{ members: [0, 1, 2], total: 3 }] };
    expect(suppress(table)).toEqual([false, false, false, true]);
  });

  it('a line with only small counts and zeros withholds its total', () => {
    const table: CountTable = { entries: [{ value: 2 }, { value: 0 }, { value: 2 }], lines: [{ members: [0, 1], total: 2 }] };
    expect(suppress(table)).toEqual([false, true, false]);
  });

  it('a hidden complement from 1 to 4 is protected: the numerator is withheld too', () => {
    // denominator 20 = numerator 17 + hidden 3: showing 17 and 20 would give 3.
    const table: CountTable = { entries: [{ value: 20 }, { value: 17 }, { value: 3, hidden: true }], lines: [{ members: [1, 2], total: 0 }] };
    expect(suppress(table)).toEqual([true, false, false]);
  });

  it('a hidden complement of 0 or 5 and more does not hide anything', () => {
    const table: CountTable = { entries: [{ value: 20 }, { value: 15 }, { value: 5, hidden: true }], lines: [{ members: [1, 2], total: 0 }] };
    expect(suppress(table)).toEqual([true, true, false]);
  });

  it('refuses counts that are not whole numbers from 0', () => {
    expect(() => suppress({ entries: [{ value: -1 }], lines: [] })).toThrow(/whole numbers/);
    expect(() => suppress({ entries: [{ value: 1.5 }], lines: [] })).toThrow(/whole numbers/);
  });

  it('determinedEntries: a lone unknown in a line with a known total is fixed; two are not', () => {
    const table: CountTable = { entries: [{ value: 3 }, { value: 7 }, { value: 10 }], lines: [{ members: [0, 1], total: 2 }] };
    expect(determinedEntries(table, [false, true, true])).toEqual([0]);
    expect(determinedEntries(table, [false, false, true])).toEqual([]);
    // Chained: the second line fixes entry 1, which then fixes entry 0.
    const chained: CountTable = { entries: [{ value: 3 }, { value: 7 }, { value: 10 }, { value: 2 }, { value: 9 }], lines: [{ members: [0, 1], total: 2 }, { members: [1, 3], total: 4 }] };
    expect(determinedEntries(chained, [false, false, true, true, true])).toEqual([0, 1]);
  });
});

// ---- Oracles -------------------------------------------------------------

/**
 * In a two-way table with all margins, the extended (R+1)x(C+1) grid has
 * every line summing to zero (totals with a minus sign), so a withheld entry
 * is exactly determined iff it is a bridge of the bipartite graph whose
 * vertices are the extended rows and columns and whose edges are the
 * withheld entries. Independent of the elimination in suppression.ts.
 */
function bridgesOfGrid(rows: number, cols: number, shown: readonly boolean[]): Set<number> {
  const position = (i: number): [number, number] => {
    if (i < rows * cols) return [Math.floor(i / cols), i % cols];
    if (i < rows * cols + rows) return [i - rows * cols, cols];
    if (i < rows * cols + rows + cols) return [rows, i - rows * cols - rows];
    return [rows, cols];
  };
  const edges: { a: number; b: number; entry: number }[] = [];
  shown.forEach((s, i) => {
    if (s) return;
    const [r, c] = position(i);
    edges.push({ a: r, b: rows + 1 + c, entry: i });
  });
  const vertices = rows + 1 + cols + 1;
  const adjacent: { to: number; edge: number }[][] = Array.from({ length: vertices }, () => []);
  edges.forEach((e, k) => {
    adjacent[e.a]?.push({ to: e.b, edge: k });
    adjacent[e.b]?.push({ to: e.a, edge: k });
  });
  const order = new Array<number>(vertices).fill(-1);
  const low = new Array<number>(vertices).fill(0);
  const bridges = new Set<number>();
  let time = 0;
  const visit = (v: number, viaEdge: number): void => {
    order[v] = low[v] = time++;
    for (const { to, edge } of adjacent[v] ?? []) {
      if (edge === viaEdge) continue;
      if ((order[to] ?? -1) < 0) {
        visit(to, edge);
        low[v] = Math.min(low[v] ?? 0, low[to] ?? 0);
        if ((low[to] ?? 0) > (order[v] ?? 0)) bridges.add(edges[edge]?.entry ?? -1);
      } else {
        low[v] = Math.min(low[v] ?? 0, order[to] ?? 0);
      }
    }
  };
  for (let v = 0; v < vertices; v++) if ((order[v] ?? -1) < 0) visit(v, -1);
  return bridges;
}

/**
 * What a reader can work out from a small published grid: every
 * assignment of the withheld cells (each at least 1, zeros being shown)
 * within a window around the truth that agrees with every shown total.
 * Returns the withheld entries that take only one value.
 */
function pinnedByEnumeration(cells: number[][], shown: readonly boolean[]): number[] {
  const table = gridTable(cells);
  const rows = cells.length;
  const cols = cells[0]?.length ?? 0;
  const interior = rows * cols;
  const values = table.entries.map((e) => e.value);
  const withheldCells = Array.from({ length: interior }, (_, i) => i).filter((i) => shown[i] !== true);
  const seen = table.entries.map(() => new Set<number>());
  const trial = values.slice(0, interior);
  const check = (): void => {
    const rowTotals = Array.from({ length: rows }, (_, r) => trial.slice(r * cols, r * cols + cols).reduce((a, b) => a + b, 0));
    const colTotals = Array.from({ length: cols }, (_, c) => rowTotals.reduce((a, _t, r) => a + (trial[r * cols + c] ?? 0), 0));
    const all = [...trial, ...rowTotals, ...colTotals, rowTotals.reduce((a, b) => a + b, 0)];
    for (let i = interior; i < all.length; i++) {
      if (shown[i] === true && all[i] !== values[i]) return;
      if (shown[i] !== true && (all[i] ?? 0) < 1) return;
    }
    all.forEach((v, i) => { if (shown[i] !== true) seen[i]?.add(v); });
  };
  const walk = (k: number): void => {
    if (k === withheldCells.length) { check(); return; }
    const i = withheldCells[k] ?? 0;
    const truth = values[i] ?? 0;
    for (let v = Math.max(1, truth - 3); v <= truth + 3; v++) {
      trial[i] = v;
      walk(k + 1);
    }
    trial[i] = truth;
  };
  walk(0);
  return seen.map((s, i) => (shown[i] !== true && s.size === 1 ? i : -1)).filter((i) => i >= 0);
}

const grid = (maxRows: number, maxCols: number, maxValue: number) =>
  fc.integer({ min: 1, max: maxRows }).chain((rows) =>
    fc.integer({ min: 1, max: maxCols }).chain((cols) =>
      fc.array(fc.array(fc.oneof(fc.integer({ min: 0, max: 6 }), fc.integer({ min: 0, max: maxValue })), { minLength: cols, maxLength: cols }), { minLength: rows, maxLength: rows }),
    ),
  );

describe('suppress, properties', () => {
  it('no shown count is from 1 to 4, and the answer is deterministic', () => {
    fc.assert(
      fc.property(grid(5, 6, 60), (cells) => {
        const table = gridTable(cells);
        const shown = suppress(table);
        expect(table.entries.filter((e, i) => shown[i] === true && isSmall(e.value))).toEqual([]);
        expect(suppress(table)).toEqual(shown);
      }),
      { numRuns: 200 },
    );
  });

  it('no row or column with a shown total has exactly one withheld cell (it would be total minus the rest)', () => {
    fc.assert(
      fc.property(grid(5, 6, 60), (cells) => {
        const table = gridTable(cells);
        const shown = suppress(table);
        for (const line of table.lines) {
          if (shown[line.total] !== true) continue;
          const withheld = line.members.filter((m) => shown[m] !== true);
          expect(withheld.length).not.toBe(1);
          // The withheld block of a line holding a small count is not itself small, and not all ones.
          if (withheld.some((m) => isSmall(table.entries[m]?.value ?? 0))) {
            const sum = withheld.reduce((s, m) => s + (table.entries[m]?.value ?? 0), 0);
            expect(sum).toBeGreaterThan(4);
            expect(sum).toBeGreaterThan(withheld.length);
          }
          expect(lineUnsafe(table.entries, shown, line)).toBe(false);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('no withheld count from 1 to 4 is exactly determined by the totals (bridge oracle)', () => {
    fc.assert(
      fc.property(grid(5, 6, 60), (cells) => {
        const table = gridTable(cells);
        const shown = suppress(table);
        const bridges = bridgesOfGrid(cells.length, cells[0]?.length ?? 0, shown);
        const exposed = [...bridges].filter((i) => isSmall(table.entries[i]?.value ?? 0));
        expect(exposed).toEqual([]);
        // The elimination agrees with the oracle on which withheld entries are fixed.
        expect(determinedEntries(table, shown)).toEqual([...bridges].sort((a, b) => a - b));
      }),
      { numRuns: 200 },
    );
  });

  it('a reader who knows withheld counts are at least 1 cannot pin a small one (enumeration, small grids)', () => {
    fc.assert(
      fc.property(grid(2, 3, 12).filter((cells) => cells.flat().length <= 4 || cells.flat().filter((v) => v > 0).length <= 5), (cells) => {
        const table = gridTable(cells);
        const shown = suppress(table);
        const pinned = pinnedByEnumeration(cells, shown).filter((i) => isSmall(table.entries[i]?.value ?? 0));
        expect(pinned).toEqual([]);
      }),
      { numRuns: 100 },
    );
  });

  it('stratifiers sharing one population count: no small count shown or determined', () => {
    const strata = fc.array(fc.array(fc.oneof(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 0, max: 40 })), { minLength: 1, maxLength: 8 }), { minLength: 1, maxLength: 4 });
    fc.assert(
      fc.property(strata, (raw) => {
        // Every stratifier partitions the same population: scale the last stratum so each adds to one total.
        const total = Math.max(...raw.map((s) => s.reduce((a, b) => a + b, 0)));
        const stratifiers = raw.map((s) => [...s.slice(0, -1), total - s.slice(0, -1).reduce((a, b) => a + b, 0)]).filter((s) => s.every((v) => v >= 0));
        const entries = [{ value: total }, ...stratifiers.flat().map((value) => ({ value }))];
        let at = 1;
        const lines = stratifiers.map((s) => ({ members: s.map(() => at++), total: 0 }));
        const table: CountTable = { entries, lines };
        const shown = suppress(table);
        expect(entries.filter((e, i) => shown[i] === true && isSmall(e.value))).toEqual([]);
        expect(determinedEntries(table, shown).filter((i) => isSmall(entries[i]?.value ?? 0))).toEqual([]);
        for (const line of lines) expect(lineUnsafe(entries, shown, line)).toBe(false);
      }),
      { numRuns: 200 },
    );
  });
});
