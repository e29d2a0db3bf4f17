import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'vitest';
import { adaptCaf } from '../../src/adapters/caf.js';
import { adaptFhirMessage } from '../../src/adapters/fhir-message.js';
import { adaptHl7v2 } from '../../src/adapters/hl7v2-vxu.js';
import { adaptImmunisationCsv } from '../../src/adapters/immunisation-csv.js';
import { expectGolden } from '../support/golden.js';
import { haveSharedFixtures, sharedFixtures } from './shared-fixtures.js';

// Pins the FHIR the hub makes from each partner fixture (expected files are the repo's own, under test/golden/conformance).

const fixtures = [
  'maternity/booking-consent-given.json',
  'maternity/booking-consent-given-2.json',
  'maternity/booking-consent-refused.json',
  'maternity/birth-notification-nems-stu3.json',
  'maternity/birth-notification-stillbirth-nems-stu3.json',
  'gp/vxu-missed-6in1-dose3.hl7',
  'gp/vxu-catch-up-given-6in1-dose3.hl7',
  'gp/vxu-batch-y90002.hl7',
  'gp/missed-immunisations-y90001.csv',
  'la/caf-leo-ahmed.json',
  'la/caf-unborn-bennett.json',
  'la/caf-consent-not-given.json',
];

function adapt(name: string, text: string): unknown {
  if (name.endsWith('.hl7')) return adaptHl7v2(text);
  if (name.endsWith('.csv')) return adaptImmunisationCsv(text);
  if (name.startsWith('la/')) return adaptCaf(JSON.parse(text));
  return adaptFhirMessage(JSON.parse(text));
}

describe.skipIf(!haveSharedFixtures)('conformance: golden FHIR for each partner fixture', () => {
  it.each(fixtures)('%s', async (name) => {
    const text = await readFile(path.join(sharedFixtures, name), 'utf8');
    await expectGolden(`conformance/${name.replace(/\.[a-z0-9]+$/, '')}`, adapt(name, text));
  });
});
