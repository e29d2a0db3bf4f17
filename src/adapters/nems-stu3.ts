import type { Bundle, BundleEntry, Coding, FhirResource, Extension, Identifier, Immunization, Observation, Patient, Reference, RelatedPerson } from 'fhir/r4.js';
import {
  HUB_IDS,
  NHS_NUMBER_VERIFICATION_EXTENSION,
  NHS_NUMBER_VERIFICATION_SYSTEM,
  ODS_SYSTEM,
  VACCINATION_PROCEDURE_EXTENSION,
} from './codes.js';
import { findOrganisationCode, messageAction, stripServerFields } from './fhir-message.js';
import { invalid, ok, type AdapterIssue, type AdapterResult, type IngestUnit, type UnitEffect, type UnitEntry } from './ingest-unit.js';
import { NHS_NUMBER_SYSTEM, validNhsNumber } from './nhs-number.js';

// NHS NEMS events as published (FHIR STU3), converted to R4 and UK Core:
// CareConnect extensions become UK Core ones, NHS number verification status
// is normalised, STU3-only elements move to their R4 places.
// See: https://hl7.org/fhir/R4/immunization.html#10.3 (R3 → R4 differences)
// and https://simplifier.net/guide/ukcoreversionhistory

const NEMS_EVENT_SYSTEM = 'https://fhir.nhs.uk/STU3/CodeSystem/EventType-1';
const CC_VERIFICATION = 'https://fhir.hl7.org.uk/STU3/StructureDefinition/Extension-CareConnect-NHSNumberVerificationStatus-1';
const CC_VACCINATION_PROCEDURE = 'https://fhir.hl7.org.uk/STU3/StructureDefinition/Extension-CareConnect-VaccinationProcedure-1';
const STILLBORN_INDICATOR = '237364002';
const PERSON_RELATIONSHIP_MOTHER = '12';
const ROLE_CODE = 'http://terminology.hl7.org/CodeSystem/v3-RoleCode';

type Stu3Resource = Record<string, unknown> & { resourceType: string };
type Located = { entry: BundleEntry<FhirResource>; resource: Stu3Resource; path: string };

export function adaptNemsStu3(bundle: Bundle<FhirResource>): AdapterResult<IngestUnit> {
  const entries = bundle.entry ?? [];
  const header = entries[0]?.resource as unknown as Stu3Resource;
  const event = header['event'] as Coding | undefined;
  const id = typeof header['id'] === 'string' ? header['id'] : undefined;
  if (event?.system !== NEMS_EVENT_SYSTEM || (event.code !== 'pds-birth-notification-1' && event.code !== 'vaccinations-1')) {
    return invalid({
      code: 'not-supported',
      diagnostics: `NEMS event ${event?.code ?? '(none)'} is not one the hub processes (pds-birth-notification-1, vaccinations-1)`,
      location: 'Bundle.entry[0].resource.event',
    });
  }
  if (id === undefined || id.length === 0) {
    return invalid({ code: 'required', diagnostics: 'MessageHeader.id identifies the message and is required', location: 'Bundle.entry[0].resource.id' });
  }
  const action = messageAction(header['extension'] as Parameters<typeof messageAction>[0]);
  if (action === undefined) {
    return invalid({ code: 'code-invalid', diagnostics: 'the message event type must be new, update or delete', location: 'Bundle.entry[0].resource.extension' });
  }
  const located: Located[] = entries.slice(1).flatMap((entry, i) =>
    entry.resource === undefined ? [] : [{ entry, resource: entry.resource as unknown as Stu3Resource, path: `Bundle.entry[${i + 1}]` }],
  );
  const context = {
    messageKey: `fhir-message:${id}`,
    senderCode: findOrganisationCode(entries, (header['responsible'] as Reference | undefined)?.reference),
    action,
  };
  return event.code === 'pds-birth-notification-1' ? birthNotification(located, context) : vaccination(located, context);
}

interface Context {
  messageKey: string;
  senderCode: string | undefined;
  action: 'upsert' | 'delete';
}

