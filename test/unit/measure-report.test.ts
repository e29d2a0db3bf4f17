import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { antigenGroupOf, followUpStrata, reasonCategoryOf } from '../../src/figures/figure-codes.js';
import { buildFigure, monthsOf, toCsvRows, toMeasureReport, type FigureFact, type FigureTable } from '../../src/figures/measure-report.js';
import { measureOfCanonical, measureResource, MEASURE_IDS } from '../../src/figures/measures.js';

// From aggregate counts to the published figure (pure).

const PERIOD = { start: '2026-06-01', end: '2026-08-31' };
const missed = (month: string, district: string, vaccine: string, reason: string, n: number): FigureFact => ({
  strata: { month, 'postcode-district': district, vaccine, 'reason-category': reason },
  counts: [n],
});

describe('codes', () => {
  it.each([
    ['770618004', '6-in-1'], ['868651000000109', 'rotavirus'], ['720544006', 'MenB'], ['247651000000108', 'PCV'],
    ['712834006', 'Hib-MenC'], ['170433008', 'MMR'], ['433733003', 'MMRV'], ['390865008', '4-in-1'], ['1082441000000108', 'other'], [null, 'other'],
  ])('procedure %s is antigen group %s', (code, group) => {
    expect(antigenGroupOf(code)).toBe(group);
  });

  it.each([['201741000000102', 'did-not-attend'], ['281399006', 'did-not-attend'], ['310376006', 'consent-not-given'], ['999999', 'other-reason'], [null, 'other-reason']])(
    'reason %s is %s',
    (code, category) => {
      expect(reasonCategoryOf(code)).toBe(category);
    },
  );

  it('puts a follow-up under the vaccine and reason of the dose it is about; an exception under not-applicable', () => {
    expect(followUpStrata('missed-dose', '770618004', '201741000000102')).toEqual({ vaccine: '6-in-1', reasonCategory: 'did-not-attend' });
    expect(followUpStrata('missed-dose', null, null)).toEqual({ vaccine: 'other', reasonCategory: 'other-reason' });
    expect(followUpStrata('overdue-dose', '308081000000105', null)).toEqual({ vaccine: 'MMR', reasonCategory: 'overdue' });
    expect(followUpStrata('birth-without-booking', '308081000000105', '310376006')).toEqual({ vaccine: 'not-applicable', reasonCategory: 'not-applicable' });
  });

  it('names each measure by its canonical URL, with or without a version', () => {
    expect(measureOfCanonical('https://eastside.example/fhir/Measure/missed-doses')).toBe('missed-doses');
    expect(measureOfCanonical('https://eastside.example/fhir/Measure/exceptions|1')).toBe('exceptions');
    expect(measureOfCanonical('https://elsewhere.example/fhir/Measure/missed-doses')).toBeUndefined();
    expect(measureOfCanonical('https://eastside.example/fhir/Measure/everyone')).toBeUndefined();
  });

  it('lists every month a period touches, across a year end', () => {
    expect(monthsOf({ start: '2025-11-15', end: '2026-02-01' })).toEqual(['2025-11', '2025-12', '2026-01', '2026-02']);
    expect(monthsOf({ start: '2026-06-30', end: '2026-06-30' })).toEqual(['2026-06']);
  });

  it('each Measure states its populations and one stratifier per dimension', () => {
    for (const id of MEASURE_IDS) {
      const m = measureResource(id);
      expect(m.url).toBe(`https://eastside.example/fhir/Measure/${id}`);
      expect(m.group?.[0]?.stratifier?.length).toBeGreaterThan(1);
      expect(JSON.stringify(m)).not.toMatch(/Patient\//);
    }
  });
});

describe('buildFigure', () => {
  it('adds the facts into strata, zeros listed, and withholds the small ones with their complements', () => {
    const table = buildFigure('missed-doses', PERIOD, [
      missed('2026-06', 'E1', '6-in-1', 'did-not-attend', 12),
      missed('2026-07', 'E14', 'MMRV', 'consent-not-given', 3),
      missed('2026-07', 'E1', '6-in-1', 'did-not-attend', 6),
    ]);
    expect(table.overall).toEqual([21]);
    const strata = (code: string) => Object.fromEntries((table.stratifiers.find((s) => s.code === code)?.strata ?? []).map((s) => [s.value, s.counts[0]]));
    expect(strata('month')).toEqual({ '2026-06': 12, '2026-07': 9, '2026-08': 0 });
    expect(strata('postcode-district')).toEqual({ E1: null, E14: null });
    expect(strata('reason-category')).toEqual({ 'did-not-attend': null, 'consent-not-given': null, 'other-reason': 0 });
    expect(strata('vaccine')['MMRV']).toBeNull();
    expect(strata('vaccine')['6-in-1']).toBeNull();
    expect(strata('vaccine')['PCV']).toBe(0);
  });

  it('withholds the total too when the whole population is small', () => {
    const table = buildFigure('missed-doses', PERIOD, [missed('2026-06', 'E1', 'MenB', 'did-not-attend', 3)]);
    expect(table.overall).toEqual([null]);
    for (const s of table.stratifiers) for (const st of s.strata) expect(st.counts[0] === 0 || st.counts[0] === null).toBe(true);
  });

  it('renders a MeasureReport with masked counts, and CSV rows with "*"', () => {
    const table: FigureTable = {
      measure: 'exceptions',
      period: { start: '2025-03-01', end: '2025-03-31' },
      overall: [6],
      stratifiers: [{ code: 'follow-up-kind', strata: [{ value: 'birth-without-booking', counts: [null] }, { value: 'pregnancy-overdue', counts: [null] }] }],
    };
    const report = toMeasureReport(table, new Date('2026-12-06T00:00:00Z'), { system: 'urn:eastside:org', value: 'EYHUB', display: 'Hub' });
    expect(report).toMatchObject({ status: 'complete', type: 'summary', measure: 'https://eastside.example/fhir/Measure/exceptions', date: '2026-12-06T00:00:00.000Z' });
    expect(report.group?.[0]?.population?.[0]?.count).toBe(6);
    expect(report.group?.[0]?.stratifier?.[0]?.stratum?.[1]?.population?.[0]).toEqual({
      code: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/measure-population', code: 'initial-population' }] },
      _count: { extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/data-absent-reason', valueCode: 'masked' }] },
    });
    expect(toCsvRows(table)).toEqual([
      ['https://eastside.example/fhir/Measure/exceptions', '2025-03-01', '2025-03-31', 'all', 'all', 'initial-population', '6'],
      ['https://eastside.example/fhir/Measure/exceptions', '2025-03-01', '2025-03-31', 'follow-up-kind', 'birth-without-booking', 'initial-population', '*'],
      ['https://eastside.example/fhir/Measure/exceptions', '2025-03-01', '2025-03-31', 'follow-up-kind', 'pregnancy-overdue', 'initial-population', '*'],
    ]);
  });

  const month = fc.constantFrom('2025-01', '2025-02', '2025-03');
  const district = fc.constantFrom('E1', 'E1W', 'E14', 'unknown');
  const kind = fc.constantFrom('missed-dose', 'overdue-dose', 'birth-without-booking', 'pregnancy-overdue');
  const procedure = fc.constantFrom('770618004', '720539004', '308081000000105', null);
  const reason = fc.constantFrom('201741000000102', '310376006', null);
  const followUpFacts = fc.array(
    fc.record({ month, district, kind, procedure, reason, d: fc.integer({ min: 0, max: 12 }), share: fc.integer({ min: 0, max: 100 }) }),
    { maxLength: 10 },
  ).map((rows) =>
    rows.map((r): FigureFact => {
      const { vaccine, reasonCategory } = followUpStrata(r.kind, r.procedure, r.reason);
      return { strata: { month: r.month, 'postcode-district': r.district, 'follow-up-kind': r.kind, vaccine, 'reason-category': reasonCategory }, counts: [r.d, Math.floor((r.d * r.share) / 100)] };
    }),
  );

  it('never shows a count from 1 to 4, nor an opened and a completed count whose difference is from 1 to 4', () => {
    fc.assert(
      fc.property(followUpFacts, (facts) => {
        const table = buildFigure('follow-ups', { start: '2025-01-01', end: '2025-03-31' }, facts);
        expect(table.stratifiers.map((s) => s.code)).toEqual(['month', 'postcode-district', 'follow-up-kind', 'vaccine', 'reason-category']);
        const cells = [table.overall, ...table.stratifiers.flatMap((s) => s.strata.map((st) => st.counts))];
        for (const [d, n] of cells) {
          for (const v of [d, n]) expect(v === null || v === 0 || (v ?? 0) > 4).toBe(true);
          if (d !== null && d !== undefined && n !== null && n !== undefined) expect(d - n === 0 || d - n > 4).toBe(true);
        }
        // Within a stratifier whose total is shown, never exactly one withheld stratum.
        for (const s of table.stratifiers) {
          for (const p of [0, 1]) {
            if (table.overall[p] === null) continue;
            expect(s.strata.filter((st) => st.counts[p] === null)).not.toHaveLength(1);
          }
        }
      }),
      { numRuns: 150 },
    );
  });
});
