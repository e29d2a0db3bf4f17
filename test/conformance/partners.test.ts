import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { z } from 'zod';
import { demoClients, demoOrganisations } from '../../src/demo/world.js';
import { haveSharedFixtures, sharedFixtures } from './shared-fixtures.js';

const partnersFile = z.object({
  organisations: z.array(z.object({ code: z.string(), system: z.string(), type: z.string(), name: z.string(), catchment: z.array(z.string()).optional() })),
  clients: z.array(z.object({ id: z.string(), organisation: z.string(), scopes: z.array(z.string()), purposes: z.array(z.string()) })),
});

describe.skipIf(!haveSharedFixtures)('conformance: the demo world matches fixtures/partners.yaml', () => {
  it('has the same organisations, client ids, scopes and purposes', async () => {
    const partners = partnersFile.parse(parse(await readFile(path.join(sharedFixtures, 'partners.yaml'), 'utf8')));
    expect(demoOrganisations.map((o) => ({ ...o, catchment: [...o.catchment] }))).toEqual(
      partners.organisations.map((o) => ({ ...o, catchment: o.catchment ?? [] })),
    );
    expect(demoClients.map((c) => ({ ...c, scopes: [...c.scopes], purposes: [...c.purposes] }))).toEqual(partners.clients);
  });
});
