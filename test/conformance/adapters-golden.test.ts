import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'vitest';
import { adaptCaf } from '../../src/adapters/caf.js';
import { adaptFhirMessage } from '../../src/adapters/fhir-message.js';
import { adaptHl7v2 } from '../../src/adapters/hl7v2-vxu.js';
import { adaptImmunisationCsv } from '../../src/adapters/immunisation-csv.js';
import { expectGolden } from '../support/golden.js';
import { haveSharedFixtures, partnerFixtures, sharedFixtures } from './shared-fixtures.js';

// Pins the FHIR the hub makes from each partner fixture (expected files are the repo's own, under test/golden/conformance).

function adapt(name: string, text: string): unknown {
  if (name.endsWith('.hl7')) return adaptHl7v2(text);
  if (name.endsWith('.csv')) return adaptImmunisationCsv(text);
  if (name.startsWith('la/')) return adaptCaf(JSON.parse(text));
  return adaptFhirMessage(JSON.parse(text));
}

describe.skipIf(!haveSharedFixtures)('conformance: golden FHIR for each partner fixture', () => {
  it.each(partnerFixtures)('%s', async (name) => {
    const text = await readFile(path.join(sharedFixtures, name), 'utf8');
    await expectGolden(`conformance/${name.replace(/\.[a-z0-9]+$/, '')}`, adapt(name, text));
  });
});
