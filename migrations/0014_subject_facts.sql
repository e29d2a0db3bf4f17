CREATE TABLE "subject_fact" (
	"patient_id" text PRIMARY KEY NOT NULL,
	"last_updated" timestamp with time zone NOT NULL,
	"district" text,
	"restricted" boolean NOT NULL,
	"consent_open" boolean NOT NULL
);
--> statement-breakpoint
CREATE TABLE "consent_fact" (
	"consent_id" text NOT NULL,
	"patient_ref" text NOT NULL,
	"may_permit" boolean NOT NULL,
	CONSTRAINT "consent_fact_consent_id_patient_ref_pk" PRIMARY KEY("consent_id","patient_ref")
);
--> statement-breakpoint
CREATE TABLE "carry_fact" (
	"episode_id" text NOT NULL,
	"baby_ref" text NOT NULL,
	"mother_ref" text NOT NULL,
	CONSTRAINT "carry_fact_episode_id_baby_ref_pk" PRIMARY KEY("episode_id","baby_ref")
);
--> statement-breakpoint
CREATE INDEX "subject_fact_district_idx" ON "subject_fact" USING btree ("district","last_updated","patient_id");--> statement-breakpoint
CREATE INDEX "subject_fact_consent_open_idx" ON "subject_fact" USING btree ("district","last_updated","patient_id") WHERE "subject_fact"."consent_open";--> statement-breakpoint
CREATE INDEX "consent_fact_patient_idx" ON "consent_fact" USING btree ("patient_ref");--> statement-breakpoint
CREATE INDEX "carry_fact_baby_idx" ON "carry_fact" USING btree ("baby_ref");--> statement-breakpoint
CREATE INDEX "carry_fact_mother_idx" ON "carry_fact" USING btree ("mother_ref");--> statement-breakpoint
CREATE INDEX "resource_patient_source_idx" ON "resource" USING btree ("source_org","last_updated","id") WHERE "resource"."type" = 'Patient';--> statement-breakpoint
-- Records stored before this migration, as subject-facts.ts derives them on every later write.
-- A Consent may permit when it is active with a provision of type permit somewhere in its tree (search-narrowing.ts).
INSERT INTO "consent_fact" ("consent_id", "patient_ref", "may_permit")
SELECT DISTINCT x."id", x."target", COALESCE(r."content"->>'status' = 'active' AND jsonb_path_exists(r."content"->'provision', '$.** ? (@.type == "permit")'), false)
FROM "resource_reference" x JOIN "resource" r ON r."type" = x."type" AND r."id" = x."id"
WHERE x."type" = 'Consent' AND x."param" = 'patient';--> statement-breakpoint
INSERT INTO "carry_fact" ("episode_id", "baby_ref", "mother_ref")
SELECT DISTINCT x."id", x."target", r."content"->'patient'->>'reference'
FROM "resource_reference" x JOIN "resource" r ON r."type" = x."type" AND r."id" = x."id"
WHERE x."type" = 'EpisodeOfCare' AND x."param" = 'pregnancy-baby' AND jsonb_typeof(r."content"->'patient'->'reference') = 'string';--> statement-breakpoint
-- The home district as decision/subject.ts subjectDistrict reads it: current addresses (not "old", no period end), the home one first.
INSERT INTO "subject_fact" ("patient_id", "last_updated", "district", "restricted", "consent_open")
SELECT r."id", r."last_updated",
	(SELECT CASE
		WHEN pc ~ '^[A-Z]{1,2}[0-9][A-Z0-9]?[0-9][A-Z]{2}$' THEN left(pc, -3)
		WHEN pc ~ '^[A-Z]{1,2}[0-9][A-Z0-9]?$' THEN pc
	END FROM (
		SELECT upper(regexp_replace(a.value->>'postalCode', '\s+', '', 'g')) AS pc
		FROM jsonb_array_elements(CASE WHEN jsonb_typeof(r."content"->'address') = 'array' THEN r."content"->'address' ELSE '[]'::jsonb END) WITH ORDINALITY a(value, n)
		WHERE jsonb_typeof(a.value->'postalCode') = 'string' AND a.value->>'use' IS DISTINCT FROM 'old' AND NOT COALESCE(a.value->'period' ? 'end', false)
		ORDER BY (a.value->>'use' = 'home') DESC NULLS LAST, a.n LIMIT 1
	) home),
	EXISTS (SELECT 1 FROM jsonb_array_elements(CASE WHEN jsonb_typeof(r."content"->'meta'->'security') = 'array' THEN r."content"->'meta'->'security' ELSE '[]'::jsonb END) c
		WHERE c->>'system' = 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality' AND c->>'code' IN ('R', 'V')),
	EXISTS (SELECT 1 FROM "consent_fact" c WHERE c."patient_ref" = 'Patient/' || r."id" AND c."may_permit")
		OR EXISTS (SELECT 1 FROM "carry_fact" k JOIN "consent_fact" c ON c."patient_ref" = k."mother_ref" AND c."may_permit" WHERE k."baby_ref" = 'Patient/' || r."id")
FROM "resource" r WHERE r."type" = 'Patient';
