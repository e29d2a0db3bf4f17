import { cafUnit, cafIssues, type CafOptions } from './caf.js';
import { CAF_ITEM, CAF_QUESTIONNAIRE, CAF_QUESTIONNAIRE_CANONICAL, CAF_QUESTIONNAIRE_URL } from './caf-questionnaire.js';
import { readAnswers } from './caf-response-answers.js';
import { itemFaults } from './caf-response-items.js';
import { Locations, QR } from './caf-response-locations.js';
import { cafExportSchema, motherOf, type CafExport } from './caf-schema.js';
import { ORGANISATION_TYPE_SYSTEM } from './caf-consent.js';
import { invalid, ok, unparsable, type AdapterIssue, type AdapterResult, type IngestUnit } from './ingest-unit.js';
import { NHS_NUMBER_SYSTEM, validNhsNumber } from './nhs-number.js';
import { SOURCE_REVISION_SYSTEM } from '../fhir/source-revision.js';

// The second input shape of a CAF-compliant assessment: a FHIR R4
// QuestionnaireResponse answering the hub's own CAF Questionnaire, as a
// health visitors' (or council's) form system records it. The response holds,
// as contained resources, what the form alone does not:
//   - the child: a Patient the `subject` references ("#child"), with the NHS number and date of birth;
//     for an unborn child (item expected-delivery-date answered) the subject is the mother
//     instead, by her NHS number, as the hub files such an assessment;
//   - the assessor: a PractitionerRole the `author` references, naming the
//     practitioner and the sending organisation (its code is the sender, checked against the client);
//     the lead professional, the author of the action plan, likewise (item lead-professional);
//   - the family's decision: one Consent, in the shape the hub stores a CAF consent
//     (status active or rejected, dateTime, performer, sourceAttachment.title the
//     statement, a permit to organisation types with nested denies).
// The assessment reference is `identifier.value`; the sender's revision is a
// meta.tag (https://eastside.example/fhir/CodeSystem/source-revision, code "1", "2", ...).
// The items are checked against the Questionnaire first, then everything goes
// through the same schema and unit as the CAF JSON shape, so both shapes give
// the same records, the same checks and the same message key (caf:<reference>:<revision>):
// the same revision sent in either shape is one message. The parents and carers
// (items parent-carer) and the action plan (items action-plan) are answers of
// repeating groups (caf-response-answers.ts reads them).
// See: https://hl7.org/fhir/R4/questionnaireresponse.html and https://hl7.org/fhir/R4/references.html#contained

type Json = Record<string, unknown>;
const isRecord = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