function birthNotification(located: Located[], ctx: Context): AdapterResult<IngestUnit> {
  const issues: AdapterIssue[] = [];
  const relation = located.find((l) => l.resource.resourceType === 'RelatedPerson');
  const babyUrl = (relation?.resource['patient'] as Reference | undefined)?.reference;
  const baby = located.find((l) => l.resource.resourceType === 'Patient' && l.entry.fullUrl === babyUrl);
  const mother = located.find((l) => l.resource.resourceType === 'Patient' && l.entry.fullUrl !== babyUrl);
  if (relation === undefined || baby === undefined || mother === undefined) {
    return invalid({ code: 'required', diagnostics: 'a birth notification names the baby and the mother (RelatedPerson.patient → the baby)', location: 'Bundle.entry' });
  }
  const babyNhs = nhsNumberOf(baby, issues);
  const motherNhs = nhsNumberOf(mother, issues);
  if (babyNhs === undefined || motherNhs === undefined) return invalid(...issues);

  const stillborn = located.find((l) => l.resource.resourceType === 'Observation' && codes(l.resource['code']).includes(STILLBORN_INDICATOR));
  const indicator = (stillborn?.resource['valueCodeableConcept'] as { coding?: Coding[] } | undefined)?.coding?.[0]?.code;
  const outcome = indicator === undefined || indicator === '1' ? 'live-birth' : 'stillbirth';

  const babyPatient = convertPatient(baby, babyNhs);
  if (outcome === 'stillbirth') babyPatient.deceasedBoolean = true;
  const motherPatient = convertPatient(mother, motherNhs);
  const relatedPerson: RelatedPerson = {
    resourceType: 'RelatedPerson',
    identifier: [{ system: NHS_NUMBER_SYSTEM, value: motherNhs }],
    patient: { reference: baby.entry.fullUrl ?? '' },
    relationship: [{ coding: [{ system: ROLE_CODE, code: 'MTH', display: 'mother' }, ...relationshipCodings(relation.resource)] }],
    ...(motherPatient.name === undefined ? {} : { name: motherPatient.name }),
  };
  const entries: UnitEntry[] = [
    { fullUrl: mother.entry.fullUrl ?? '', resource: motherPatient, match: { system: NHS_NUMBER_SYSTEM, value: motherNhs }, action: 'upsert' },
    { fullUrl: baby.entry.fullUrl ?? '', resource: babyPatient, match: { system: NHS_NUMBER_SYSTEM, value: babyNhs }, action: 'upsert' },
    { fullUrl: relation.entry.fullUrl ?? '', resource: relatedPerson, match: { system: `${HUB_IDS}/related-person-key`, value: `${babyNhs}:MTH` }, action: 'upsert' },
  ];
  for (const obs of located.filter((l) => l.resource.resourceType === 'Observation')) {
    const subject = (obs.resource['subject'] as Reference | undefined)?.reference;
    const subjectNhs = subject === baby.entry.fullUrl ? babyNhs : subject === mother.entry.fullUrl ? motherNhs : undefined;
    if (subjectNhs === undefined || obs.entry.fullUrl === undefined) continue;
    const observation = convertObservation(obs.resource);
    entries.push({
      fullUrl: obs.entry.fullUrl,
      resource: observation,
      match: { system: `${HUB_IDS}/birth-observation`, value: `${subjectNhs}:${codes(obs.resource['code']).join('+')}` },
      action: ctx.action,
    });
  }
  const birthDate = typeof baby.resource['birthDate'] === 'string' ? baby.resource['birthDate'] : undefined;
  if (birthDate === undefined) return invalid({ code: 'required', diagnostics: 'the baby has no birthDate', location: `${baby.path}.resource.birthDate` });
  const effects: UnitEffect[] = ctx.action === 'delete' ? [] : [{ kind: 'birth', motherNhsNumber: motherNhs, babyFullUrl: baby.entry.fullUrl ?? '', date: birthDate, outcome }];
  return ok({ messageKey: ctx.messageKey, event: 'pds-birth-notification-1', senderCode: ctx.senderCode, entries, effects });
}

