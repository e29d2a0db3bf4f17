CREATE TABLE "patient_source" (
	"patient_id" text NOT NULL,
	"organisation" text NOT NULL,
	"organisation_type" text NOT NULL,
	"content" jsonb NOT NULL,
	"first_said" integer NOT NULL,
	"last_said" integer NOT NULL,
	"received_at" timestamp with time zone NOT NULL,
	CONSTRAINT "patient_source_patient_id_organisation_pk" PRIMARY KEY("patient_id","organisation")
);
--> statement-breakpoint
CREATE INDEX "patient_source_organisation_idx" ON "patient_source" USING btree ("organisation");--> statement-breakpoint
-- Patients stored before this migration: their current content is the statement of the organisation that last wrote them.
INSERT INTO "patient_source" ("patient_id", "organisation", "organisation_type", "content", "first_said", "last_said", "received_at")
SELECT r."id", r."source_org", COALESCE(o."type", 'unknown'), r."content" - 'id', 1, 1, r."last_updated"
FROM "resource" r LEFT JOIN "organisation" o ON o."code" = r."source_org"
WHERE r."type" = 'Patient';
