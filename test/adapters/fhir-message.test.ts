import { readFile } from 'node:fs/promises';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { adaptFhirMessage } from '../../src/adapters/fhir-message.js';
import type { IngestUnit } from '../../src/adapters/ingest-unit.js';
import { haveSharedFixtures, sharedFixtures } from '../conformance/shared-fixtures.js';
import { expectGolden, readFixture } from '../support/golden.js';

const fixture = async (name: string): Promise<unknown> => JSON.parse(await readFixture(`fhir-message/${name}.json`)) as unknown;
const unitOf = (result: ReturnType<typeof adaptFhirMessage>): IngestUnit => {
  if (!result.ok) throw new Error(JSON.stringify(result.issues));
  return result.value;
};

describe('FHIR message adapter: golden files', () => {
  it.each([
    'pregnancy-notification',
    'pregnancy-notification-consent-refused',
    'birth-notification-stu3',
    'birth-notification-restricted-stu3',
    'stillbirth-notification-stu3',
    'vaccinations-not-given-stu3',
    'vaccinations-delete-stu3',
  ])('%s', async (name) => {
    await expectGolden(`fhir-message/${name}`, adaptFhirMessage(await fixture(name)));
  });
});

describe('FHIR message adapter: behaviour', () => {
  it('keys a message by its MessageHeader id and names the sender from the responsible organisation', async () => {
    const unit = unitOf(adaptFhirMessage(await fixture('pregnancy-notification')));
    expect(unit.messageKey).toBe('fhir-message:11111111-1111-4111-8111-111111111101');
    expect(unit.senderCode).toBe('R9M');
    // The sending Organization is registry data: referenced by its ODS code, not stored again.
    expect(unit.entries.map((e) => e.resource.resourceType)).toEqual(['Patient', 'EpisodeOfCare', 'Observation', 'Consent', 'Practitioner']);
    const consent = unit.entries.find((e) => e.resource.resourceType === 'Consent');
    const episode = unit.entries.find((e) => e.resource.resourceType === 'EpisodeOfCare');
    expect(consent?.resource.resourceType === 'Consent' && consent.resource.extension?.[0]?.valueReference?.reference).toBe(episode?.fullUrl);
  });

  it('converts a NEMS birth notification to R4: verification status to UK Core, GP to an ODS identifier, mother linked to baby', async () => {
    const unit = unitOf(adaptFhirMessage(await fixture('birth-notification-stu3')));
    const [mother, baby, relation] = unit.entries;
    expect(baby?.resource.resourceType === 'Patient' && baby.resource.identifier?.[0]?.extension?.[0]?.url).toBe(
      'https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus',
    );
    expect(mother?.resource.resourceType === 'Patient' && mother.resource.generalPractitioner).toEqual([
      { type: 'Organization', identifier: { system: 'https://fhir.nhs.uk/Id/ods-organization-code', value: 'Y90001' } },
    ]);
    expect(relation?.resource.resourceType === 'RelatedPerson' && relation.resource.patient.reference).toBe(baby?.fullUrl);
    expect(unit.effects).toEqual([{ kind: 'birth', motherNhsNumber: '9995100010', babyFullUrl: baby?.fullUrl, date: '2026-09-25', outcome: 'live-birth' }]);
  });

  it('records a stillbirth as the outcome and the baby as deceased', async () => {
    const unit = unitOf(adaptFhirMessage(await fixture('stillbirth-notification-stu3')));
    expect(unit.effects[0]).toMatchObject({ kind: 'birth', outcome: 'stillbirth' });
    expect(unit.entries.find((e) => e.resource.resourceType === 'Patient' && e.resource.deceasedBoolean === true)).toBeDefined();
  });

  it('converts STU3 notGiven and explanation.reasonNotGiven to R4 status and statusReason', async () => {
    const unit = unitOf(adaptFhirMessage(await fixture('vaccinations-not-given-stu3')));
    const imm = unit.entries.find((e) => e.resource.resourceType === 'Immunization');
    expect(imm?.resource).toMatchObject({
      status: 'not-done',
      statusReason: { coding: [{ code: '201741000000102' }] },
      occurrenceDateTime: '2026-06-30T09:00:00+01:00',
      protocolApplied: [{ doseNumberPositiveInt: 1 }],
      extension: [{ url: 'https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-VaccinationProcedure' }],
    });
    expect(imm?.resource).not.toHaveProperty('notGiven');
    expect(imm?.match).toEqual({ system: 'https://fhir.nhs.uk/Id/gp-immunisation', value: 'Y90001-ROTA-0001' });
    const deleted = unitOf(adaptFhirMessage(await fixture('vaccinations-delete-stu3')));
    expect(deleted.entries.find((e) => e.resource.resourceType === 'Immunization')?.action).toBe('delete');
  });

  it.each([
    ['bad-birth-without-baby-nhs-number', 'invalid', 'Bundle.entry[4].resource.identifier', 'required'],
    ['bad-invalid-nhs-number', 'invalid', 'Bundle.entry[1].resource.identifier[0].value', 'value'],
  ])('refuses %s naming the FHIRPath', async (name, kind, location, code) => {
    const result = adaptFhirMessage(await fixture(name));
    expect(result).toMatchObject({ ok: false, kind, issues: [{ location, code }] });
  });

  it.each([
    ['not a Bundle', { resourceType: 'Patient' }, 'unparsable', 'Bundle.resourceType'],
    ['a batch, not a message', { resourceType: 'Bundle', type: 'batch' }, 'invalid', 'Bundle.type'],
    ['no MessageHeader first', { resourceType: 'Bundle', type: 'message', entry: [{ resource: { resourceType: 'Patient' } }] }, 'invalid', 'Bundle.entry[0].resource'],
    ['an unknown event', { resourceType: 'Bundle', type: 'message', entry: [{ resource: { resourceType: 'MessageHeader', id: 'x', eventCoding: { system: 'urn:x', code: 'y' } } }] }, 'invalid', 'Bundle.entry[0].resource.eventCoding'],
    ['an unknown NEMS event', { resourceType: 'Bundle', type: 'message', entry: [{ resource: { resourceType: 'MessageHeader', id: 'x', event: { system: 'https://fhir.nhs.uk/STU3/CodeSystem/EventType-1', code: 'pds-change-of-gp-1' } } }] }, 'invalid', 'Bundle.entry[0].resource.event'],
  ])('refuses %s', (_name, body, kind, location) => {
    expect(adaptFhirMessage(body)).toMatchObject({ ok: false, kind, issues: [{ location }] });
  });

  it('never throws, whatever it is given (property)', async () => {
    const seeds = await Promise.all(['pregnancy-notification', 'birth-notification-stu3', 'vaccinations-not-given-stu3'].map(fixture));
    const mutate = (value: unknown, path: number[], replacement: unknown): unknown => {
      if (path.length === 0 || typeof value !== 'object' || value === null) return replacement;
      const keys = Object.keys(value);
      if (keys.length === 0) return replacement;
      const key = keys[(path[0] ?? 0) % keys.length] ?? '';
      const copy = (Array.isArray(value) ? [...value] : { ...value }) as Record<string, unknown>;
      copy[key] = mutate(copy[key], path.slice(1), replacement);
      return copy;
    };
    fc.assert(
      fc.property(fc.constantFrom(...seeds), fc.array(fc.nat(), { maxLength: 6 }), fc.jsonValue(), (seed, path, replacement) => {
        const result = adaptFhirMessage(mutate(seed, path, replacement));
        if (!result.ok) for (const i of result.issues) expect(i.location.length * i.diagnostics.length).toBeGreaterThan(0);
      }),
      { numRuns: 400 },
    );
    fc.assert(fc.property(fc.jsonValue(), (value) => { adaptFhirMessage(value); }), { numRuns: 200 });
    // Found by the property above: an object where a primitive belongs, shadowing valueOf.
    const booking = (await fixture('pregnancy-notification')) as { entry: { resource: Record<string, unknown> }[] };
    const shadowed = { ...booking, entry: booking.entry.map((e, i) => (i === 1 ? { ...e, resource: { ...e.resource, birthDate: { valueOf: false } } } : e)) };
    expect(adaptFhirMessage(shadowed)).toMatchObject({ ok: false, kind: 'invalid' });
    // Found by the property above: a null meta in an STU3 resource.
    const vaccination = (await fixture('vaccinations-not-given-stu3')) as { entry: { resource: Record<string, unknown> }[] };
    const withNullMeta = { ...vaccination, entry: vaccination.entry.map((e, i) => (i === 1 ? { ...e, resource: { ...e.resource, meta: null } } : e)) };
    expect(() => adaptFhirMessage(withNullMeta)).not.toThrow();
  });
});

describe.skipIf(!haveSharedFixtures)('conformance: the maternity fixtures', () => {
  const shared = async (name: string): Promise<unknown> => JSON.parse(await readFile(path.join(sharedFixtures, name), 'utf8')) as unknown;
  it.each(['maternity/booking-consent-given.json', 'maternity/booking-consent-given-2.json', 'maternity/booking-consent-refused.json', 'maternity/birth-notification-nems-stu3.json', 'maternity/birth-notification-stillbirth-nems-stu3.json'])(
    '%s adapts',
    async (name) => {
      expect(adaptFhirMessage(await shared(name)).ok).toBe(true);
    },
  );
  it('refuses the bad birth notification and the bad booking naming the field', async () => {
    expect(adaptFhirMessage(await shared('bad/birth-notification-baby-without-nhs-number.json'))).toMatchObject({ ok: false, kind: 'invalid', issues: [{ location: 'Bundle.entry[4].resource.identifier' }] });
    expect(adaptFhirMessage(await shared('bad/booking-invalid-nhs-number.json'))).toMatchObject({ ok: false, kind: 'invalid', issues: [{ location: 'Bundle.entry[1].resource.identifier[0].value' }] });
  });
});
