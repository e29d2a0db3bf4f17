-- rate-limiter-flexible's RateLimiterPostgres table (its own CREATE TABLE, made
-- here by the owner so the application role needs no CREATE privilege).
CREATE TABLE IF NOT EXISTS "rate_limits" (
	"key" varchar(255) PRIMARY KEY NOT NULL,
	"points" integer DEFAULT 0 NOT NULL,
	"expire" bigint
);
