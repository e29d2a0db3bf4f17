import { sql } from 'drizzle-orm';
import { PgDialect, pgTable, text } from 'drizzle-orm/pg-core';
import { describe, expect, it } from 'vitest';
import { resources, subjectFacts } from '../../src/db/schema/index.js';
import { parameterConditions } from '../../src/db/search-conditions.js';
import type { SearchRequest } from '../../src/fhir/search-request.js';
import { allOf, anyOf, fragment, joinFragments, namesOf, rawFragment, render, type Fragment } from '../../src/db/sql-fragment.js';

const R = namesOf(resources);
const F = namesOf(subjectFacts);

describe('SQL fragments', () => {
  it.each<[string, Fragment, string, unknown[]]>([
    ['numbers parameters in order of appearance', fragment`a = ${1} and b = ${'two'}`, 'a = $1 and b = $2', [1, 'two']],
    ['writes a fragment in place, its values numbered where they fall', fragment`x ${fragment`in (${3}, ${4})`} and y = ${5}`, 'x in ($1, $2) and y = $3', [3, 4, 5]],
    ['keeps an array as one parameter', fragment`v = any(${['a', 'b']}::text[])`, 'v = any($1::text[])', [['a', 'b']]],
    ['writes fixed text as it is', rawFragment('true'), 'true', []],
    ['joins parts with the separator', joinFragments([fragment`${1}`, rawFragment('x'), fragment`${2}`], ', '), '$1, x, $2', [1, 2]],
    ['joins no parts to nothing', joinFragments([], ' union '), '', []],
    ['writes a one-part join as the part', joinFragments([fragment`a = ${1}`], ' union '), 'a = $1', [1]],
  ])('%s', (_name, f, text, values) => {
    expect(render(f)).toEqual({ sql: text, params: values });
  });

  it('numbers from a given place, for a fragment written into a larger statement', () => {
    expect(render(fragment`a = ${'x'} or b = ${'y'}`, 4)).toEqual({ sql: 'a = $4 or b = $5', params: ['x', 'y'] });
  });

  it.each<[string, (Fragment | undefined)[], string | undefined]>([
    ['none given: nothing', [undefined, undefined], undefined],
    ['one given: itself, without parentheses', [undefined, rawFragment('a'), undefined], 'a'],
    ['two or more: in parentheses', [rawFragment('a'), undefined, rawFragment('b'), rawFragment('c')], '(a and b and c)'],
  ])('allOf, %s', (_name, conditions, expected) => {
    const all = allOf(...conditions);
    expect(all === undefined ? undefined : render(all).sql).toBe(expected);
    const any = anyOf(...conditions);
    expect(any === undefined ? undefined : render(any).sql).toBe(expected?.replace(/ and /g, ' or '));
  });

  it('names a table and its columns from the drizzle schema, quoted and qualified', () => {
    expect(render(R.table).sql).toBe('"resource"');
    expect(render(R.lastUpdated).sql).toBe('"resource"."last_updated"');
    expect(render(F.consentOpen).sql).toBe('"subject_fact"."consent_open"');
  });

  it('refuses a table with a column keyed as its own name is', () => {
    expect(() => namesOf(pgTable('odd', { table: text('table_name') }))).toThrow(/keyed "table"/);
  });

  it('writes a reference criterion with no target as one that matches nothing, not as broken SQL', () => {
    const search: SearchRequest = {
      resourceType: 'Immunization', ids: undefined, identifiers: [], tokens: [], lastUpdated: [], count: 10, descending: false, cursor: undefined, includes: [],
      references: [{ param: 'patient', targets: [] }, { param: 'subject', targets: ['Patient/a', '*/b'] }],
    };
    const [none, some] = parameterConditions(search).map((f) => render(f));
    expect(none?.sql).toMatch(/and r\.param = \$1 and \(false\)\)$/);
    expect(none?.params).toEqual(['patient']);
    expect(some?.sql).toMatch(/and \(\(r\.target in \(\$2\) or split_part\(r\.target, '\/', 2\) in \(\$3\)\)\)\)$/);
    expect(some?.params).toEqual(['subject', 'Patient/a', 'b']);
  });

  // What searches composed through drizzle's `sql` rendered before: the same text keeps their statement names and plans.
  it('renders what drizzle renders for the same composition', () => {
    const dialect = new PgDialect();
    const { sql: text, params } = dialect.sqlToQuery(
      sql`select ${resources.id} from ${resources} where (${resources.type} = ${'Patient'} and ${resources.sourceOrgs} && ${sql.param(['A', 'B'])}::text[]) limit ${21}`,
    );
    const ours = render(
      fragment`select ${R.id} from ${R.table} where ${allOf(fragment`${R.type} = ${'Patient'}`, fragment`${R.sourceOrgs} && ${['A', 'B']}::text[]`)} limit ${21}`,
    );
    expect(ours).toEqual({ sql: text, params });
  });
});
