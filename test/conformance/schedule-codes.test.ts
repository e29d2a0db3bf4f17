import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Immunization } from 'fhir/r4.js';
import { describe, expect, it } from 'vitest';
import { adaptHl7v2 } from '../../src/adapters/hl7v2-vxu.js';
import { adaptImmunisationCsv } from '../../src/adapters/immunisation-csv.js';
import type { AdapterResult, IngestUnit } from '../../src/adapters/ingest-unit.js';
import { doseRecordsFromImmunizations } from '../../src/followup/dose-records.js';
import { assessSchedule } from '../../src/followup/schedule.js';
import { readRoutineSchedule } from '../support/schedule.js';
import { haveSharedFixtures, sharedFixtures } from './shared-fixtures.js';

// The partners' GP feeds against the schedule: every vaccination procedure
// code they send is one the schedule counts, and the history the unit tests
// copy (test/fixtures/csv) is the partners' file.

const schedule = readRoutineSchedule();
const read = (file: string): string => readFileSync(path.join(sharedFixtures, file), 'utf8');

function immunizationsOf(results: readonly AdapterResult<IngestUnit>[]): Immunization[] {
  return results.flatMap((r) => {
    if (!r.ok) throw new Error(`refused: ${JSON.stringify(r.issues)}`);
    return r.value.entries.map((e) => e.resource).filter((x): x is Immunization => x.resourceType === 'Immunization');
  });
}

describe.skipIf(!haveSharedFixtures)('conformance: the GP feeds and the schedule', () => {
  it.each(['gp/immunisation-history-y90001.csv', 'gp/missed-immunisations-y90001.csv', 'gp/vxu-batch-y90002.hl7', 'gp/vxu-missed-6in1-dose3.hl7', 'gp/vxu-catch-up-given-6in1-dose3.hl7'])(
    '%s: every dose is one the schedule counts',
    (file) => {
      let results: AdapterResult<IngestUnit>[];
      if (file.endsWith('.csv')) {
        const adapted = adaptImmunisationCsv(read(file));
        if (!adapted.ok) throw new Error(`${file} refused`);
        results = adapted.value.rows.map((r) => r.result);
      } else {
        const adapted = adaptHl7v2(read(file));
        if (!adapted.ok) throw new Error(`${file} refused`);
        results = adapted.value.messages.map((m) => m.result);
      }
      const records = doseRecordsFromImmunizations(immunizationsOf(results));
      expect(records.length).toBeGreaterThan(0);
      // Dated after the birth and assessed far enough ahead that nothing lies after the day assessed.
      const a = assessSchedule(schedule, '2020-01-01', records, '2030-01-01');
      expect(a.ok && a.ignored.filter((i) => i.reason === 'unknown-code' || i.reason === 'no-date')).toEqual([]);
    },
  );

  it('the unit tests\' copy of the Y90001 history is the partners\' file', () => {
    const copy = readFileSync(path.resolve(import.meta.dirname, '../fixtures/csv/immunisation-history-y90001.csv'), 'utf8');
    expect(copy).toBe(read('gp/immunisation-history-y90001.csv'));
  });
});
