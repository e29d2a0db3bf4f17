import type { Patient } from 'fhir/r4.js';
import { index, integer, jsonb, pgTable, primaryKey, text, timestamp } from 'drizzle-orm/pg-core';

/**
 * What each organisation has said about a shared Patient (one per NHS number):
 * the stored Patient is composed from these by the protocol's `demographics`
 * precedence (src/fhir/patient-sources.ts), so no source overwrites another's word.
 */
export const patientSources = pgTable(
  'patient_source',
  {
    patientId: text('patient_id').notNull(),
    organisation: text('organisation').notNull(),
    /** The organisation's type when it spoke: the precedence is by type. */
    organisationType: text('organisation_type').notNull(),
    /** Its statement: the elements, identifiers and labels (meta.security) it sent. */
    content: jsonb('content').$type<Patient>().notNull(),
    /** Order of speaking about this Patient: when the organisation first spoke, and last. */
    firstSaid: integer('first_said').notNull(),
    lastSaid: integer('last_said').notNull(),
    receivedAt: timestamp('received_at', { withTimezone: true, mode: 'date' }).notNull(),
  },
  (t) => [primaryKey({ columns: [t.patientId, t.organisation] }), index('patient_source_organisation_idx').on(t.organisation)],
);
