import type { FhirResource } from 'fhir/r4.js';
import { generateKeyPairSync } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino, type Logger } from 'pino';
import request from 'supertest';
import { generateClientKeyPair, signClientAssertion, type ClientKeyPair } from '../../src/auth/client-assertion.js';
import { inTransaction } from '../../src/db/database.js';
import { upsertClient, upsertOrganisation } from '../../src/db/registry-queries.js';
import { demoClients, demoOrganisations, registeredScopes } from '../../src/demo/world.js';
import { createHub, type Hub, type HubOptions } from '../../src/hub.js';
import type { LoadedProtocol } from '../../src/protocol/protocol-schema.js';
import { logKeyFromJwk, type LogKey } from '../../src/audit/signed-note.js';
import type { CheckpointPolicy } from '../../src/services/audit-log-service.js';
import { defaultLogOrigin } from '../../src/services/log-key.js';
import { configureServer } from '../../src/http/http-server.js';
import { openSigningKeys } from '../../src/services/signing-keys.js';
import { openTestDatabase, type PoolOptions, type TestDatabase } from './database.js';
import { loadedTestProtocols } from './protocols.js';
import { readRoutineSchedule } from './schedule.js';

/**
 * Two test-only organisations whose clients hold every scope, so that the
 * generic REST behaviour can be exercised apart from the demo partners' rights.
 */
export const testOrganisations = [
  { code: 'TEST-A', system: 'urn:eastside:org', type: 'gp' as const, name: 'Test organisation A', catchment: [] },
  { code: 'TEST-B', system: 'urn:eastside:org', type: 'gp' as const, name: 'Test organisation B', catchment: [] },
  // The site code of the repo's own CSV fixtures.
  { code: 'Y99901', system: 'https://fhir.nhs.uk/Id/ods-organization-code', type: 'gp' as const, name: 'Test practice', catchment: [] },
];
export const testClients = [
  { id: 'test-a', organisation: 'TEST-A', scopes: ['system/*.cruds'], purposes: ['direct-care'] },
  { id: 'test-b', organisation: 'TEST-B', scopes: ['system/*.cruds'], purposes: ['direct-care'] },
  { id: 'test-gp', organisation: 'Y99901', scopes: ['system/Immunization.c', 'system/Patient.c', 'system/*.rs'], purposes: ['direct-care'] },
];
// The demo's registered scopes (its subscribers may manage Subscriptions); the test clients' as listed.
const allClients = [...demoClients.map((c) => ({ ...c, scopes: registeredScopes(c) })), ...testClients];

export interface TestHub {
  hub: Hub;
  /** The key signing the hub's checkpoints and receipts (a superuser who stole it can forge them). */
  logKey: LogKey;
  database: TestDatabase;
  baseUrl: string;
  /** The listening server's address (for stock clients); only when listen was asked. */
  server: http.Server | undefined;
  keys: Map<string, ClientKeyPair>;
  http: ReturnType<typeof request>;
  assertion(clientId: string, options?: Parameters<typeof signClientAssertion>[3]): Promise<string>;
  token(clientId: string, purpose: string, scope?: string): Promise<string>;
  close(): Promise<void>;
}

/**
 * A real hub over a real database of the test file's own, with the demo
 * organisations and clients registered under freshly generated keys.
 */
