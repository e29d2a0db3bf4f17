import { describe, expect, it } from 'vitest';
import { checkParameterBounds, MAX_OR_VALUES, MAX_PARAMETERS, MAX_REPEATS } from '../../src/fhir/search-bounds.js';
import { parseDateBound, parseSearch } from '../../src/fhir/search-request.js';

describe('_lastUpdated values', () => {
  it.each([
    ['2026', '2026-01-01T00:00:00.000Z', '2027-01-01T00:00:00.000Z', 'eq'],
    ['ge2026-02', '2026-02-01T00:00:00.000Z', '2026-03-01T00:00:00.000Z', 'ge'],
    ['lt2026-11-22', '2026-11-22T00:00:00.000Z', '2026-11-23T00:00:00.000Z', 'lt'],
    ['gt2026-11-22T10:15Z', '2026-11-22T10:15:00.000Z', '2026-11-22T10:16:00.000Z', 'gt'],
    ['le2026-11-22T10:15:30+01:00', '2026-11-22T09:15:30.000Z', '2026-11-22T09:15:31.000Z', 'le'],
    ['2026-11-22T10:15:30.123Z', '2026-11-22T10:15:30.123Z', '2026-11-22T10:15:30.124Z', 'eq'],
  ])('%s is the range [%s, %s)', (text, start, end, comparator) => {
    const bound = parseDateBound(text);
    expect(bound?.start.toISOString()).toBe(start);
    expect(bound?.end.toISOString()).toBe(end);
    expect(bound?.comparator).toBe(comparator);
  });

  it.each(['2026-02-30', '2026-13', 'ne2026', '2026-11-22T10:15:30', '2026-11-22T25:00Z', 'today', '26-11-22'])('refuses %s', (text) => {
    expect(parseDateBound(text)).toBeUndefined();
  });
});

describe('search parameters', () => {
  it('parses a full request', () => {
    const parsed = parseSearch('Observation', [
      ['identifier', 'urn:a|1,2'],
      ['patient', 'Patient/p1'],
      ['subject', 'x9'],
      ['_lastUpdated', 'gt2026-01-01'],
      ['_count', '500'],
      ['_sort', '-_lastUpdated'],
      ['_format', 'json'],
    ]);
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    expect(parsed.request.identifiers).toEqual([[{ system: 'urn:a', value: '1' }, { system: undefined, value: '2' }]]);
    expect(parsed.request.references).toEqual([{ param: 'patient', targets: ['Patient/p1'] }, { param: 'subject', targets: ['*/x9'] }]);
    expect(parsed.request.count).toBe(100);
    expect(parsed.request.descending).toBe(true);
  });

  it('intersects repeated _id parameters', () => {
    const parsed = parseSearch('Patient', [['_id', 'a,b'], ['_id', 'b,c']]);
    expect(parsed.ok && parsed.request.ids).toEqual(['b']);
  });

  it.each([
    ['Patient', 'patient', 'Patient/1'],
    ['Provenance', 'identifier', 'x'],
    ['Observation', '_count', '1', '_count', '2'],
    ['Observation', '_format', 'xml'],
    ['Observation', 'identifier', 'a|b|c'],
    ['Observation', 'identifier', ''],
    ['Observation', 'identifier', 'a\u0000b'],
    ['Observation', '_id', '\u0007'],
  ])('refuses %s?%s=%s naming the parameter', (type, name, value, name2?: string, value2?: string) => {
    const params: [string, string][] = [[name, value]];
    if (name2 !== undefined && value2 !== undefined) params.push([name2, value2]);
    const parsed = parseSearch(type, params);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.problem.outcome.issue[0]?.expression).toEqual([name]);
  });
});

describe('parameter bounds', () => {
  const repeat = (n: number, pair: [string, string]): [string, string][] => Array.from({ length: n }, () => pair);
  it.each([
    ['repetitions at the bound', repeat(MAX_REPEATS, ['patient', 'p1']), undefined],
    ['one repetition more', repeat(MAX_REPEATS + 1, ['patient', 'p1']), 'patient'],
    ['an OR-list at the bound', [['_id', Array.from({ length: MAX_OR_VALUES }, (_, i) => `i${i}`).join(',')]], undefined],
    ['an OR-list one longer', [['_id', Array.from({ length: MAX_OR_VALUES + 1 }, (_, i) => `i${i}`).join(',')]], '_id'],
    ['a million commas', [['identifier', ','.repeat(1_000_000)]], 'identifier'],
    ['parameters at the bound', Array.from({ length: MAX_PARAMETERS }, (_, i): [string, string] => [`p${i % 40}`, 'x']), undefined],
    ['one parameter more', Array.from({ length: MAX_PARAMETERS + 1 }, (_, i): [string, string] => [`p${i}`, 'x']), `p${MAX_PARAMETERS}`],
  ] as [string, [string, string][], string | undefined][])('%s', (_name, params, refused) => {
    const p = checkParameterBounds(params);
    expect(p?.outcome.issue[0]?.expression?.[0]).toBe(refused);
    if (refused !== undefined) expect(p?.status).toBe(400);
    const parsed = parseSearch('Observation', params, { lenient: true });
    if (refused !== undefined) expect(parsed.ok).toBe(false);
  });
});
