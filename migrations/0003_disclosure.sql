CREATE TABLE "ig_alert" (
	"id" text PRIMARY KEY NOT NULL,
	"raised" timestamp with time zone NOT NULL,
	"kind" text NOT NULL,
	"audit_event_id" text NOT NULL,
	"client_id" text NOT NULL,
	"organisation_code" text NOT NULL,
	"patients" jsonb NOT NULL,
	"reason" text NOT NULL,
	"reviewed_at" timestamp with time zone,
	"reviewed_by" text
);
--> statement-breakpoint
ALTER TABLE "resource" ADD COLUMN "source_orgs" text[] DEFAULT '{}'::text[] NOT NULL;--> statement-breakpoint
CREATE INDEX "ig_alert_open_idx" ON "ig_alert" USING btree ("reviewed_at","raised");--> statement-breakpoint
-- Every organisation that stored a version of a resource, from its history.
UPDATE "resource" r SET "source_orgs" = (
	SELECT array_agg(DISTINCT h."source_org" ORDER BY h."source_org") FROM "resource_history" h WHERE h."type" = r."type" AND h."id" = r."id"
);--> statement-breakpoint
-- The baby a pregnancy episode ended with, indexed so a baby's facts find the episode (and the mother).
INSERT INTO "resource_reference" ("type", "id", "param", "target")
SELECT r."type", r."id", 'pregnancy-baby', substring(e->'valueReference'->>'reference' from '(Patient/[A-Za-z0-9\-.]+)')
FROM "resource" r, jsonb_array_elements(coalesce(r."content"->'extension', '[]'::jsonb)) e
WHERE r."type" = 'EpisodeOfCare'
	AND e->>'url' = 'https://eastside.example/fhir/StructureDefinition/pregnancy-baby'
	AND substring(e->'valueReference'->>'reference' from '(Patient/[A-Za-z0-9\-.]+)') IS NOT NULL;
--> statement-breakpoint
-- Every postcode district in a Patient's addresses, so a catchment search reads only the districts it serves.
INSERT INTO "resource_token" ("type", "id", "param", "system", "value")
SELECT DISTINCT r."type", r."id", 'address-district', '', left(x.pc, length(x.pc) - 3)
FROM "resource" r, jsonb_array_elements(coalesce(r."content"->'address', '[]'::jsonb)) a,
	LATERAL (SELECT upper(regexp_replace(a->>'postalCode', '\s', '', 'g')) AS pc) x
WHERE r."type" = 'Patient' AND x.pc ~ '^[A-Z]{1,2}[0-9][A-Z0-9]?[0-9][A-Z]{2}$';
