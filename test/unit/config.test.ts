import { describe, expect, it } from 'vitest';
import { hubUrl, loadConfig } from '../../src/config.js';

describe('configuration from the environment', () => {
  it('defaults to port 8080, PGlite in ./data and demo off', () => {
    expect(loadConfig({})).toMatchObject({
      port: 8080,
      databaseUrl: undefined,
      dataDir: './data',
      demo: false,
      logLevel: 'info',
      publicBaseUrl: 'http://localhost:8080',
    });
  });

  it('reads every variable', () => {
    const config = loadConfig({
      PORT: '9000',
      DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/hub',
      DATA_DIR: '/srv/hub',
      DEMO: 'true',
      LOG_LEVEL: 'warn',
      PUBLIC_BASE_URL: 'https://hub.example/',
    });
    expect(config).toMatchObject({ port: 9000, databaseUrl: 'postgres://postgres@127.0.0.1:5432/hub', demo: true, logLevel: 'warn', publicBaseUrl: 'https://hub.example' });
  });

  it('bounds requests by default: keep-alive above load balancers\' idle timeouts, a statement timeout, rate limits', () => {
    const config = loadConfig({});
    expect(config.http).toEqual({ keepAliveTimeoutMs: 65_000, headersTimeoutMs: 66_000 });
    expect(config.database).toEqual({
      statementTimeoutMs: 20_000,
      poolSize: 10,
      connectionTimeoutMs: 5_000,
      lockTimeoutMs: 5_000,
      idleInTransactionTimeoutMs: 30_000,
      startupWaitMs: 60_000,
    });
    expect(config.maxInFlight).toBe(256);
    expect(config.shutdownDeadlineMs).toBe(8_000);
    expect(config.rateLimits).toEqual({
      token: { perClient: 60, perAddress: 120, windowSeconds: 60 },
      api: { perClient: 6000, perAddress: 600, windowSeconds: 60 },
    });
  });

  it('keeps the headers timeout above the keep-alive timeout, whatever is set', () => {
    const config = loadConfig({ HTTP_KEEP_ALIVE_TIMEOUT_MS: '120000', HTTP_HEADERS_TIMEOUT_MS: '30000', RATE_LIMIT_API_PER_CLIENT: '50', DB_STATEMENT_TIMEOUT_MS: '0' });
    expect(config.http).toEqual({ keepAliveTimeoutMs: 120_000, headersTimeoutMs: 121_000 });
    expect(config.rateLimits.api.perClient).toBe(50);
    expect(config.database.statementTimeoutMs).toBe(0);
  });

  it.each([
    ['PORT', 'eighty'],
    ['PORT', '70000'],
    ['DATABASE_URL', 'mysql://localhost/hub'],
    ['DEMO', 'perhaps'],
    ['LOG_LEVEL', 'loud'],
    ['PUBLIC_BASE_URL', 'ftp://hub'],
    ['MIGRATION_DATABASE_URL', 'postgres://hub_owner@127.0.0.1:5432/hub'],
    ['RATE_LIMIT_TOKEN_PER_CLIENT', '0'],
    ['HTTP_KEEP_ALIVE_TIMEOUT_MS', 'forever'],
  ])('refuses %s=%s, naming it', (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(new RegExp(`Invalid environment: ${name}`));
  });

  it('takes the owner role for migrations beside the application role, and keeps keys under DATA_DIR/keys', () => {
    const config = loadConfig({
      DATABASE_URL: 'postgres://hub_app@127.0.0.1:5432/hub',
      MIGRATION_DATABASE_URL: 'postgres://hub_owner@127.0.0.1:5432/hub',
      DATA_DIR: '/srv/hub',
    });
    expect(config).toMatchObject({
      databaseUrl: 'postgres://hub_app@127.0.0.1:5432/hub',
      migrationDatabaseUrl: 'postgres://hub_owner@127.0.0.1:5432/hub',
      signingKeysDir: '/srv/hub/keys/access-token',
      auditLogKeyFile: '/srv/hub/keys/audit-log-ed25519.jwk',
    });
  });

  it('finds the hub for the CLI from HUB_URL or PORT', () => {
    expect(hubUrl({})).toBe('http://localhost:8080');
    expect(hubUrl({ PORT: '9001' })).toBe('http://localhost:9001');
    expect(hubUrl({ HUB_URL: 'http://127.0.0.1:7000/' })).toBe('http://127.0.0.1:7000');
  });
});