export async function startTestHub(
  options: {
    listen?: boolean;
    clock?: () => Date;
    logger?: Logger;
    protocols?: readonly LoadedProtocol[];
    denialBurst?: HubOptions['denialBurst'];
    logKey?: LogKey;
    checkpoints?: CheckpointPolicy;
    /** A directory of signing-key files, as a deployment has (default: keys of this hub's own, in memory). */
    signingKeysDir?: string;
    rateLimits?: HubOptions['rateLimits'];
    /** Proxies whose X-Forwarded-For gives the client address (TRUST_PROXY). */
    trustProxy?: readonly string[];
    /** PostgreSQL pool bounds (size, statement and connection timeouts); ignored on PGlite. */
    pool?: PoolOptions;
    /** The immunisation schedules (default: the repository's routine schedule). */
    schedules?: HubOptions['schedules'];
    /** MLLP listeners (bind them on 127.0.0.1, port 0). */
    mllp?: HubOptions['mllp'];
    /** Subscription delivery: short retries and polls for tests, or no worker. */
    subscriptions?: HubOptions['subscriptions'];
    /** Requests served at once before a 503 (HTTP_MAX_IN_FLIGHT). */
    maxInFlight?: number;
    /** How reads share transactions (default: the hub's). */
    readBatches?: HubOptions['readBatches'];
    /** How writes share transactions (default: the hub's). */
    writeBatches?: HubOptions['writeBatches'];
  } = {},
): Promise<TestHub> {
  const database = await openTestDatabase(options.pool);
  const keys = new Map<string, ClientKeyPair>();
  for (const client of allClients) keys.set(client.id, await generateClientKeyPair(client.id === 'limehouse-gp' ? 'RS384' : 'ES384'));
  await inTransaction(database.db, async (tx) => {
    for (const org of [...demoOrganisations, ...testOrganisations]) await upsertOrganisation(tx, org);
    for (const client of allClients) {
      await upsertClient(tx, {
        id: client.id,
        organisationCode: client.organisation,
        scopes: client.scopes,
        purposes: client.purposes,
        jwks: { keys: [(keys.get(client.id) as ClientKeyPair).publicJwk] },
      });
    }
  });

  let server: http.Server | undefined;
  let baseUrl = 'http://hub.test';
  if (options.listen === true) {
    server = http.createServer();
    configureServer(server, { keepAliveTimeoutMs: 65_000, headersTimeoutMs: 66_000, requestTimeoutMs: 30_000 });
    await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }
  const logKey = options.logKey ?? testLogKey(baseUrl);
  const hub = await createHub({
    database,
    baseUrl,
    logger: options.logger ?? pino({ level: 'silent' }),
    sequenceIntervalMs: 50,
    protocols: options.protocols ?? (await loadedTestProtocols()),
    ...(options.clock === undefined ? {} : { clock: options.clock }),
    ...(options.denialBurst === undefined ? {} : { denialBurst: options.denialBurst }),
    logKey,
    ...(options.signingKeysDir === undefined ? {} : { signingKeys: await openSigningKeys(options.signingKeysDir, options.clock ?? (() => new Date())) }),
    ...(options.checkpoints === undefined ? {} : { checkpoints: options.checkpoints }),
    ...(options.rateLimits === undefined ? {} : { rateLimits: options.rateLimits }),
    schedules: options.schedules ?? [readRoutineSchedule()],
    ...(options.trustProxy === undefined ? {} : { trustProxy: options.trustProxy }),
    mllp: options.mllp,
    ...(options.subscriptions === undefined ? {} : { subscriptions: options.subscriptions }),
    ...(options.maxInFlight === undefined ? {} : { maxInFlight: options.maxInFlight }),
    ...(options.readBatches === undefined ? {} : { readBatches: options.readBatches }),
    ...(options.writeBatches === undefined ? {} : { writeBatches: options.writeBatches }),
  });
  server?.on('request', hub.app);
  const agent = request(hub.app);

  const assertion: TestHub['assertion'] = async (clientId, opts) => {
    const pair = keys.get(clientId);
    if (pair === undefined) throw new Error(`no test key for ${clientId}`);
    return signClientAssertion(pair.privateJwk, clientId, hub.tokenUrl, opts);
  };

  const token: TestHub['token'] = async (clientId, purpose, scope) => {
    const client = allClients.find((c) => c.id === clientId);
    const res = await agent
      .post('/auth/token')
      .type('form')
      .send({
        grant_type: 'client_credentials',
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        // Signed at the hub's time, so that a test clock far from today still gets tokens.
        client_assertion: await assertion(clientId, options.clock === undefined ? undefined : { now: options.clock() }),
        scope: scope ?? client?.scopes.join(' ') ?? '',
        purpose_of_use: purpose,
      });
    if (res.status !== 200) throw new Error(`token for ${clientId} refused: ${JSON.stringify(res.body)}`);
    return (res.body as { access_token: string }).access_token;
  };

  return {
    hub,
    database,
    baseUrl,
    logKey,
    server,
    keys,
    http: agent,
    assertion,
    token,
    close: async () => {
      if (server !== undefined) {
        server.closeAllConnections();
        await new Promise<void>((resolve) => server?.close(() => { resolve(); }));
      }
      await hub.close();
      await database.close();
    },
  };
}

/** A fresh Ed25519 log key named after the hub's base URL. */
export function testLogKey(baseUrl: string): LogKey {
  return logKeyFromJwk(defaultLogOrigin(baseUrl), generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' }));
}

/** Creates a resource as the token's client and gives its id (the create must answer 201). */
export async function createdId(t: TestHub, bearer: string, resource: FhirResource): Promise<string> {
  const res = await t.http.post(`/fhir/${resource.resourceType}`).set('authorization', `Bearer ${bearer}`).set('content-type', 'application/fhir+json').send(resource);
  if (res.status !== 201) throw new Error(`create ${resource.resourceType} answered ${res.status}: ${JSON.stringify(res.body)}`);
  const id = new RegExp(`/${resource.resourceType}/([^/]+)`).exec(String(res.headers['location']))?.[1];
  if (id === undefined) throw new Error(`create ${resource.resourceType} gave no Location`);
  return id;
}