export function adaptCafResponse(json: unknown, options: CafOptions): AdapterResult<IngestUnit> {
  if (!isRecord(json) || json['resourceType'] !== QR) {
    return unparsable({ code: 'structure', diagnostics: 'a CAF QuestionnaireResponse is a JSON object with resourceType QuestionnaireResponse', location: `${QR}.resourceType` });
  }
  const faults: AdapterIssue[] = [];
  const questionnaire = json['questionnaire'];
  if (questionnaire !== CAF_QUESTIONNAIRE_URL && questionnaire !== CAF_QUESTIONNAIRE_CANONICAL) {
    faults.push({ code: 'value', diagnostics: `the hub reads answers to ${CAF_QUESTIONNAIRE_CANONICAL} only`, location: `${QR}.questionnaire` });
  }
  faults.push(...itemFaults(json['item'], CAF_QUESTIONNAIRE.item ?? [], `${QR}.item`));
  const where = new Locations();
  const read = readAnswers(Array.isArray(json['item']) ? json['item'] : [], where);
  const unborn = read.expectedDeliveryDate !== undefined;

  const contained = Array.isArray(json['contained']) ? json['contained'] : [];
  const subject = containedAt(contained, json['subject'], 'Patient');
  if (subject === undefined) {
    const whose = unborn ? 'the mother (the child is unborn)' : 'the child';
    faults.push({ code: 'required', diagnostics: `subject must reference ${whose}: a contained Patient ("#id")`, location: `${QR}.subject` });
  }
  const author = containedAt(contained, json['author'], 'PractitionerRole');
  if (author === undefined) faults.push({ code: 'required', diagnostics: 'author must reference the assessor: a contained PractitionerRole ("#id") with the practitioner and organisation', location: `${QR}.author` });
  const lead = read.leadProfessional === undefined ? undefined : containedAt(contained, { reference: read.leadProfessional.reference }, 'PractitionerRole');
  if (read.leadProfessional !== undefined && lead === undefined) {
    faults.push({ code: 'value', diagnostics: `${CAF_ITEM.leadProfessional} must reference a contained PractitionerRole ("#id"), as author does`, location: read.leadProfessional.at });
  }
  const consents = contained.flatMap((c: unknown, i) => (isRecord(c) && c['resourceType'] === 'Consent' ? [i] : []));
  if (consents.length !== 1) faults.push({ code: 'required', diagnostics: "the family's consent decision is one contained Consent", location: `${QR}.contained` });
  if (faults.length > 0 || subject === undefined || author === undefined || consents[0] === undefined) return invalid(...faults);

  const at = (i: number): string => `${QR}.contained[${i}]`;
  const role = contained[author] as Json;
  const organisation = path(role, 'organization', 'identifier', 'value');
  where.set('organisation', `${at(author)}.organization.identifier.value`);
  const consentIndex = consents[0];
  const exported = {
    organisation,
    assessment: {
      reference: path(json, 'identifier', 'value'),
      revision: revision(json),
      status: json['status'],
      ...authoredDates(json['status'], json['authored']),
      ...read.assessment,
      child: unborn ? { unborn: true, expectedDeliveryDate: read.expectedDeliveryDate } : childOf(contained[subject] as Json, at(subject), where),
      assessor: professionalOf(role),
      ...(lead === undefined ? {} : { leadProfessional: professionalOf(contained[lead] as Json) }),
      consent: consentOf(contained[consentIndex] as Json, at(consentIndex), where),
    },
  };
  where.set('assessment.reference', `${QR}.identifier.value`);
  where.set('assessment.revision', `${QR}.meta.tag`);
  where.set('assessment.status', `${QR}.status`);
  where.set('assessment.startedOn', `${QR}.authored`);
  where.set('assessment.completedOn', `${QR}.authored`);
  where.set('assessment.assessor', `${at(author)}.practitioner.display`);
  where.set('assessment.assessor.role', `${at(author)}.code`);
  if (lead !== undefined) {
    where.set('assessment.leadProfessional', `${at(lead)}.practitioner.display`);
    where.set('assessment.leadProfessional.role', `${at(lead)}.code`);
  }
  if (unborn) where.set('assessment.child', `${QR}.subject`);
  const parsed = cafExportSchema.safeParse(exported, { reportInput: true });
  if (!parsed.success) return invalid(...parsed.error.issues.flatMap(cafIssues).map((issue) => where.relocate(issue)));
  const mismatch = unborn ? subjectNotMother(parsed.data, contained[subject] as Json, at(subject)) : undefined;
  if (mismatch !== undefined) return invalid(mismatch);
  return ok(cafUnit(parsed.data, { ...options, revisionLocation: `${QR}.meta.tag` }));
}

/**
 * An unborn child's assessment is filed on the mother (caf.ts): the subject
 * must be her, the mother the parents and carers name (caf-schema.ts motherOf),
 * by NHS number. Her details are read from her parent-carer group.
 */
function subjectNotMother(exported: CafExport, patient: Json, at: string): AdapterIssue | undefined {
  const mother = motherOf(exported.assessment.parentsCarers);
  const identifiers: unknown = patient['identifier'];
  const nhs: unknown = Array.isArray(identifiers) ? path((identifiers as unknown[]).find((i) => isRecord(i) && i['system'] === NHS_NUMBER_SYSTEM), 'value') : undefined;
  const subjectNhs = typeof nhs === 'string' ? validNhsNumber(nhs) : undefined;
  if (mother !== undefined && subjectNhs === mother.nhsNumber) return undefined;
  return {
    code: 'business-rule',
    diagnostics: `${CAF_ITEM.expectedDeliveryDate} is answered, so the child is unborn and the subject is the mother: the contained Patient's NHS number must be that of the mother-to-be (or mother) in a ${CAF_ITEM.parentCarer} group`,
    location: `${at}.identifier`,
  };
}

/** A professional from a contained PractitionerRole, as the export names one. */
function professionalOf(role: Json): Json {
  return {
    name: path(role, 'practitioner', 'display'),
    role: text(first(role['code'])),
    organisation: path(role, 'organization', 'identifier', 'value'),
    email: contact(role, 'email'),
    telephone: contact(role, 'phone'),
  };
}

/** The index of the contained resource of `type` a reference ("#id") names. */
function containedAt(contained: readonly unknown[], reference: unknown, type: string): number | undefined {
  const ref = isRecord(reference) ? reference['reference'] : undefined;
  if (typeof ref !== 'string' || !ref.startsWith('#')) return undefined;
  const index = contained.findIndex((c) => isRecord(c) && c['resourceType'] === type && c['id'] === ref.slice(1));
  return index === -1 ? undefined : index;
}