function vaccination(located: Located[], ctx: Context): AdapterResult<IngestUnit> {
  const issues: AdapterIssue[] = [];
  const patient = located.find((l) => l.resource.resourceType === 'Patient');
  const immunizations = located.filter((l) => l.resource.resourceType === 'Immunization');
  if (patient === undefined || immunizations.length === 0) {
    return invalid({ code: 'required', diagnostics: 'a vaccinations message carries the Patient and at least one Immunization', location: 'Bundle.entry' });
  }
  const nhs = nhsNumberOf(patient, issues);
  const entries: UnitEntry[] = [];
  if (nhs !== undefined) entries.push({ fullUrl: patient.entry.fullUrl ?? '', resource: convertPatient(patient, nhs), match: { system: NHS_NUMBER_SYSTEM, value: nhs }, action: 'upsert' });
  for (const imm of immunizations) {
    const identifier = (imm.resource['identifier'] as Identifier[] | undefined)?.[0];
    if (identifier?.system === undefined || identifier.value === undefined) {
      issues.push({ code: 'required', diagnostics: 'the Immunization needs an identifier so later updates and deletes can find it', location: `${imm.path}.resource.identifier` });
      continue;
    }
    entries.push({
      fullUrl: imm.entry.fullUrl ?? '',
      resource: convertImmunization(imm.resource, patient.entry.fullUrl ?? '', located),
      match: { system: identifier.system, value: identifier.value },
      action: ctx.action,
    });
  }
  if (issues.length > 0) return invalid(...issues);
  return ok({ messageKey: ctx.messageKey, event: 'vaccinations-1', senderCode: ctx.senderCode, entries, effects: [] });
}

function nhsNumberOf(l: Located, issues: AdapterIssue[]): string | undefined {
  const identifiers = (l.resource['identifier'] as Identifier[] | undefined) ?? [];
  const index = identifiers.findIndex((i) => i.system === NHS_NUMBER_SYSTEM);
  const value = identifiers[index]?.value;
  const valid = value === undefined ? undefined : validNhsNumber(value);
  if (valid === undefined) {
    issues.push({
      code: index < 0 ? 'required' : 'value',
      diagnostics: index < 0 ? 'this Patient has no NHS number' : `${value ?? ''} is not a valid NHS number (modulus 11 check)`,
      location: index < 0 ? `${l.path}.resource.identifier` : `${l.path}.resource.identifier[${index}].value`,
    });
  }
  return valid;
}

/** CareConnect Patient (STU3) → R4 Patient with UK Core NHS number verification status. */
function convertPatient(l: Located, nhs: string): Patient {
  const source: Patient = stripServerFields(l.resource as unknown as Patient) ?? { resourceType: 'Patient' };
  // Of meta only the security labels are kept (the STU3 profiles and versions are not the hub's); a
  // restricted baby or mother stays restricted. See: https://hl7.org/fhir/R4/security-labels.html
  const { meta, link: _link, ...rest } = source;
  const security = (meta?.security ?? []).filter((c) => c.system !== undefined && c.code !== undefined).map((c) => ({ system: c.system, code: c.code, ...(c.display === undefined ? {} : { display: c.display }) }));
  const verification = (l.resource['identifier'] as Identifier[] | undefined)
    ?.find((i) => i.system === NHS_NUMBER_SYSTEM)
    ?.extension?.find((e) => e.url === CC_VERIFICATION)?.valueCodeableConcept?.coding?.[0];
  const identifier: Identifier = {
    system: NHS_NUMBER_SYSTEM,
    value: nhs,
    ...(verification?.code === undefined
      ? {}
      : { extension: [{ url: NHS_NUMBER_VERIFICATION_EXTENSION, valueCodeableConcept: { coding: [{ system: NHS_NUMBER_VERIFICATION_SYSTEM, code: verification.code, ...(verification.display === undefined ? {} : { display: verification.display }) }] } }] }),
  };
  return {
    ...rest,
    ...(security.length === 0 ? {} : { meta: { security } }),
    identifier: [identifier],
    ...(source.generalPractitioner === undefined ? {} : { generalPractitioner: source.generalPractitioner.map(odsReference) }),
  };
}

/** Spine directory URLs (".../Organization/Y90001") become identifier references. */
function odsReference(ref: Reference): Reference {
  const code = ref.reference === undefined ? undefined : /\/Organization\/([A-Z0-9]+)$/.exec(ref.reference)?.[1];
  return code === undefined ? ref : { type: 'Organization', identifier: { system: ODS_SYSTEM, value: code } };
}

function convertObservation(resource: Stu3Resource): Observation {
  const source = stripServerFields(resource as unknown as Observation) ?? ({ resourceType: 'Observation' } as Observation);
  const { meta: _meta, ...rest } = source;
  return {
    ...rest,
    ...(source.category === undefined
      ? {}
      : {
          category: source.category.map((c) => ({
            ...c,
            coding: c.coding?.map((k) => (k.system === 'http://hl7.org/fhir/observation-category' ? { ...k, system: 'http://terminology.hl7.org/CodeSystem/observation-category' } : k)),
          })),
        }),
  };
}

