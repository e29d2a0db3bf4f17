CREATE TABLE "organisation" (
	"code" text PRIMARY KEY NOT NULL,
	"system" text NOT NULL,
	"type" text NOT NULL,
	"name" text NOT NULL,
	"catchment" jsonb DEFAULT '[]'::jsonb NOT NULL
);
--> statement-breakpoint
CREATE TABLE "client" (
	"id" text PRIMARY KEY NOT NULL,
	"organisation_code" text NOT NULL,
	"scopes" jsonb NOT NULL,
	"purposes" jsonb NOT NULL,
	"jwks" jsonb NOT NULL,
	"active" boolean DEFAULT true NOT NULL
);
--> statement-breakpoint
CREATE TABLE "hub_key" (
	"kid" text PRIMARY KEY NOT NULL,
	"use" text NOT NULL,
	"alg" text NOT NULL,
	"private_jwk" jsonb NOT NULL,
	"public_jwk" jsonb NOT NULL,
	"created_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "used_assertion" (
	"client_id" text NOT NULL,
	"jti" text NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	CONSTRAINT "used_assertion_client_id_jti_pk" PRIMARY KEY("client_id","jti")
);
--> statement-breakpoint
CREATE TABLE "resource_history" (
	"type" text NOT NULL,
	"id" text NOT NULL,
	"version_id" integer NOT NULL,
	"last_updated" timestamp with time zone NOT NULL,
	"source_org" text NOT NULL,
	"content" jsonb NOT NULL,
	CONSTRAINT "resource_history_type_id_version_id_pk" PRIMARY KEY("type","id","version_id")
);
--> statement-breakpoint
CREATE TABLE "resource_reference" (
	"type" text NOT NULL,
	"id" text NOT NULL,
	"param" text NOT NULL,
	"target" text NOT NULL
);
--> statement-breakpoint
CREATE TABLE "resource_token" (
	"type" text NOT NULL,
	"id" text NOT NULL,
	"param" text NOT NULL,
	"system" text NOT NULL,
	"value" text NOT NULL
);
--> statement-breakpoint
CREATE TABLE "resource" (
	"type" text NOT NULL,
	"id" text NOT NULL,
	"version_id" integer NOT NULL,
	"last_updated" timestamp with time zone NOT NULL,
	"source_org" text NOT NULL,
	"content" jsonb NOT NULL,
	CONSTRAINT "resource_type_id_pk" PRIMARY KEY("type","id")
);
--> statement-breakpoint
CREATE TABLE "audit_event" (
	"seq" bigserial PRIMARY KEY NOT NULL,
	"event_id" text NOT NULL,
	"recorded" timestamp with time zone NOT NULL,
	"event" jsonb NOT NULL,
	"leaf_hash" char(64) NOT NULL,
	CONSTRAINT "audit_event_event_id_unique" UNIQUE("event_id")
);
--> statement-breakpoint
CREATE TABLE "audit_log" (
	"idx" bigint PRIMARY KEY NOT NULL,
	"event_seq" bigint NOT NULL,
	"leaf_hash" char(64) NOT NULL,
	"prev_hash" char(64) NOT NULL,
	"chain_hash" char(64) NOT NULL,
	"sequenced_at" timestamp with time zone NOT NULL,
	CONSTRAINT "audit_log_event_seq_unique" UNIQUE("event_seq")
);
--> statement-breakpoint
CREATE TABLE "audit_queue" (
	"seq" bigint PRIMARY KEY NOT NULL
);
--> statement-breakpoint
ALTER TABLE "client" ADD CONSTRAINT "client_organisation_code_organisation_code_fk" FOREIGN KEY ("organisation_code") REFERENCES "public"."organisation"("code") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "audit_log" ADD CONSTRAINT "audit_log_event_seq_audit_event_seq_fk" FOREIGN KEY ("event_seq") REFERENCES "public"."audit_event"("seq") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "used_assertion_expires_idx" ON "used_assertion" USING btree ("expires_at");--> statement-breakpoint
CREATE INDEX "resource_reference_lookup_idx" ON "resource_reference" USING btree ("type","param","target");--> statement-breakpoint
CREATE INDEX "resource_reference_owner_idx" ON "resource_reference" USING btree ("type","id");--> statement-breakpoint
CREATE INDEX "resource_token_lookup_idx" ON "resource_token" USING btree ("type","param","value","system");--> statement-breakpoint
CREATE INDEX "resource_token_owner_idx" ON "resource_token" USING btree ("type","id");--> statement-breakpoint
CREATE INDEX "resource_type_updated_idx" ON "resource" USING btree ("type","last_updated","id");