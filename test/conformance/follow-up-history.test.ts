import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { ImmunizationRecommendation, List, Patient, Task } from 'fhir/r4.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storedResources } from '../support/audit.js';
import { storyClock } from '../support/story.js';
import { startTestHub, type TestHub } from '../support/test-hub.js';
import { haveSharedFixtures, sharedFixtures } from './shared-fixtures.js';

// Conformance, story step 10: Limehouse's complete history (../shared/fixtures/gp/immunisation-history-y90001.csv)
// sent with history=complete, and the follow-up job as of the story's today.

describe.skipIf(!haveSharedFixtures)('conformance: a practice\'s complete history and the overdue doses it shows', () => {
  let t: TestHub;
  beforeAll(async () => {
    t = await startTestHub({ clock: storyClock('2026-11-22T09:00:00Z') });
  });
  afterAll(async () => {
    await t.close();
  });

  it('records each child\'s history and finds the overdue doses of the story', async () => {
    const body = await readFile(path.join(sharedFixtures, 'gp/immunisation-history-y90001.csv'), 'utf8');
    const token = await t.token('limehouse-gp', 'direct-care');
    const res = await t.http.post('/ingest/immunisations-csv?history=complete').set('Authorization', `Bearer ${token}`).set('Content-Type', 'text/csv').send(body);
    expect(res.status).toBe(200);
    expect(await storedResources<List>(t.database.db, 'List')).toHaveLength(3);
    await t.hub.followUps.run('2026-11-22');

    const patients = await storedResources<Patient>(t.database.db, 'Patient');
    const tasks = await storedResources<Task>(t.database.db, 'Task');
    const recommendations = await storedResources<ImmunizationRecommendation>(t.database.db, 'ImmunizationRecommendation');
    const overdue = (nhs: string): string[] => {
      const child = `Patient/${patients.find((p) => p.identifier?.some((i) => i.value === nhs))?.id ?? ''}`;
      return tasks
        .filter((task) => task.for?.reference === child)
        .map((task) => recommendations.find((r) => `ImmunizationRecommendation/${r.id}` === task.focus?.reference)?.recommendation[0]?.vaccineCode?.[0]?.text ?? '?')
        .sort();
    };
    // Olivia Brown: the 16-week doses; Ella Green: the 18-month doses; Jacob Wilson: nothing until the pre-school boosters.
    expect(overdue('9992004118')).toEqual(['6-in-1 dose 3', 'PCV dose 1']);
    expect(overdue('9992006854')).toEqual(['6-in-1 dose 4', 'MMRV dose 2']);
    expect(overdue('9992005483')).toEqual([]);
    expect(tasks.every((task) => task.owner?.identifier?.value === 'R9H')).toBe(true);
  });
});
