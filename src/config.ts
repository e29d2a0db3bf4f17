import { z } from 'zod';
import { parseTrustedProxies } from './http/trusted-proxies.js';

// The one place that reads process.env. Everything else receives a Config.

/** Where the demo's plain MLLP listener is (2575: the port IANA registers for HL7). */
export const DEMO_MLLP_PORT = 2575;

const booleanFlag = z
  .enum(['true', 'false', '1', '0', 'yes', 'no', 'on', 'off', ''])
  .transform((v) => v === 'true' || v === '1' || v === 'yes' || v === 'on');

export const configSchema = z
  .object({
    PORT: z.coerce.number().int().min(0).max(65535).default(8080),
    HOST: z.string().min(1).default('0.0.0.0'),
    DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/ }).optional(),
    // The owner role's URL (README "Two database roles"): migrations run as it; DATABASE_URL is then the application role.
    MIGRATION_DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/ }).optional(),
    DATA_DIR: z.string().min(1).default('./data'),
    // Signed information-sharing protocols (policies/README.md). With DEMO the
    // hub signs a copy in DATA_DIR/policies instead.
    POLICIES_DIR: z.string().min(1).default('policies'),
    // Immunisation schedules as reviewed data (policies/schedules/README.md): a folder of their own, never read as protocols.
    SCHEDULES_DIR: z.string().min(1).default('policies/schedules'),
    DEMO: booleanFlag.default(false),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    PUBLIC_BASE_URL: z.url({ protocol: /^https?$/ }).optional(),
    BODY_LIMIT: z.string().regex(/^\d+(kb|mb)$/i).default('1mb'),
    AUDIT_SEQUENCE_INTERVAL_MS: z.coerce.number().int().min(10).max(60_000).default(500),
    // This many records denied to one client within one fixed window raise an alert for the IG lead.
    // The Ed25519 key signing the audit log's checkpoints and receipts: a file, never the database.
    AUDIT_LOG_KEY_FILE: z.string().min(1).optional(),
    // The access-token signing keys, one file each (<kid>.jwk): never the database. Share it between instances.
    SIGNING_KEYS_DIR: z.string().min(1).optional(),
    // The name of a log created from now on, in its checkpoints (a schema-less URL; default <host of PUBLIC_BASE_URL>/audit-log).
    // Kept with the log key when the key is made; changing it later renames nothing.
    AUDIT_LOG_ORIGIN: z.string().regex(/^[^\s+]{1,200}$/).optional(),
    CHECKPOINT_EVERY_ENTRIES: z.coerce.number().int().min(1).max(10_000_000).default(1000),
    CHECKPOINT_EVERY_MINUTES: z.coerce.number().min(0.01).max(1440).default(5),
    DENIAL_BURST_THRESHOLD: z.coerce.number().int().min(1).max(1_000_000).default(20),
    DENIAL_BURST_WINDOW_MINUTES: z.coerce.number().int().min(1).max(1440).default(10),
    // Request bounds (README "Request limits and rate limits").
    // PostgreSQL only: the longest one statement may run (statement_timeout); 0 turns it off.
    // Below the 30 s request timeout, so the caller gets a 503 it can retry rather than a dropped connection.
    DB_STATEMENT_TIMEOUT_MS: z.coerce.number().int().min(0).max(3_600_000).default(20_000),
    // PostgreSQL only: connections in the pool, and how long a request waits for one before a 503.
    DB_POOL_SIZE: z.coerce.number().int().min(1).max(1000).default(10),
    DB_CONNECTION_TIMEOUT_MS: z.coerce.number().int().min(1).max(600_000).default(5_000),
    // PostgreSQL only: the longest wait for a row or table lock (lock_timeout, a 503 after it), and how long a
    // transaction may sit idle before the server ends it (idle_in_transaction_session_timeout). 0 turns either off.
    DB_LOCK_TIMEOUT_MS: z.coerce.number().int().min(0).max(3_600_000).default(5_000),
    DB_IDLE_IN_TRANSACTION_TIMEOUT_MS: z.coerce.number().int().min(0).max(3_600_000).default(30_000),
    // PostgreSQL only: how long start-up waits, with backoff, for a database that is not reachable yet.
    DB_STARTUP_WAIT_MS: z.coerce.number().int().min(0).max(3_600_000).default(60_000),
    // Requests one instance serves at once; beyond it a 503 with Retry-After (README "Faults and shutdown").
    HTTP_MAX_IN_FLIGHT: z.coerce.number().int().min(1).max(100_000).default(256),
    // After SIGTERM: how long in-flight requests, open keep-alive connections and the audit flush may take before exit.
    SHUTDOWN_DEADLINE_MS: z.coerce.number().int().min(100).max(600_000).default(8_000),
    // /readyz says not ready while the oldest committed audit event waits longer than this for its place in the log.
    READY_MAX_SEQUENCER_LAG_MS: z.coerce.number().int().min(100).max(3_600_000).default(30_000),
    // Node's default keep-alive (5 s) is shorter than load balancers' idle timeouts (60 s on AWS ALB,
    // GCP, nginx's 75 s upstream keepalive): the hub would close sockets the balancer still reuses (502s).
    HTTP_KEEP_ALIVE_TIMEOUT_MS: z.coerce.number().int().min(1000).max(600_000).default(65_000),
    // Must exceed the keep-alive timeout (Node's rule) so an idle socket is not cut mid-request.
    HTTP_HEADERS_TIMEOUT_MS: z.coerce.number().int().min(1000).max(600_000).default(66_000),
    // Rate limits: requests per window; see src/http/rate-limit.ts.
    RATE_LIMIT_TOKEN_PER_CLIENT: z.coerce.number().int().min(1).default(60),
    RATE_LIMIT_TOKEN_PER_ADDRESS: z.coerce.number().int().min(1).default(120),
    RATE_LIMIT_TOKEN_WINDOW_SECONDS: z.coerce.number().int().min(1).max(86_400).default(60),
    RATE_LIMIT_API_PER_CLIENT: z.coerce.number().int().min(1).default(6000),
    RATE_LIMIT_API_PER_ADDRESS: z.coerce.number().int().min(1).default(600),
    RATE_LIMIT_API_WINDOW_SECONDS: z.coerce.number().int().min(1).max(86_400).default(60),
    // The follow-up job (README "Follow-up work"): how often it runs (0: never; `hub followups run` still does),
    // and how many days a Task may stay unaccepted before it is escalated to the health visitors.
    FOLLOWUP_JOB_INTERVAL_MINUTES: z.coerce.number().int().min(0).max(10_080).default(1440),
    ESCALATE_AFTER_DAYS: z.coerce.number().int().min(1).max(365).default(14),
    // HL7 v2 over MLLP (README "HL7 v2 over MLLP"): plain TCP for senders on an address allow-list (the weaker
    // option; on in demo mode at 2575, the IANA port for HL7), and mutual TLS for senders by client certificate.
    MLLP_PORT: z.coerce.number().int().min(0).max(65535).optional(),
    MLLP_TLS_PORT: z.coerce.number().int().min(0).max(65535).optional(),
    MLLP_HOST: z.string().min(1).optional(),
    MLLP_TLS_CERT_FILE: z.string().min(1).optional(),
    MLLP_TLS_KEY_FILE: z.string().min(1).optional(),
    MLLP_TLS_CA_FILE: z.string().min(1).optional(),
    MLLP_MAX_MESSAGE_BYTES: z.coerce.number().int().min(1024).max(100 * 1024 * 1024).default(10 * 1024 * 1024),
    MLLP_IDLE_TIMEOUT_SECONDS: z.coerce.number().min(0.01).max(86_400).default(600),
    MLLP_MAX_CONNECTIONS: z.coerce.number().int().min(1).max(10_000).default(50),
    // Subscription notifications (README "Subscriptions"): how often each instance looks for due work (a commit
    // also wakes it), the first retry's delay (doubling to the maximum), failures in a row before a Subscription
    // goes to error, the longest wait for an endpoint, and events in one notification at most.
    SUBSCRIPTION_POLL_MS: z.coerce.number().int().min(10).max(600_000).default(1000),
    SUBSCRIPTION_RETRY_BASE_MS: z.coerce.number().int().min(10).max(3_600_000).default(2000),
    SUBSCRIPTION_RETRY_MAX_MS: z.coerce.number().int().min(10).max(86_400_000).default(300_000),
    SUBSCRIPTION_MAX_FAILURES: z.coerce.number().int().min(1).max(1000).default(5),
    SUBSCRIPTION_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(10_000),
    SUBSCRIPTION_MAX_COUNT: z.coerce.number().int().min(1).max(100).default(20),
    // The load balancers in front of the hub, whose X-Forwarded-For is believed: addresses or CIDRs, comma-separated
    // (Express `trust proxy`). Unset: none, and the client address is the peer's. See src/http/trusted-proxies.ts.
    TRUST_PROXY: z
      .string()
      .optional()
      .transform((v, ctx) => {
        const parsed = parseTrustedProxies(v ?? '');
        if (!parsed.ok) ctx.addIssue({ code: 'custom', message: parsed.message });
        return parsed.ok ? parsed.proxies : [];
      }),
  })
  .transform((env) => ({
    port: env.PORT,
    host: env.HOST,
    databaseUrl: env.DATABASE_URL,
    migrationDatabaseUrl: env.MIGRATION_DATABASE_URL,
    dataDir: env.DATA_DIR,
    policiesDir: env.POLICIES_DIR,
    schedulesDir: env.SCHEDULES_DIR,
    demo: env.DEMO,
    logLevel: env.LOG_LEVEL,
    // The URL clients use to reach the hub; the token audience is derived from it.
    publicBaseUrl: (env.PUBLIC_BASE_URL ?? `http://localhost:${env.PORT}`).replace(/\/+$/, ''),
    bodyLimit: env.BODY_LIMIT,
    auditSequenceIntervalMs: env.AUDIT_SEQUENCE_INTERVAL_MS,
    auditLogKeyFile: env.AUDIT_LOG_KEY_FILE ?? `${env.DATA_DIR.replace(/\/+$/, '')}/keys/audit-log-ed25519.jwk`,
    auditLogOrigin: env.AUDIT_LOG_ORIGIN,
    signingKeysDir: env.SIGNING_KEYS_DIR ?? `${env.DATA_DIR.replace(/\/+$/, '')}/keys/access-token`,
    checkpoints: { everyEntries: env.CHECKPOINT_EVERY_ENTRIES, everyMs: Math.round(env.CHECKPOINT_EVERY_MINUTES * 60_000) },
    denialBurst: { threshold: env.DENIAL_BURST_THRESHOLD, windowMs: env.DENIAL_BURST_WINDOW_MINUTES * 60_000 },
    database: {
      statementTimeoutMs: env.DB_STATEMENT_TIMEOUT_MS,
      poolSize: env.DB_POOL_SIZE,
      connectionTimeoutMs: env.DB_CONNECTION_TIMEOUT_MS,
      lockTimeoutMs: env.DB_LOCK_TIMEOUT_MS,
      idleInTransactionTimeoutMs: env.DB_IDLE_IN_TRANSACTION_TIMEOUT_MS,
      startupWaitMs: env.DB_STARTUP_WAIT_MS,
    },
    http: { keepAliveTimeoutMs: env.HTTP_KEEP_ALIVE_TIMEOUT_MS, headersTimeoutMs: Math.max(env.HTTP_HEADERS_TIMEOUT_MS, env.HTTP_KEEP_ALIVE_TIMEOUT_MS + 1000) },
    maxInFlight: env.HTTP_MAX_IN_FLIGHT,
    shutdownDeadlineMs: env.SHUTDOWN_DEADLINE_MS,
    readyMaxSequencerLagMs: env.READY_MAX_SEQUENCER_LAG_MS,
    followUps: { intervalMinutes: env.FOLLOWUP_JOB_INTERVAL_MINUTES, escalateAfterDays: env.ESCALATE_AFTER_DAYS },
    trustProxy: env.TRUST_PROXY,
    mllp: {
      host: env.MLLP_HOST ?? env.HOST,
      port: env.MLLP_PORT ?? (env.DEMO ? DEMO_MLLP_PORT : undefined),
      tls:
        env.MLLP_TLS_PORT === undefined
          ? undefined
          : { port: env.MLLP_TLS_PORT, certFile: env.MLLP_TLS_CERT_FILE ?? '', keyFile: env.MLLP_TLS_KEY_FILE ?? '', caFile: env.MLLP_TLS_CA_FILE ?? '' },
      limits: { maxMessageBytes: env.MLLP_MAX_MESSAGE_BYTES, idleTimeoutMs: Math.round(env.MLLP_IDLE_TIMEOUT_SECONDS * 1000), maxConnections: env.MLLP_MAX_CONNECTIONS },
    },
    subscriptions: {
      pollMs: env.SUBSCRIPTION_POLL_MS,
      retryBaseMs: env.SUBSCRIPTION_RETRY_BASE_MS,
      retryMaxMs: Math.max(env.SUBSCRIPTION_RETRY_MAX_MS, env.SUBSCRIPTION_RETRY_BASE_MS),
      maxFailures: env.SUBSCRIPTION_MAX_FAILURES,
      timeoutMs: env.SUBSCRIPTION_TIMEOUT_MS,
      maxCount: env.SUBSCRIPTION_MAX_COUNT,
    },
    rateLimits: {
      token: { perClient: env.RATE_LIMIT_TOKEN_PER_CLIENT, perAddress: env.RATE_LIMIT_TOKEN_PER_ADDRESS, windowSeconds: env.RATE_LIMIT_TOKEN_WINDOW_SECONDS },
      api: { perClient: env.RATE_LIMIT_API_PER_CLIENT, perAddress: env.RATE_LIMIT_API_PER_ADDRESS, windowSeconds: env.RATE_LIMIT_API_WINDOW_SECONDS },
    },
  }))
  .refine((c) => c.mllp.tls === undefined || (c.mllp.tls.certFile !== '' && c.mllp.tls.keyFile !== '' && c.mllp.tls.caFile !== ''), {
    message: 'MLLP_TLS_PORT needs MLLP_TLS_CERT_FILE, MLLP_TLS_KEY_FILE and MLLP_TLS_CA_FILE (the CA client certificates must chain to)',
    path: ['MLLP_TLS_PORT'],
  })
  .refine((c) => c.migrationDatabaseUrl === undefined || c.databaseUrl !== undefined, {
    message: 'MIGRATION_DATABASE_URL goes with DATABASE_URL (the application role on the same database)',
    path: ['MIGRATION_DATABASE_URL'],
  });

export type Config = z.infer<typeof configSchema>;

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const parsed = configSchema.safeParse(env);
  if (!parsed.success) {
    const detail = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new ConfigError(`Invalid environment: ${detail}`);
  }
  return parsed.data;
}

/** Where the CLI finds a running hub (HUB_URL, default http://localhost:$PORT). */
export function hubUrl(env: Record<string, string | undefined> = process.env): string {
  const url = z.url().optional().parse(env['HUB_URL']);
  const port = z.coerce.number().int().default(8080).parse(env['PORT']);
  return (url ?? `http://localhost:${port}`).replace(/\/+$/, '');
}
