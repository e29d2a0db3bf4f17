-- The organisations that wrote a version of each Patient (resource.source_orgs), kept with its other subject
-- facts by subject-fact-queries.ts: a narrowed search then tests the flows' sources on subject_fact alone,
-- without reading every candidate Patient's row.
ALTER TABLE "subject_fact" ADD COLUMN "source_orgs" text[] DEFAULT '{}'::text[] NOT NULL;--> statement-breakpoint
UPDATE "subject_fact" f SET "source_orgs" = r."source_orgs" FROM "resource" r WHERE r."type" = 'Patient' AND r."id" = f."patient_id";
