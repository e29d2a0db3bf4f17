import { decodeJwt, generateKeyPair, importJWK, SignJWT, base64url } from 'jose';
import { pino } from 'pino';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signClientAssertion } from '../../src/auth/client-assertion.js';
import { createHub } from '../../src/hub.js';
import { auditEventsFor } from '../support/audit.js';
import { startTestHub, type TestHub } from '../support/test-hub.js';

const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
let t: TestHub;

beforeAll(async () => {
  t = await startTestHub();
});
afterAll(async () => {
  await t.close();
});

let n = 0;
async function tokenRequest(form: Record<string, string>, contentType = 'form') {
  n += 1;
  const requestId = `auth-test-${n}`;
  const res = await t.http.post('/auth/token').set('X-Request-Id', requestId).type(contentType).send(form);
  return { res, requestId };
}

async function goodForm(clientId: string, purpose: string, scope: string, assertion?: string): Promise<Record<string, string>> {
  return {
    grant_type: 'client_credentials',
    client_assertion_type: ASSERTION_TYPE,
    client_assertion: assertion ?? (await t.assertion(clientId)),
    scope,
    purpose_of_use: purpose,
  };
}

describe('SMART discovery', () => {
  it('announces the token endpoint, private_key_jwt and the assertion algorithms', async () => {
    const res = await t.http.get('/.well-known/smart-configuration');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      token_endpoint: `${t.baseUrl}/auth/token`,
      token_endpoint_auth_methods_supported: ['private_key_jwt'],
      grant_types_supported: ['client_credentials'],
    });
    expect(res.body.token_endpoint_auth_signing_alg_values_supported).toEqual(expect.arrayContaining(['ES384', 'RS384']));
    const jwks = await t.http.get('/.well-known/jwks.json');
    expect(jwks.body.keys).toHaveLength(1);
    expect(jwks.body.keys[0]).not.toHaveProperty('d');
  });
});