/** STU3 Immunization (notGiven, explanation, date, practitioner) → R4 (status, statusReason, occurrence, performer). */
function convertImmunization(r: Stu3Resource, patientUrl: string, located: readonly Located[]): Immunization {
  const notGiven = r['notGiven'] === true;
  const explanation = (r['explanation'] as { reason?: unknown[]; reasonNotGiven?: unknown[] } | undefined) ?? {};
  const status = r['status'] === 'entered-in-error' ? 'entered-in-error' : notGiven ? 'not-done' : 'completed';
  const extensions = ((r['extension'] as Extension[] | undefined) ?? []).map((e) => (e.url === CC_VACCINATION_PROCEDURE ? { ...e, url: VACCINATION_PROCEDURE_EXTENSION } : e));
  const practitioners = (r['practitioner'] as { role?: unknown; actor?: Reference }[] | undefined) ?? [];
  const protocol = (r['vaccinationProtocol'] as { doseSequence?: number }[] | undefined)?.[0];
  const copy = (key: string): Record<string, unknown> => (r[key] === undefined ? {} : { [key]: r[key] });
  return {
    resourceType: 'Immunization',
    ...(extensions.length === 0 ? {} : { extension: extensions }),
    ...copy('identifier'),
    status,
    ...(notGiven && explanation.reasonNotGiven?.[0] !== undefined ? { statusReason: explanation.reasonNotGiven[0] } : {}),
    vaccineCode: r['vaccineCode'] as Immunization['vaccineCode'],
    patient: { reference: patientUrl },
    ...(typeof r['date'] === 'string' ? { occurrenceDateTime: r['date'] } : { occurrenceString: 'not recorded' }),
    ...copy('primarySource'),
    ...copy('lotNumber'),
    ...copy('expirationDate'),
    ...copy('site'),
    ...copy('route'),
    ...copy('doseQuantity'),
    ...copy('note'),
    ...(explanation.reason === undefined ? {} : { reasonCode: explanation.reason }),
    ...performers(practitioners, located),
    ...(protocol?.doseSequence === undefined ? {} : { protocolApplied: [{ doseNumberPositiveInt: protocol.doseSequence }] }),
  } as Immunization;
}

/**
 * Performers point at entries the hub does not store on their own: an
 * Organization becomes an ODS identifier reference, a Practitioner its name;
 * anything else is dropped rather than left dangling.
 */
function performers(practitioners: readonly { actor?: Reference }[], located: readonly Located[]): Pick<Immunization, 'performer'> {
  const performer = practitioners.flatMap((p): NonNullable<Immunization['performer']> => {
    const target = located.find((l) => l.entry.fullUrl !== undefined && l.entry.fullUrl === p.actor?.reference)?.resource;
    if (target === undefined) return p.actor?.identifier === undefined ? [] : [{ actor: p.actor }];
    if (target['resourceType'] === 'Organization') {
      const ods = (target['identifier'] as Identifier[] | undefined)?.find((i) => i.system === ODS_SYSTEM)?.value;
      return ods === undefined ? [] : [{ actor: { type: 'Organization', identifier: { system: ODS_SYSTEM, value: ods } } }];
    }
    if (target['resourceType'] === 'Practitioner') {
      const name = (target['name'] as { family?: string; given?: string[] }[] | undefined)?.[0];
      const display = [...(name?.given ?? []), name?.family ?? ''].join(' ').trim();
      return display === '' ? [] : [{ actor: { type: 'Practitioner', display } }];
    }
    return [];
  });
  return performer.length === 0 ? {} : { performer };
}

function relationshipCodings(resource: Stu3Resource): Coding[] {
  const coding = (resource['relationship'] as { coding?: Coding[] } | undefined)?.coding ?? [];
  return coding.filter((c) => c.code !== undefined && !(c.system === ROLE_CODE && c.code === 'MTH')).map((c) => (c.code === PERSON_RELATIONSHIP_MOTHER ? { ...c } : c));
}

function codes(concept: unknown): string[] {
  return ((concept as { coding?: Coding[] } | undefined)?.coding ?? []).flatMap((c) => (c.code === undefined ? [] : [c.code]));
}
