import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingestFormats, UniqueValues, type FormatName } from '../../bench/support/ingest-formats.js';
import { syntheticChild } from '../../bench/support/synthetic.js';
import { recordStatements } from '../support/statement-log.js';
import { startTestHub, type TestHub } from '../support/test-hub.js';

// Round trips to the database per write, counted at the driver: what a new
// message of each format the ingest benchmark sends, and a create Patient,
// cost in statements (each one round trip). The budgets are what the write
// paths take now; a change that adds statements to them shows here first.
// PGlite only: on PostgreSQL the pool's background workers share the count.

/**
 * Statements per message (CSV: per row), without the request's BEGIN and COMMIT.
 * A booking or a CAF also keeps the subject facts a search narrows by (one
 * statement per Patient, two or three per Consent or pregnancy episode:
 * subject-fact-queries.ts); the request's AuditEvents are one statement.
 */
const BUDGET: Readonly<Record<FormatName, number>> = { 'fhir-message': 13, hl7v2: 9, csv: 11, caf: 14 };
const CREATE_PATIENT_BUDGET = 5;
/** Background work of the hub (the audit sequencer, subscription leases), not the request's. */
const BACKGROUND = /audit_queue|audit_log|audit_tile|audit_checkpoint|eyhub:audit-sequencer|set lease_owner/;

let t: TestHub;
beforeAll(async () => {
  t = await startTestHub();
});
afterAll(async () => {
  await t.close();
});

describe.skipIf(process.env['DATABASE_URL'] !== undefined)('statements per write (PGlite)', () => {
  it('a new message of each benchmark format stays within its budget', async () => {
    for (const format of await ingestFormats(new UniqueValues(0))) {
      const token = await t.token(format.clientId === 'bench-csv-gp' ? 'test-gp' : format.clientId, format.purpose);
      const log = recordStatements(t.database);
      const res = await t.http.post(format.path).set('Authorization', `Bearer ${token}`).set('Content-Type', format.contentType).send(format.next());
      log.stop();
      expect(res.status).toBe(200);
      const statements = log.statements().filter((s) => !BACKGROUND.test(s));
      expect(statements.length / format.unitsPerRequest, `${format.name}:\n${statements.join('\n')}`).toBeLessThanOrEqual(BUDGET[format.name]);
    }
  });

  it('a create Patient stays within its budget', async () => {
    const token = await t.token('test-a', 'direct-care');
    const log = recordStatements(t.database);
    const res = await t.http
      .post('/fhir/Patient')
      .set('Authorization', `Bearer ${token}`)
      .set('Content-Type', 'application/fhir+json')
      .send(JSON.stringify(syntheticChild(1, new UniqueValues(1000).nhsNumber(), () => 0.5, new Date())));
    log.stop();
    expect(res.status).toBe(201);
    const statements = log.statements().filter((s) => !BACKGROUND.test(s));
    expect(statements.length, statements.join('\n')).toBeLessThanOrEqual(CREATE_PATIENT_BUDGET);
  });
});
