import { describe, expect, it } from 'vitest';
import { composedStatement } from '../../src/db/statement-names.js';

// Composed statements are prepared under a name made from their text, for a
// bounded number of shapes of each kind per process (each test file has its own module).

describe('composedStatement', () => {
  it('names a text by its digest: the same text the same name, another text another', () => {
    const a = composedStatement('search', 'select 1 where $1::int = 1');
    expect(a.name).toMatch(/^search_[0-9a-f]{32}$/);
    expect(composedStatement('search', 'select 1 where $1::int = 1')).toEqual(a);
    expect(composedStatement('search', 'select 2 where $1::int = 1').name).not.toBe(a.name);
    expect(composedStatement('write', 'select 1 where $1::int = 1').name).not.toBe(a.name);
  });

  it('names no more than 256 shapes of a kind: beyond them a new shape runs unnamed, those named keep their names, and other kinds still get names', () => {
    const first = composedStatement('bound', 'select $1::int as n0');
    const names = new Set<string>([first.name]);
    for (let n = 1; n < 300; n += 1) names.add(composedStatement('bound', `select $1::int as n${n}`).name);
    expect([...names].filter((name) => name !== '')).toHaveLength(256);
    expect(names.has('')).toBe(true);
    expect(composedStatement('bound', 'select $1::int as n299')).toEqual({ name: '', text: 'select $1::int as n299' });
    expect(composedStatement('bound', 'select $1::int as n0')).toEqual(first);
    expect(composedStatement('write', 'select $1::int as n299').name).toMatch(/^write_[0-9a-f]{32}$/);
  });
});
