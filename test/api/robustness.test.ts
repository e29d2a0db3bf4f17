import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSearch } from '../../src/fhir/search-request.js';
import { supportedTypes } from '../../src/fhir/resource-types.js';
import { startTestHub, type TestHub } from '../support/test-hub.js';

// Arbitrary and mutated input never crashes the hub or earns a 5xx.

let t: TestHub;
let token: string;
beforeAll(async () => {
  t = await startTestHub();
  token = await t.token('test-a', 'direct-care');
});
afterAll(async () => {
  await t.close();
});

const paramName = fc.oneof(fc.constantFrom('_id', 'identifier', 'patient', 'subject', '_lastUpdated', '_count', '_sort', '_cursor', '_format'), fc.string({ maxLength: 12 }), fc.string({ unit: 'binary', maxLength: 8 }));
const paramValue = fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: 'binary', maxLength: 20 }), fc.constantFrom('gt2026-01-01', 'Patient/x', 'a|b', '-_lastUpdated', '100', 'ge2026-02-30T10:00Z', '|', ',,', '%00'));

describe('search parsing (pure)', () => {
  it('answers every parameter list with a request or a 4xx problem', () => {
    fc.assert(
      fc.property(fc.constantFrom(...supportedTypes), fc.array(fc.tuple(paramName, paramValue), { maxLength: 6 }), (type, params) => {
        const parsed = parseSearch(type, params);
        if (!parsed.ok) {
          expect(parsed.problem.status).toBeGreaterThanOrEqual(400);
          expect(parsed.problem.status).toBeLessThan(500);
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('over HTTP', () => {
  it('never answers a search with a 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('Patient', 'Observation', 'Consent', 'Task'), fc.array(fc.tuple(paramName, paramValue), { maxLength: 5 }), async (type, params) => {
        const qs = new URLSearchParams(params).toString();
        const res = await t.http.get(`/fhir/${type}?${qs}`).set('Authorization', `Bearer ${token}`);
        expect(res.status).toBeLessThan(500);
        expect(res.body.resourceType).toMatch(/^(Bundle|OperationOutcome)$/);
      }),
      { numRuns: 60 },
    );
  });

  it('never answers a create with a 5xx, whatever the body', async () => {
    const body = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 30 }).map((s) => JSON.stringify({ resourceType: 'Patient', name: [{ family: s }], gender: s })),
      fc.jsonValue().map((v) => JSON.stringify(v)),
      fc.jsonValue().map((v) => JSON.stringify({ resourceType: 'Patient', ...(typeof v === 'object' && v !== null && !Array.isArray(v) ? v : { v }) })),
      fc.string({ maxLength: 80 }),
    );
    await fc.assert(
      fc.asyncProperty(body, async (text) => {
        const res = await t.http.post('/fhir/Patient').set('Authorization', `Bearer ${token}`).set('Content-Type', 'application/fhir+json').send(text);
        expect(res.status).toBeLessThan(500);
        expect(res.body.resourceType).toMatch(/^(Patient|OperationOutcome)$/);
      }),
      { numRuns: 80 },
    );
  });

  it('never answers a token request with a 5xx', async () => {
    const form = fc.dictionary(fc.constantFrom('grant_type', 'client_assertion_type', 'client_assertion', 'scope', 'purpose_of_use', 'x'), fc.string({ maxLength: 60 }));
    await fc.assert(
      fc.asyncProperty(form, async (fields) => {
        const res = await t.http.post('/auth/token').type('form').send(fields);
        expect(res.status).toBeGreaterThanOrEqual(400);
        expect(res.status).toBeLessThan(500);
        expect(typeof res.body.error).toBe('string');
      }),
      { numRuns: 60 },
    );
  });
});
