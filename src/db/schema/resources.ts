import { sql } from 'drizzle-orm';
import type { Undisclosed } from '../undisclosed.js';
import { index, integer, jsonb, pgTable, primaryKey, text, timestamp } from 'drizzle-orm/pg-core';

const lastUpdated = () => timestamp('last_updated', { withTimezone: true, mode: 'date' }).notNull();

/** The current version of every FHIR resource. See: https://hl7.org/fhir/R4/http.html#read */
export const resources = pgTable(
  'resource',
  {
    type: text('type').notNull(),
    id: text('id').notNull(),
    versionId: integer('version_id').notNull(),
    lastUpdated: lastUpdated(),
    /** Organisation whose client stored this version (it may read back what it wrote). */
    sourceOrg: text('source_org').notNull(),
    /** Every organisation that has stored a version: a protocol flow's `from` is judged on their types. */
    sourceOrgs: text('source_orgs').array().notNull().default(sql`'{}'::text[]`),
    content: jsonb('content').$type<Undisclosed>().notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.type, t.id] }),
    index('resource_type_updated_idx').on(t.type, t.lastUpdated, t.id),
    // A Patient search's "what the requester wrote itself" branch, in keyset order (patient-search-queries.ts).
    index('resource_patient_source_idx').on(t.sourceOrg, t.lastUpdated, t.id).where(sql`${t.type} = 'Patient'`),
  ],
);

/** Every version ever stored, the current one included. See: https://hl7.org/fhir/R4/http.html#vread */
export const resourceHistory = pgTable(
  'resource_history',
  {
    type: text('type').notNull(),
    id: text('id').notNull(),
    versionId: integer('version_id').notNull(),
    lastUpdated: lastUpdated(),
    sourceOrg: text('source_org').notNull(),
    content: jsonb('content').$type<Undisclosed>().notNull(),
  },
  (t) => [primaryKey({ columns: [t.type, t.id, t.versionId] })],
);

/** token search values of the current version (identifier). */
export const resourceTokens = pgTable(
  'resource_token',
  {
    type: text('type').notNull(),
    id: text('id').notNull(),
    param: text('param').notNull(),
    system: text('system').notNull(),
    value: text('value').notNull(),
  },
  (t) => [
    index('resource_token_lookup_idx').on(t.type, t.param, t.value, t.system),
    index('resource_token_owner_idx').on(t.type, t.id),
  ],
);

/** reference search values of the current version (patient, subject), as "Type/id". */
export const resourceReferences = pgTable(
  'resource_reference',
  {
    type: text('type').notNull(),
    id: text('id').notNull(),
    param: text('param').notNull(),
    target: text('target').notNull(),
  },
  (t) => [
    // By what they point at, the owner's (type, param) and id included: a page's subjects' references from the index alone.
    index('resource_reference_target_idx').on(t.target, t.type, t.param, t.id),
    index('resource_reference_owner_idx').on(t.type, t.id),
  ],
);
