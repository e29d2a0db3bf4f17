-- Who may send HL7 v2 over MLLP (src/mllp/mllp-auth.ts): a client certificate's SHA-256
-- fingerprint (mutual TLS), or, the weaker option for sites without TLS, a source address.
-- Each credential names one client, so a connection is never ambiguous.
CREATE TABLE "mllp_sender" (
	"kind" text NOT NULL,
	"value" text NOT NULL,
	"client_id" text NOT NULL,
	CONSTRAINT "mllp_sender_kind_value_pk" PRIMARY KEY("kind","value"),
	CONSTRAINT "mllp_sender_kind_check" CHECK ("kind" IN ('certificate', 'address'))
);
--> statement-breakpoint
ALTER TABLE "mllp_sender" ADD CONSTRAINT "mllp_sender_client_id_client_id_fk" FOREIGN KEY ("client_id") REFERENCES "public"."client"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "mllp_sender_client_idx" ON "mllp_sender" USING btree ("client_id");