describe('POST /auth/token', () => {
  it('issues a short-lived token carrying client, organisation, scopes and purpose, and audits it', async () => {
    const { res, requestId } = await tokenRequest(await goodForm('ocean-cc', 'early-years-registration', 'system/Patient.rs system/Observation.rs'));
    expect(res.status).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.body).toMatchObject({ token_type: 'bearer', scope: 'system/Patient.rs system/Observation.rs', purpose_of_use: 'early-years-registration' });
    expect(res.body.expires_in).toBeLessThanOrEqual(300);
    const claims = decodeJwt(res.body.access_token as string);
    expect(claims).toMatchObject({
      client_id: 'ocean-cc',
      sub: 'ocean-cc',
      purpose_of_use: 'early-years-registration',
      organisation: { code: 'CC-OCEAN', type: 'childrens-centre', system: 'urn:eastside:org' },
      aud: `${t.baseUrl}/fhir`,
    });
    expect((claims.exp ?? 0) - (claims.iat ?? 0)).toBeLessThanOrEqual(300);

    const [event, ...others] = await auditEventsFor(t.database.db, requestId);
    expect(others).toHaveLength(0);
    expect(event?.type).toMatchObject({ system: 'http://dicom.nema.org/resources/ontology/DCM', code: '110114' });
    expect(event?.outcome).toBe('0');
    const agents = event?.agent ?? [];
    expect(agents.find((a) => a.requestor)?.who?.identifier).toEqual({ system: 'urn:eastside:client', value: 'ocean-cc' });
    expect(agents.some((a) => a.who?.identifier?.value === 'CC-OCEAN')).toBe(true);
    expect(event?.purposeOfEvent?.[0]?.coding?.[0]?.code).toBe('early-years-registration');
  });

  it('accepts RS384 assertions as well as ES384', async () => {
    const { res } = await tokenRequest(await goodForm('limehouse-gp', 'direct-care', 'system/Immunization.c'));
    expect(res.status).toBe(200);
    expect(res.body.scope).toBe('system/Immunization.c');
  });

  it('narrows requested scopes to what the client is registered for', async () => {
    const { res } = await tokenRequest(await goodForm('ocean-cc', 'early-help', 'system/Patient.cruds system/Task.cruds'));
    expect(res.status).toBe(200);
    expect(res.body.scope).toBe('system/Patient.rs system/Task.rus');
  });

  const refusals: [string, () => Promise<Record<string, string>>, number, string, RegExp][] = [
    ['a wrong audience', async () => goodForm('ocean-cc', 'early-help', 'system/*.rs', await signClientAssertion(t.keys.get('ocean-cc')!.privateJwk, 'ocean-cc', 'http://elsewhere.test/token')), 401, 'invalid_client', /aud/],
    ['an expired assertion', async () => goodForm('ocean-cc', 'early-help', 'system/*.rs', await t.assertion('ocean-cc', { now: new Date(Date.now() - 10 * 60_000) })), 401, 'invalid_client', /expired/],
    ['an assertion living longer than five minutes', async () => goodForm('ocean-cc', 'early-help', 'system/*.rs', await t.assertion('ocean-cc', { lifetimeSeconds: 3600 })), 401, 'invalid_client', /five minutes/],
    ['an assertion issued an hour in the future', async () => goodForm('ocean-cc', 'early-help', 'system/*.rs', await futureAssertion('ocean-cc', 3600)), 401, 'invalid_client', /iat/],
    ['an assertion issued two minutes in the future', async () => goodForm('ocean-cc', 'early-help', 'system/*.rs', await futureAssertion('ocean-cc', 120)), 401, 'invalid_client', /iat/],
    ['a client id no client could have', async () => goodForm('ocean-cc', 'early-help', 'system/*.rs', await signClientAssertion(t.keys.get('ocean-cc')!.privateJwk, 'ocean-cc\u0000', t.hub.tokenUrl)), 401, 'invalid_client', /unknown/],
    ['an unknown client', async () => goodForm('ocean-cc', 'early-help', 'system/*.rs', await signClientAssertion(t.keys.get('ocean-cc')!.privateJwk, 'nobody-cc', t.hub.tokenUrl)), 401, 'invalid_client', /unknown/],
    ['a signature by another key', async () => goodForm('ocean-cc', 'early-help', 'system/*.rs', await signClientAssertion({ ...t.keys.get('iod-cc')!.privateJwk, kid: t.keys.get('ocean-cc')!.privateJwk.kid }, 'ocean-cc', t.hub.tokenUrl)), 401, 'invalid_client', /signature/],
    ['alg none', async () => goodForm('ocean-cc', 'early-help', 'system/*.rs', unsignedAssertion('ocean-cc', t.hub.tokenUrl)), 401, 'invalid_client', /alg/],
    ['HS256 with a guessable secret', async () => goodForm('ocean-cc', 'early-help', 'system/*.rs', await hmacAssertion('ocean-cc', t.hub.tokenUrl)), 401, 'invalid_client', /alg/],
    ['ES256 (not one of the SMART algorithms)', async () => goodForm('ocean-cc', 'early-help', 'system/*.rs', await es256Assertion('ocean-cc', t.hub.tokenUrl)), 401, 'invalid_client', /alg/],
    ['a purpose the client may not use', async () => goodForm('ocean-cc', 'direct-care', 'system/*.rs'), 400, 'invalid_request', /purpose_of_use/],
    ['no purpose of use', async () => { const f = await goodForm('ocean-cc', 'early-help', 'system/*.rs'); delete f['purpose_of_use']; return f; }, 400, 'invalid_request', /purpose_of_use/],
    ['a scope the client may not have', async () => goodForm('ocean-cc', 'early-help', 'system/Patient.c'), 400, 'invalid_scope', /scope/],
    ['a malformed scope', async () => goodForm('ocean-cc', 'early-help', 'patient/*.read'), 400, 'invalid_scope', /scope/],
    ['another grant type', async () => ({ ...(await goodForm('ocean-cc', 'early-help', 'system/*.rs')), grant_type: 'password' }), 400, 'unsupported_grant_type', /grant_type/],
    ['a missing client_assertion', async () => { const f = await goodForm('ocean-cc', 'early-help', 'system/*.rs'); delete f['client_assertion']; return f; }, 400, 'invalid_request', /client_assertion/],
    ['a client_assertion that is not a JWT', async () => goodForm('ocean-cc', 'early-help', 'system/*.rs', 'not-a-jwt'), 400, 'invalid_request', /JWT/],
  ];

  it.each(refusals)('refuses %s with an OAuth error and an audited failure', async (_name, form, status, error, description) => {
    const { res, requestId } = await tokenRequest(await form());
    expect(res.status).toBe(status);
    expect(res.body.error).toBe(error);
    expect(res.body.error_description).toMatch(description);
    expect(res.body).not.toHaveProperty('access_token');
    const events = await auditEventsFor(t.database.db, requestId);
    expect(events).toHaveLength(1);
    expect(events[0]?.outcome).toBe('4');
    expect(events[0]?.subtype?.[0]?.code).toBe('110122');
    expect(events[0]?.outcomeDesc).toContain(error);
  });

  it('refuses a replayed assertion, also when it is replayed at another hub instance', async () => {
    const form = await goodForm('eastside-hv', 'direct-care', 'system/*.rs');
    const first = await tokenRequest(form);
    expect(first.res.status).toBe(200);
    const again = await tokenRequest(form);
    expect(again.res.status).toBe(401);
    expect(again.res.body.error_description).toMatch(/already been used/);
    expect((await auditEventsFor(t.database.db, again.requestId))[0]?.outcome).toBe('4');

    // A second instance sharing the database knows the jti too.
    const form2 = await goodForm('eastside-hv', 'direct-care', 'system/*.rs');
    const other = await createHub({ database: t.database, baseUrl: t.baseUrl, logger: pino({ level: 'silent' }), protocols: [], signingKeys: t.hub.keys });
    try {
      expect((await request(other.app).post('/auth/token').type('form').send(form2)).status).toBe(200);
      expect((await t.http.post('/auth/token').type('form').send(form2)).status).toBe(401);
    } finally {
      await other.close();
    }
  });

  it('refuses a JSON body: the token endpoint takes form posts', async () => {
    const { res, requestId } = await tokenRequest(await goodForm('ocean-cc', 'early-help', 'system/*.rs'), 'json');
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_request');
    expect(await auditEventsFor(t.database.db, requestId)).toHaveLength(1);
  });
});

