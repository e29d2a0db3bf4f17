// Small-number suppression of published counts. Pure: no IO, no clock.
//
// A figure is a set of counts tied by additive relations ("lines"): the
// strata of a stratifier add up to the population count, the cells of a row
// add up to the row total, and so on. Counts from 1 to SMALL_NUMBER_MAX are
// never published (primary suppression). Because the totals are published,
// more counts are then withheld (secondary, or complementary, suppression)
// until no withheld count from 1 to 4 can be worked out from what is shown:
//
//  1. Exact derivation: a withheld count is determined when the line
//     equations over the withheld counts fix its value. That holds exactly
//     when its unit vector lies in the row space of the equations restricted
//     to the withheld counts; checked with exact rational elimination.
//  2. Bounds: a reader knows a withheld published count is at least 1 (zeros
//     are shown, never withheld). In a line whose total is shown, the
//     withheld counts add to S = total - shown; if S equals the number of
//     withheld counts, each is 1. So a line holding a small withheld count
//     must have S >= SMALL_NUMBER_MAX + 1 (its withheld block is not itself a
//     small number) and S greater than its number of withheld counts.
//  3. No line with a shown total withholds exactly one count (it would equal
//     total minus the rest), unless that one unknown is a hidden entry.
//
// Entries can be hidden: part of the relations, never shown (e.g. follow-ups
// not completed within 28 days = opened - completed). A hidden count from 1 to
// 4 must not be derivable either.
//
// Secondary suppression withholds the smallest shown non-zero count of the
// offending line (a cell before its total); for a derivable count, the
// smallest count whose withholding makes it underivable, if one alone does.
// Each round withholds one more entry, so it ends.
// See: ONS, "Statistical disclosure control" (cell suppression, complementary
// suppression); NHS Digital, "Small number suppression" (counts 1 to 7 in some
// publications; here 1 to 4 as the issue asks).

/** The largest count withheld as small. */
export const SMALL_NUMBER_MAX = 4;

export interface CountEntry {
  value: number;
  /** In the relations, never shown. */
  hidden?: boolean;
}

/** sum(members) = total, as indexes into the entries. */
export interface CountLine {
  members: readonly number[];
  total: number;
}

export interface CountTable {
  entries: readonly CountEntry[];
  lines: readonly CountLine[];
}

export function isSmall(value: number): boolean {
  return value >= 1 && value <= SMALL_NUMBER_MAX;
}

/** Which entries may be shown: false for every withheld or hidden entry. */
export function suppress(table: CountTable): boolean[] {
  const { entries } = table;
  for (const e of entries) if (!Number.isInteger(e.value) || e.value < 0) throw new Error(`counts are whole numbers from 0: ${e.value}`);
  const shown = entries.map((e) => e.hidden !== true && !isSmall(e.value));
  for (let round = 0; round <= entries.length; round++) {
    const pick = nextWithheld(table, shown);
    if (pick === undefined) return shown;
    shown[pick] = false;
  }
  throw new Error('suppression did not settle');
}

/** The next entry to withhold, or undefined when the table is safe to publish. */
function nextWithheld(table: CountTable, shown: readonly boolean[]): number | undefined {
  const { entries, lines } = table;
  for (const line of lines) {
    if (!lineUnsafe(entries, shown, line)) continue;
    return cheapest(entries, shown, [line]) ?? cheapestAnywhere(entries, shown);
  }
  const determined = determinedEntries(table, shown).find((i) => isSmall(entries[i]?.value ?? 0));
  if (determined === undefined) return undefined;
  // The cheapest single entry whose withholding frees it; else the cheapest in a line it is in (and go round again).
  const candidates = entries
    .map((e, i) => ({ value: e.value, i }))
    .filter(({ value, i }) => shown[i] === true && value > 0)
    .sort((a, b) => a.value - b.value || a.i - b.i);
  for (const { i } of candidates) {
    const trial = [...shown];
    trial[i] = false;
    if (!determinedEntries(table, trial).includes(determined)) return i;
  }
  const touching = lines.filter((l) => l.total === determined || l.members.includes(determined));
  return cheapest(entries, shown, touching) ?? cheapestAnywhere(entries, shown);
}

/** Rules 2 and 3, for a line whose total is shown. */
export function lineUnsafe(entries: readonly CountEntry[], shown: readonly boolean[], line: CountLine): boolean {
  if (shown[line.total] !== true) return false;
  const unknown = line.members.filter((m) => shown[m] !== true);
  const withheld = unknown.filter((m) => entries[m]?.hidden !== true);
  const hidden = unknown.length - withheld.length;
  if (withheld.length === 1 && hidden === 0) return true;
  const small = unknown.some((m) => isSmall(entries[m]?.value ?? 0));
  if (!small) return false;
  const sum = unknown.reduce((s, m) => s + (entries[m]?.value ?? 0), 0);
  return sum <= SMALL_NUMBER_MAX || sum <= withheld.length;
}

/** The smallest shown non-zero member of these lines (members before totals), lowest index on ties. */
function cheapest(entries: readonly CountEntry[], shown: readonly boolean[], lines: readonly CountLine[]): number | undefined {
  const pickFrom = (candidates: number[]): number | undefined =>
    candidates
      .filter((i) => shown[i] === true && (entries[i]?.value ?? 0) > 0)
      .sort((a, b) => (entries[a]?.value ?? 0) - (entries[b]?.value ?? 0) || a - b)[0];
  return pickFrom(lines.flatMap((l) => [...l.members])) ?? pickFrom(lines.map((l) => l.total));
}

