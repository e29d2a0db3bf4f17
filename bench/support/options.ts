import { z } from 'zod';

// The benchmarks' settings, parsed once from the environment by bench/run.ts
// and handed to every benchmark as a value.

/** Used only to CREATE and DROP the bench's own database, never to store data in. */
export const DEFAULT_ADMIN_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

export const benchEnvSchema = z
  .object({
    DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/ }).default(DEFAULT_ADMIN_URL),
    // Capped below the five-minute access token lifetime: a token is fetched
    // before each scenario run and must outlive its warm-up and measurement.
    BENCH_SECONDS: z.coerce.number().int().min(1).max(240).default(15),
    BENCH_WARMUP_SECONDS: z.coerce.number().int().min(0).max(30).default(3),
    // BENCH.md: at least three interleaved pairs, or the median means nothing.
    BENCH_PAIRS: z.coerce.number().int().min(3).max(20).default(3),
    BENCH_PATIENTS: z.coerce.number().int().min(1_000).max(2_000_000).default(100_000),
    // bench log-scale: entries in the large log (against 10k).
    BENCH_LOG_ENTRIES: z.coerce.number().int().min(10_000).max(100_000_000).default(10_000_000),
    // bench ingest: only these formats (comma-separated names, e.g. fhir-message,caf), to profile one; every format when unset.
    BENCH_INGEST_FORMATS: z.string().optional(),
  })
  .transform((env) => ({
    adminUrl: env.DATABASE_URL,
    seconds: env.BENCH_SECONDS,
    warmupSeconds: env.BENCH_WARMUP_SECONDS,
    pairs: env.BENCH_PAIRS,
    patients: env.BENCH_PATIENTS,
    logEntries: env.BENCH_LOG_ENTRIES,
    ingestFormats: env.BENCH_INGEST_FORMATS?.split(',').map((n) => n.trim()).filter((n) => n !== ''),
  }));

export type BenchOptions = z.infer<typeof benchEnvSchema>;

export type OptionsResult = { ok: true; options: BenchOptions } | { ok: false; message: string };

export function loadBenchOptions(env: Record<string, string | undefined>): OptionsResult {
  const parsed = benchEnvSchema.safeParse(env);
  if (parsed.success) return { ok: true, options: parsed.data };
  return { ok: false, message: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') };
}