function unsignedAssertion(clientId: string, aud: string): string {
  const now = Math.floor(Date.now() / 1000);
  const header = base64url.encode(JSON.stringify({ alg: 'none', typ: 'JWT' }));
  const payload = base64url.encode(JSON.stringify({ iss: clientId, sub: clientId, aud, exp: now + 60, jti: `none-${now}` }));
  return `${header}.${payload}.`;
}

async function hmacAssertion(clientId: string, aud: string): Promise<string> {
  return new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setIssuer(clientId).setSubject(clientId).setAudience(aud)
    .setExpirationTime('1m').setJti(`hs-${Date.now()}`).sign(new TextEncoder().encode('a-secret-anyone-could-guess-0123456789'));
}

/** Signed by the client's own key, with iat ahead of the hub's clock and exp within five minutes of it. */
async function futureAssertion(clientId: string, aheadSeconds: number): Promise<string> {
  const jwk = t.keys.get(clientId)!.privateJwk;
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({}).setProtectedHeader({ alg: jwk.alg ?? 'ES384', kid: jwk.kid }).setIssuer(clientId).setSubject(clientId).setAudience(t.hub.tokenUrl)
    .setIssuedAt(now + aheadSeconds).setExpirationTime(now + 240).setJti(`future-${aheadSeconds}-${Date.now()}`).sign(await importJWK(jwk, jwk.alg ?? 'ES384'));
}

async function es256Assertion(clientId: string, aud: string): Promise<string> {
  const { privateKey } = await generateKeyPair('ES256');
  return new SignJWT({}).setProtectedHeader({ alg: 'ES256' }).setIssuer(clientId).setSubject(clientId).setAudience(aud)
    .setExpirationTime('1m').setJti(`es-${Date.now()}`).sign(privateKey);
}
