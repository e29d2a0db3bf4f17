-- FHIR topic-based subscriptions (R4 Subscriptions Backport IG): the endpoints
-- each organisation may be notified at, the partners' Subscriptions, and the
-- outbox of notification events, written in the transaction of the change.
CREATE TABLE IF NOT EXISTS "subscription_endpoint" (
	"organisation_code" text NOT NULL REFERENCES "organisation"("code"),
	"prefix" text NOT NULL,
	CONSTRAINT "subscription_endpoint_pk" PRIMARY KEY ("organisation_code", "prefix")
);
--> statement-breakpoint
CREATE TABLE IF NOT EXISTS "subscription" (
	"id" text PRIMARY KEY NOT NULL,
	"organisation_code" text NOT NULL REFERENCES "organisation"("code"),
	"client_id" text NOT NULL,
	"purpose" text NOT NULL,
	"topic" text NOT NULL,
	"status" text NOT NULL,
	"endpoint" text NOT NULL,
	"content" text NOT NULL,
	"heartbeat_seconds" integer,
	"resource" jsonb NOT NULL,
	"events_since_start" bigint DEFAULT 0 NOT NULL,
	"failures" integer DEFAULT 0 NOT NULL,
	"last_error" text,
	"created_at" timestamp with time zone NOT NULL,
	"next_attempt_at" timestamp with time zone NOT NULL,
	"last_sent_at" timestamp with time zone,
	"lease_owner" text,
	"lease_until" timestamp with time zone
);
--> statement-breakpoint
CREATE INDEX IF NOT EXISTS "subscription_topic_idx" ON "subscription" ("topic", "status");
--> statement-breakpoint
CREATE TABLE IF NOT EXISTS "subscription_event" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"subscription_id" text NOT NULL REFERENCES "subscription"("id"),
	"focus" text NOT NULL,
	"focus_version" integer NOT NULL,
	"once_key" text,
	"recorded_at" timestamp with time zone NOT NULL,
	"state" text DEFAULT 'pending' NOT NULL,
	"event_number" bigint,
	"attempts" integer DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX IF NOT EXISTS "subscription_event_once_idx" ON "subscription_event" ("subscription_id", "once_key");
--> statement-breakpoint
CREATE UNIQUE INDEX IF NOT EXISTS "subscription_event_number_idx" ON "subscription_event" ("subscription_id", "event_number");
--> statement-breakpoint
CREATE INDEX IF NOT EXISTS "subscription_event_pending_idx" ON "subscription_event" ("subscription_id", "state", "id");
