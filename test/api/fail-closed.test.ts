import { Writable } from 'node:stream';
import { sql } from 'drizzle-orm';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countRows } from '../support/audit.js';
import { nhsNumber, patient } from '../support/resources.js';
import { withSuperuser } from '../support/tamper.js';
import { startTestHub, type TestHub } from '../support/test-hub.js';

let t: TestHub;
const logLines: string[] = [];

beforeAll(async () => {
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      logLines.push(chunk.toString('utf8'));
      done();
    },
  });
  t = await startTestHub({ logger: pino({ level: 'debug' }, sink) });
});
afterAll(async () => {
  await t.close();
});

describe('logs', () => {
  it('carry request ids and routes but no personal data from queries or bodies', async () => {
    const token = await t.token('test-a', 'direct-care');
    const nhs = nhsNumber(4242);
    await t.http.post('/fhir/Patient').set('Authorization', `Bearer ${token}`).type('application/fhir+json')
      .send(JSON.stringify(patient(4242, { name: [{ family: 'Uniquefamilyname' }] })));
    await t.http.get('/fhir/Patient').query({ identifier: `https://fhir.nhs.uk/Id/nhs-number|${nhs}` }).set('Authorization', `Bearer ${token}`);
    await t.http.post('/fhir/Patient').set('Authorization', `Bearer ${token}`).type('application/fhir+json').send(`{"name":"Uniquefamilyname","x":${nhs}`);
    const all = logLines.join('');
    expect(all).toContain('/fhir/Patient');
    expect(all).not.toContain(nhs);
    expect(all).not.toContain('Uniquefamilyname');
    expect(all).not.toContain(token);
  });
});

describe('when the audit row cannot be written, the request fails and nothing is stored', () => {
  it('answers a generic 500 OperationOutcome with no stack and no SQL, and rolls the data back', async () => {
    const token = await t.token('test-a', 'direct-care');
    const before = await countRows(t.database.db, 'resource');
    // Break the audit write path (the queue table the audit insert also writes to), as the table's owner could.
    await withSuperuser(t.database, (db) => db.execute(sql`alter table audit_queue rename to audit_queue_broken`));
    try {
      const res = await t.http.post('/fhir/Patient').set('Authorization', `Bearer ${token}`).type('application/fhir+json').send(JSON.stringify(patient(4243)));
      expect(res.status).toBe(500);
      expect(res.body).toEqual({
        resourceType: 'OperationOutcome',
        issue: [{ severity: 'error', code: 'exception', diagnostics: 'the server could not complete the request' }],
      });
      expect(res.text).not.toMatch(/audit_queue|insert|at .*\.ts/i);
      expect(await countRows(t.database.db, 'resource')).toBe(before);

      const unauthenticated = await t.http.get('/fhir/Patient');
      expect(unauthenticated.status).toBe(500);
      const read = await t.http.get('/fhir/Patient').set('Authorization', `Bearer ${token}`);
      expect(read.status).toBe(500);
    } finally {
      await withSuperuser(t.database, (db) => db.execute(sql`alter table audit_queue_broken rename to audit_queue`));
    }
    const after = await t.http.get('/fhir/Patient').set('Authorization', `Bearer ${token}`);
    expect(after.status).toBe(200);
  });
});
