import { boolean, index, pgTable, primaryKey, text, timestamp } from 'drizzle-orm/pg-core';
import { sql } from 'drizzle-orm';

// Facts about a Patient that the disclosure decision reads and a search can
// narrow by (subject-fact-queries.ts): kept in the same transaction as the
// writes that change them, so they are never older than the records. Not an
// answer: only which rows a search reads before deciding each.

/** One row per stored Patient. */
export const subjectFacts = pgTable(
  'subject_fact',
  {
    patientId: text('patient_id').primaryKey(),
    /** The Patient's resource.last_updated: a search's keyset order, read from here without the Patient. */
    lastUpdated: timestamp('last_updated', { withTimezone: true, mode: 'date' }).notNull(),
    /** The outward code of the current home postcode, as the decision reads it (decision/subject.ts). */
    district: text('district'),
    /** v3-Confidentiality R or V on the Patient (decision/subject.ts isRestricted). */
    restricted: boolean('restricted').notNull(),
    /** Some Consent that may permit (consent_fact) is about the Patient, or about the mother whose pregnancy episode names them as its baby. */
    consentOpen: boolean('consent_open').notNull(),
    /** The organisations that wrote a version of the Patient: its resource.source_orgs, which a flow's sources are tested against. */
    sourceOrgs: text('source_orgs').array().notNull().default(sql`'{}'::text[]`),
  },
  (t) => [
    index('subject_fact_district_idx').on(t.district, t.lastUpdated, t.patientId),
    index('subject_fact_consent_open_idx').on(t.district, t.lastUpdated, t.patientId).where(sql`${t.consentOpen}`),
  ],
);

/** Which Patient each current Consent is about (its indexed patient reference), and whether it may permit anything (active, with a permit provision). */
export const consentFacts = pgTable(
  'consent_fact',
  {
    consentId: text('consent_id').notNull(),
    patientRef: text('patient_ref').notNull(),
    mayPermit: boolean('may_permit').notNull(),
  },
  (t) => [primaryKey({ columns: [t.consentId, t.patientRef] }), index('consent_fact_patient_idx').on(t.patientRef)],
);

/** A pregnancy episode's baby and its mother: the mother's consents carry to the baby. */
export const carryFacts = pgTable(
  'carry_fact',
  {
    episodeId: text('episode_id').notNull(),
    babyRef: text('baby_ref').notNull(),
    /** EpisodeOfCare.patient.reference as stored (the disclosure facts look the mother's consents up by it). */
    motherRef: text('mother_ref').notNull(),
  },
  (t) => [primaryKey({ columns: [t.episodeId, t.babyRef] }), index('carry_fact_baby_idx').on(t.babyRef), index('carry_fact_mother_idx').on(t.motherRef)],
);
