import { and, eq, inArray } from 'drizzle-orm';
import type { PatientStatement } from '../fhir/patient-sources.js';
import { runStatement, type Db, type Statement, type Tx } from './database.js';
import { patientSources } from './schema/index.js';
import { sendWrite } from './sent-writes.js';
import { seal, type Undisclosed } from './undisclosed.js';

const READ_STATEMENTS: Statement = {
  name: 'patient_source_read',
  text: `select organisation, organisation_type, content, first_said, last_said from patient_source where patient_id = $1::text order by first_said, organisation`,
};

/** Every organisation's statement about one Patient, in the order they first spoke. */
export async function readStatements(db: Db | Tx, patientId: string): Promise<PatientStatement[]> {
  const rows = await runStatement<{ organisation: string; organisation_type: string; content: PatientStatement['content']; first_said: number; last_said: number }>(db, READ_STATEMENTS, [patientId]);
  return rows.map((r) => ({ organisation: r.organisation, organisationType: r.organisation_type, content: r.content, firstSaid: r.first_said, lastSaid: r.last_said }));
}

const WRITE_STATEMENT: Statement = {
  name: 'patient_source_write',
  text: `insert into patient_source (patient_id, organisation, organisation_type, content, first_said, last_said, received_at)
    values ($1::text, $2::text, $3::text, $4::jsonb, $5::int, $6::int, $7::timestamptz)
    on conflict (patient_id, organisation) do update set organisation_type = excluded.organisation_type, content = excluded.content,
      last_said = excluded.last_said, received_at = excluded.received_at`,
};

/** Stores one organisation's statement (its only row for the Patient: a new statement replaces its old one). */
export async function writeStatement(tx: Tx, patientId: string, statement: PatientStatement, receivedAt: Date): Promise<void> {
  // Sent without waiting for its answer (sent-writes.ts): the transaction waits for it before COMMIT.
  await sendWrite(tx, {
    statement: WRITE_STATEMENT,
    values: [patientId, statement.organisation, statement.organisationType, JSON.stringify(statement.content), statement.firstSaid, statement.lastSaid, receivedAt.toISOString()],
  });
}

/** One organisation's statement about a Patient, as stored: it leaves the hub only through the disclosure decision. */
export interface OwnStatement {
  content: Undisclosed;
  /** When the organisation last said it. */
  saidAt: Date;
}

/** What `organisation` has said about each of these Patients (by Patient id; absent where it has said nothing). */
export async function readOwnStatements(db: Db | Tx, patientIds: readonly string[], organisation: string): Promise<Map<string, OwnStatement>> {
  if (patientIds.length === 0) return new Map();
  const rows = await db
    .select({ patientId: patientSources.patientId, content: patientSources.content, receivedAt: patientSources.receivedAt })
    .from(patientSources)
    .where(and(inArray(patientSources.patientId, [...new Set(patientIds)]), eq(patientSources.organisation, organisation)));
  return new Map(rows.map((r) => [r.patientId, { content: seal(r.content), saidAt: r.receivedAt }]));
}
