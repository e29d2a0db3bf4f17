CREATE TABLE "message_receipt" (
	"message_key" text PRIMARY KEY NOT NULL,
	"event" text NOT NULL,
	"client_id" text NOT NULL,
	"received_at" timestamp with time zone NOT NULL,
	"outcome" jsonb
);
