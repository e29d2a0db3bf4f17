CREATE TABLE "audit_checkpoint" (
	"tree_size" bigint PRIMARY KEY NOT NULL,
	"root_hash" char(64) NOT NULL,
	"issued" timestamp with time zone NOT NULL,
	"note" text NOT NULL
);
--> statement-breakpoint
CREATE TABLE "ig_denial_window" (
	"client_id" text NOT NULL,
	"window_start" timestamp with time zone NOT NULL,
	"denials" integer NOT NULL,
	"alerted" boolean DEFAULT false NOT NULL,
	CONSTRAINT "ig_denial_window_client_id_window_start_pk" PRIMARY KEY("client_id","window_start")
);
--> statement-breakpoint
CREATE TABLE "ig_login_link" (
	"token_hash" text PRIMARY KEY NOT NULL,
	"user_label" text NOT NULL,
	"created" timestamp with time zone NOT NULL,
	"expires" timestamp with time zone NOT NULL,
	"used_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "ig_session" (
	"id_hash" text PRIMARY KEY NOT NULL,
	"user_label" text NOT NULL,
	"created" timestamp with time zone NOT NULL,
	"expires" timestamp with time zone NOT NULL
);
--> statement-breakpoint
ALTER TABLE "audit_log" ADD COLUMN "receipt" text;--> statement-breakpoint
ALTER TABLE "ig_alert" ADD COLUMN "review_note" text;--> statement-breakpoint
CREATE INDEX "audit_event_event_gin" ON "audit_event" USING gin ("event" jsonb_path_ops);--> statement-breakpoint
CREATE INDEX "audit_event_recorded_idx" ON "audit_event" USING btree ("recorded");--> statement-breakpoint
CREATE TRIGGER audit_checkpoint_no_change BEFORE UPDATE OR DELETE ON audit_checkpoint
  FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();--> statement-breakpoint
CREATE TRIGGER audit_checkpoint_no_truncate BEFORE TRUNCATE ON audit_checkpoint
  FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();--> statement-breakpoint
CREATE OR REPLACE FUNCTION ig_alert_review_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'UPDATE' THEN
    RAISE EXCEPTION 'ig_alert is append-only: % refused', TG_OP;
  END IF;
  IF OLD.reviewed_at IS NOT NULL
     OR (to_jsonb(NEW) - 'reviewed_at' - 'reviewed_by' - 'review_note') <> (to_jsonb(OLD) - 'reviewed_at' - 'reviewed_by' - 'review_note') THEN
    RAISE EXCEPTION 'ig_alert: only an open alert may be marked reviewed';
  END IF;
  RETURN NEW;
END;
$$;--> statement-breakpoint
CREATE TRIGGER ig_alert_review_only BEFORE UPDATE OR DELETE ON ig_alert
  FOR EACH ROW EXECUTE FUNCTION ig_alert_review_only();--> statement-breakpoint
CREATE TRIGGER ig_alert_no_truncate BEFORE TRUNCATE ON ig_alert
  FOR EACH STATEMENT EXECUTE FUNCTION ig_alert_review_only();