function cheapestAnywhere(entries: readonly CountEntry[], shown: readonly boolean[]): number | undefined {
  return cheapest(entries, shown, [{ members: entries.map((_, i) => i), total: -1 }]);
}

/**
 * Withheld or hidden entries whose value the line equations fix, given the
 * shown ones: x_k is fixed when e_k is in the row space of the coefficient
 * matrix over the unknowns, i.e. its column is a pivot whose reduced row has
 * no other non-zero entry among the free columns. Exact (bigint fractions).
 */
export function determinedEntries(table: CountTable, shown: readonly boolean[]): number[] {
  const unknown = table.entries.map((_, i) => i).filter((i) => shown[i] !== true);
  if (unknown.length === 0) return [];
  const column = new Map(unknown.map((entry, col) => [entry, col]));
  const rows: Fraction[][] = [];
  for (const line of table.lines) {
    const row = unknown.map(() => ZERO);
    let any = false;
    for (const m of line.members) {
      const c = column.get(m);
      if (c !== undefined) { row[c] = add(row[c] ?? ZERO, ONE); any = true; }
    }
    const t = column.get(line.total);
    if (t !== undefined) { row[t] = add(row[t] ?? ZERO, MINUS_ONE); any = true; }
    if (any) rows.push(row);
  }
  const pivots = reduce(rows, unknown.length);
  const pivotColumns = new Set(pivots.map((p) => p.column));
  const fixed: number[] = [];
  for (const { row, column: c } of pivots) {
    const r = rows[row] ?? [];
    const alone = r.every((v, j) => j === c || v.n === 0n || pivotColumns.has(j));
    // In reduced row echelon form the other pivot columns are already zero in this row.
    if (alone) fixed.push(unknown[c] ?? -1);
  }
  return fixed.sort((a, b) => a - b);
}

interface Fraction { n: bigint; d: bigint }
const ZERO: Fraction = { n: 0n, d: 1n };
const ONE: Fraction = { n: 1n, d: 1n };
const MINUS_ONE: Fraction = { n: -1n, d: 1n };

function norm(n: bigint, d: bigint): Fraction {
  if (n === 0n) return ZERO;
  const sign = d < 0n ? -1n : 1n;
  const g = gcd(n < 0n ? -n : n, d < 0n ? -d : d);
  return { n: (sign * n) / g, d: (sign * d) / g };
}
function gcd(a: bigint, b: bigint): bigint {
  while (b !== 0n) [a, b] = [b, a % b];
  return a;
}
function add(a: Fraction, b: Fraction): Fraction { return norm(a.n * b.d + b.n * a.d, a.d * b.d); }
function sub(a: Fraction, b: Fraction): Fraction { return norm(a.n * b.d - b.n * a.d, a.d * b.d); }
function mul(a: Fraction, b: Fraction): Fraction { return norm(a.n * b.n, a.d * b.d); }
function div(a: Fraction, b: Fraction): Fraction { return norm(a.n * b.d, a.d * b.n); }

/** Gauss-Jordan elimination in place to reduced row echelon form; returns the pivots. */
function reduce(rows: Fraction[][], width: number): { row: number; column: number }[] {
  const pivots: { row: number; column: number }[] = [];
  let next = 0;
  for (let c = 0; c < width && next < rows.length; c++) {
    const found = rows.findIndex((r, i) => i >= next && (r[c]?.n ?? 0n) !== 0n);
    if (found < 0) continue;
    [rows[next], rows[found]] = [rows[found] ?? [], rows[next] ?? []];
    const pivotRow = rows[next] ?? [];
    const p = pivotRow[c] ?? ONE;
    for (let j = 0; j < width; j++) pivotRow[j] = div(pivotRow[j] ?? ZERO, p);
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i] ?? [];
      const f = r[c] ?? ZERO;
      if (i === next || f.n === 0n) continue;
      for (let j = 0; j < width; j++) r[j] = sub(r[j] ?? ZERO, mul(f, pivotRow[j] ?? ZERO));
    }
    pivots.push({ row: next, column: c });
    next++;
  }
  return pivots;
}

/**
 * A two-way table with its margins as a CountTable: the cells row by row,
 * then the row totals, the column totals, and the grand total last.
 */
export function gridTable(cells: readonly (readonly number[])[]): CountTable {
  const rows = cells.length;
  const cols = cells[0]?.length ?? 0;
  const cell = (r: number, c: number): number => r * cols + c;
  const rowTotal = (r: number): number => rows * cols + r;
  const colTotal = (c: number): number => rows * cols + rows + c;
  const grand = rows * cols + rows + cols;
  const values = [
    ...cells.flatMap((r) => [...r]),
    ...cells.map((r) => r.reduce((s, v) => s + v, 0)),
    ...Array.from({ length: cols }, (_, c) => cells.reduce((s, r) => s + (r[c] ?? 0), 0)),
    cells.reduce((s, r) => s + r.reduce((t, v) => t + v, 0), 0),
  ];
  const lines: CountLine[] = [
    ...Array.from({ length: rows }, (_, r) => ({ members: Array.from({ length: cols }, (_, c) => cell(r, c)), total: rowTotal(r) })),
    ...Array.from({ length: cols }, (_, c) => ({ members: Array.from({ length: rows }, (_, r) => cell(r, c)), total: colTotal(c) })),
    { members: Array.from({ length: rows }, (_, r) => rowTotal(r)), total: grand },
    { members: Array.from({ length: cols }, (_, c) => colTotal(c)), total: grand },
  ];
  return { entries: values.map((value) => ({ value })), lines };
}
