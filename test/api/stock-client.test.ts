import type { Bundle, Consent, Observation, Patient } from 'fhir/r4.js';
import { Client, type FhirResource } from 'fhir-kit-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { patient } from '../support/resources.js';
import { startTestHub, type TestHub } from '../support/test-hub.js';

// A stock FHIR client against the listening hub: what a partner's developer would use.

/** fhir-kit-client has its own loose resource type; convert at the edge. */
const body = (r: object): FhirResource => r as unknown as FhirResource;
// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- the one cast from the client's loose type
const as = <T>(r: FhirResource): T => r as unknown as T;

let t: TestHub;
let client: Client;

beforeAll(async () => {
  t = await startTestHub({ listen: true });
  client = new Client({ baseUrl: `${t.baseUrl}/fhir`, bearerToken: await t.token('test-a', 'direct-care') });
});
afterAll(async () => {
  await t.close();
});

describe('fhir-kit-client against the running hub', () => {
  it('discovers the capability statement and the SMART token endpoint', async () => {
    const caps = (await client.capabilityStatement()) as { resourceType: string; fhirVersion: string };
    expect(caps.resourceType).toBe('CapabilityStatement');
    expect(caps.fhirVersion).toBe('4.0.1');
    const smart = (await client.smartAuthMetadata()) as { tokenUrl?: URL };
    expect(String(smart.tokenUrl)).toBe(`${t.baseUrl}/auth/token`);
  });

  it('creates, reads, vreads, updates and reads history', async () => {
    // Versions are tested on an Observation: a Patient is answered as the caller's own statement, without a version (README).
    const subject = await client.create({ resourceType: 'Patient', body: body(patient(7001)) }).then(as<Patient>);
    expect(subject.id).toBeDefined();
    expect(await client.read({ resourceType: 'Patient', id: subject.id ?? '' }).then(as<Patient>)).toEqual(subject);
    const observation: Observation = { resourceType: 'Observation', status: 'preliminary', code: { text: 'stock client' }, subject: { reference: `Patient/${subject.id ?? ''}` } };
    const created = await client.create({ resourceType: 'Observation', body: body(observation) }).then(as<Observation>);
    expect(created.meta?.versionId).toBe('1');
    const read = await client.read({ resourceType: 'Observation', id: created.id ?? '' }).then(as<Observation>);
    expect(read).toEqual(created);
    const updated = await client.update({ resourceType: 'Observation', id: created.id ?? '', body: body({ ...read, status: 'final' }) }).then(as<Observation>);
    expect(updated.meta?.versionId).toBe('2');
    const v1 = await client.vread({ resourceType: 'Observation', id: created.id ?? '', version: '1' }).then(as<Observation>);
    expect(v1.status).toBe('preliminary');
    const history = await client.resourceHistory({ resourceType: 'Observation', id: created.id ?? '' }).then(as<Bundle>);
    expect(history.entry).toHaveLength(2);
  });

  it('searches and follows next links to the end', async () => {
    const subject = await client.create({ resourceType: 'Patient', body: body(patient(7002)) }).then(as<Patient>);
    const ids: string[] = [];
    for (let i = 0; i < 5; i += 1) {
      const consent: Consent = {
        resourceType: 'Consent',
        status: 'active',
        scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
        category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
        patient: { reference: `Patient/${subject.id ?? ''}` },
        policyRule: { text: 'Early years information-sharing protocol' },
        provision: { type: 'permit', period: { start: '2026-03-02' } },
      };
      ids.push((await client.create({ resourceType: 'Consent', body: body(consent) }).then(as<Consent>)).id ?? '');
    }
    let bundle = await client.search({ resourceType: 'Consent', searchParams: { patient: subject.id ?? '', _count: 2 } }).then(as<Bundle>);
    const seen: string[] = [];
    for (;;) {
      seen.push(...(bundle.entry ?? []).map((e) => e.resource?.id ?? ''));
      const next = client.nextPage({ bundle: body(bundle) as FhirResource & { link: { relation: string; url: string }[] } });
      if (next === undefined) break;
      bundle = as<Bundle>(await next);
    }
    expect(seen).toEqual(ids);
  });

  it('surfaces the hub\'s OperationOutcome on errors', async () => {
    const failure = await client.read({ resourceType: 'Patient', id: 'no-such-patient' }).then(
      () => undefined,
      (err: unknown) => err as { response?: { status?: number; data?: { resourceType?: string } } },
    );
    expect(failure?.response?.status).toBe(404);
    expect(failure?.response?.data?.resourceType).toBe('OperationOutcome');
  });
});
