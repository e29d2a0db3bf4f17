import { defineConfig } from 'vitest/config';

// npm test: PGlite (embedded) unless DATABASE_URL names a PostgreSQL server,
// in which case every test file gets a database of its own, dropped at the end.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    setupFiles: ['test/support/fast-check-seed.ts'],
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    reporters: ['default'],
  },
});
