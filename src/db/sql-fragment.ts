import { getTableColumns, getTableName, type Table } from 'drizzle-orm';

// SQL composed per request (a search's conditions) as text and values, without
// drizzle's builder: building and rendering a search by NHS number through
// drizzle's `sql` took about 38 µs on this kind of machine (more under load:
// 4 % of the hub's busy time in a profile of the search load), walking each
// piece through drizzle's entity checks, against about 3 µs here. The schema stays
// drizzle's: table and column names are read from it once (`namesOf`).
//
// A fragment is a template's text and what was put into it. A fragment put into
// another is written in place; anything else becomes a parameter ($1, $2, …, in
// order of appearance), as drizzle binds it. The text rendered is the text
// drizzle rendered for the same composition, so a search keeps its statement
// names and plans (statement-names.ts).

/** A piece of SQL text and the values in it, rendered by `render`. */
export class Fragment {
  constructor(
    readonly strings: readonly string[],
    readonly values: readonly unknown[],
  ) {}
}

/** A fragment from a template: fragments in it are written in place, other values become parameters. */
export function fragment(strings: TemplateStringsArray, ...values: unknown[]): Fragment {
  return new Fragment(strings, values);
}

/** Fixed text (never a value from a request). */
export function rawFragment(text: string): Fragment {
  return new Fragment([text], []);
}

/** The parts written one after another, `separator` between them. */
export function joinFragments(parts: readonly Fragment[], separator: string): Fragment {
  if (parts.length === 0) return rawFragment('');
  return new Fragment(['', ...parts.slice(1).map(() => separator), ''], parts);
}

/** The conditions that are given, all of them: none is undefined, one is itself, more are `(a and b …)`. */
export function allOf(...conditions: (Fragment | undefined)[]): Fragment | undefined {
  return combined(conditions, ' and ');
}

/** The conditions that are given, any of them: none is undefined, one is itself, more are `(a or b …)`. */
export function anyOf(...conditions: (Fragment | undefined)[]): Fragment | undefined {
  return combined(conditions, ' or ');
}

function combined(conditions: readonly (Fragment | undefined)[], operator: string): Fragment | undefined {
  const given = conditions.filter((c): c is Fragment => c !== undefined);
  if (given.length <= 1) return given[0];
  return fragment`(${joinFragments(given, operator)})`;
}

/** The text, with `$n` for each parameter from `$first`, and the parameters' values in that order. */
export function render(f: Fragment, first = 1): { sql: string; params: unknown[] } {
  const params: unknown[] = [];
  const sql = write(f, params, first - 1);
  return { sql, params };
}

function write(f: Fragment, params: unknown[], before: number): string {
  let out = f.strings[0] ?? '';
  for (let i = 0; i < f.values.length; i += 1) {
    const value = f.values[i];
    out += value instanceof Fragment ? write(value, params, before) : `$${String(before + params.push(value))}`;
    out += f.strings[i + 1] ?? '';
  }
  return out;
}

/** A table's quoted name and each column's name qualified by it, as drizzle writes a column in `sql`. */
export type TableNames<T extends Table> = { table: Fragment } & { [K in keyof T['_']['columns']]: Fragment };

export function namesOf<T extends Table>(table: T): TableNames<T> {
  const name = quoted(getTableName(table));
  const names: Record<string, Fragment> = { table: rawFragment(name) };
  for (const [key, column] of Object.entries(getTableColumns(table))) {
    if (key === 'table') throw new Error(`a column of ${name} is keyed "table", the key its own name takes here`);
    names[key] = rawFragment(`${name}.${quoted(column.name)}`);
  }
  return names as TableNames<T>;
}

function quoted(identifier: string): string {
  return `"${identifier.replace(/"/g, '""')}"`;
}