function path(value: unknown, ...keys: string[]): unknown {
  return keys.reduce<unknown>((v, k) => (isRecord(v) ? v[k] : undefined), value);
}
const first = (value: unknown): unknown => (Array.isArray(value) ? value[0] : undefined);
const text = (concept: unknown): unknown => path(concept, 'text') ?? path(first(path(concept, 'coding')), 'display');

/** The value of a resource's first telecom of a kind (phone, email). */
function contact(resource: Json, system: string): unknown {
  const telecom: unknown = resource['telecom'];
  return path(Array.isArray(telecom) ? (telecom as unknown[]).find((t) => path(t, 'system') === system) : undefined, 'value');
}

/** The sender's revision from meta.tag; a code that is not a number is passed on for the schema to refuse. */
function revision(json: Json): unknown {
  const tags = path(json, 'meta', 'tag');
  const tag: unknown = Array.isArray(tags) ? (tags as unknown[]).find((t) => isRecord(t) && t['system'] === SOURCE_REVISION_SYSTEM) : undefined;
  const code = path(tag, 'code');
  return typeof code === 'string' && /^\d+$/.test(code) ? Number(code) : code;
}

/** authored is when the assessment was completed (status completed) or started. */
function authoredDates(status: unknown, authored: unknown): { startedOn: unknown; completedOn?: unknown } {
  const day = typeof authored === 'string' ? authored.slice(0, 10) : authored;
  return status === 'completed' ? { startedOn: day, completedOn: day } : { startedOn: day };
}

function childOf(patient: Json, at: string, where: Locations): Json {
  const identifiers: unknown = patient['identifier'];
  const nhs: unknown = Array.isArray(identifiers) ? (identifiers as unknown[]).find((i) => isRecord(i) && i['system'] === NHS_NUMBER_SYSTEM) : undefined;
  const name = first(patient['name']);
  const address = first(patient['address']);
  where.set('assessment.child', at);
  for (const [field, element] of [
    ['nhsNumber', 'identifier'],
    ['givenName', 'name[0].given'],
    ['familyName', 'name[0].family'],
    ['dateOfBirth', 'birthDate'],
    ['gender', 'gender'],
    ['address', 'address[0]'],
    ['firstLanguage', 'communication[0].language'],
  ] as const) {
    where.set(`assessment.child.${field}`, `${at}.${element}`);
  }
  return {
    nhsNumber: path(nhs, 'value'),
    givenName: first(path(name, 'given')),
    familyName: path(name, 'family'),
    dateOfBirth: patient['birthDate'],
    gender: patient['gender'],
    address: address === undefined ? undefined : { lines: path(address, 'line'), town: path(address, 'city'), postcode: path(address, 'postalCode') },
    firstLanguage: path(first(path(first(patient['communication']), 'language', 'coding')), 'code'),
  };
}

/** The family's decision, read back from the Consent shape the hub stores (caf-consent.ts). */
function consentOf(consent: Json, at: string, where: Locations): Json {
  const provision = isRecord(consent['provision']) ? consent['provision'] : {};
  const types = (actors: unknown): unknown[] =>
    (Array.isArray(actors) ? actors : []).map((a) => {
      const id = path(a, 'reference', 'identifier');
      return path(id, 'system') === ORGANISATION_TYPE_SYSTEM ? path(id, 'value') : `(an actor that is not an organisation type)`;
    });
  const nested = Array.isArray(provision['provision']) ? provision['provision'] : [];
  const given = consent['status'] === 'active' ? true : consent['status'] === 'rejected' ? false : consent['status'];
  const performer = path(first(consent['performer']), 'display');
  for (const [field, element] of [
    ['given', 'status'],
    ['givenBy', 'performer'],
    ['date', 'dateTime'],
    ['statement', 'sourceAttachment.title'],
    ['shareWith', 'provision.actor'],
    ['doNotShareWith', 'provision.provision'],
  ] as const) {
    where.set(`assessment.consent.${field}`, `${at}.${element}`);
  }
  where.set('assessment.consent', at);
  return {
    given,
    ...(performer === undefined ? {} : { givenBy: { name: performer } }),
    date: typeof consent['dateTime'] === 'string' ? consent['dateTime'].slice(0, 10) : consent['dateTime'],
    statement: path(consent, 'sourceAttachment', 'title'),
    shareWith: given === true ? types(provision['actor']) : [],
    doNotShareWith: nested.flatMap((p) => (path(p, 'type') === 'deny' ? types(path(p, 'actor')) : [])),
  };
}
