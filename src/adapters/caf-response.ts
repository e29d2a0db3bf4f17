import { cafUnit, cafIssues, type CafOptions } from './caf.js';
import { CAF_DOMAIN_NAMES, CAF_ITEM, CAF_QUESTIONNAIRE, CAF_QUESTIONNAIRE_CANONICAL, CAF_QUESTIONNAIRE_URL } from './caf-questionnaire.js';
import { itemFaults } from './caf-response-items.js';
import { cafExportSchema } from './caf-schema.js';
import { ORGANISATION_TYPE_SYSTEM } from './caf-consent.js';
import { invalid, ok, unparsable, type AdapterIssue, type AdapterResult, type IngestUnit } from './ingest-unit.js';
import { NHS_NUMBER_SYSTEM } from './nhs-number.js';
import { SOURCE_REVISION_SYSTEM } from '../fhir/source-revision.js';

// The second input shape of a CAF-compliant assessment: a FHIR R4
// QuestionnaireResponse answering the hub's own CAF Questionnaire, as a
// health visitors' (or council's) form system records it. The response holds,
// as contained resources, what the form alone does not:
//   - the child: a Patient the `subject` references ("#child"), with the NHS number and date of birth;
//   - the assessor: a PractitionerRole the `author` references, naming the
//     practitioner and the sending organisation (its code is the sender, checked against the client);
//   - the family's decision: one Consent, in the shape the hub stores a CAF consent
//     (status active or rejected, dateTime, performer, sourceAttachment.title the
//     statement, a permit to organisation types with nested denies).
// The assessment reference is `identifier.value`; the sender's revision is a
// meta.tag (https://eastside.example/fhir/CodeSystem/source-revision, code "1", "2", ...).
// The items are checked against the Questionnaire first, then everything goes
// through the same schema and unit as the CAF JSON shape, so both shapes give
// the same records, the same checks and the same message key (caf:<reference>:<revision>):
// the same revision sent in either shape is one message. Not carried in this
// shape: an unborn child, parents and carers, and the action plan (send the JSON shape for those).
// See: https://hl7.org/fhir/R4/questionnaireresponse.html and https://hl7.org/fhir/R4/references.html#contained

type Json = Record<string, unknown>;
const isRecord = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const QR = 'QuestionnaireResponse';

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
  const items = Array.isArray(json['item']) ? json['item'].filter(isRecord) : [];
  const edd = items.findIndex((i) => i['linkId'] === CAF_ITEM.expectedDeliveryDate);
  if (edd !== -1) faults.push({ code: 'not-supported', diagnostics: "an unborn child's assessment is sent in the CAF JSON shape", location: `${QR}.item[${edd}]` });

  const contained = Array.isArray(json['contained']) ? json['contained'] : [];
  const child = containedAt(contained, json['subject'], 'Patient');
  if (child === undefined) faults.push({ code: 'required', diagnostics: 'subject must reference the child: a contained Patient ("#id")', location: `${QR}.subject` });
  const author = containedAt(contained, json['author'], 'PractitionerRole');
  if (author === undefined) faults.push({ code: 'required', diagnostics: 'author must reference the assessor: a contained PractitionerRole ("#id") with the practitioner and organisation', location: `${QR}.author` });
  const consents = contained.flatMap((c: unknown, i) => (isRecord(c) && c['resourceType'] === 'Consent' ? [i] : []));
  if (consents.length !== 1) faults.push({ code: 'required', diagnostics: "the family's consent decision is one contained Consent", location: `${QR}.contained` });
  if (faults.length > 0 || child === undefined || author === undefined || consents[0] === undefined) return invalid(...faults);

  const where = new Locations();
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
      ...answers(items, where),
      child: childOf(contained[child] as Json, at(child), where),
      assessor: { name: path(role, 'practitioner', 'display'), role: text(first(role['code'])), organisation, email: contact(role, 'email'), telephone: contact(role, 'phone') },
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
  const parsed = cafExportSchema.safeParse(exported, { reportInput: true });
  if (!parsed.success) return invalid(...parsed.error.issues.flatMap(cafIssues).map((issue) => ({ ...issue, location: where.of(issue.location) })));
  return ok(cafUnit(parsed.data, { ...options, revisionLocation: `${QR}.meta.tag` }));
}

/** Export paths ("assessment.child.dateOfBirth") → where the response said it; the longest known prefix wins. */
class Locations {
  private readonly map = new Map<string, string>();
  set(exportPath: string, location: string): void {
    this.map.set(exportPath, location);
  }
  of(exportPath: string): string {
    let best: string | undefined;
    for (const key of this.map.keys()) {
      const boundary = exportPath.charAt(key.length);
      if (exportPath.startsWith(key) && (boundary === '' || boundary === '.' || boundary === '[') && key.length > (best?.length ?? -1)) best = key;
    }
    return best === undefined ? QR : (this.map.get(best) ?? QR);
  }
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

/** The answers, back in the export's fields (the items were checked against the Questionnaire already). */
function answers(items: readonly Json[], where: Locations): Json {
  const out: Json = {};
  const values = (item: Json): unknown[] => (Array.isArray(item['answer']) ? item['answer'] : []).map((a) => (isRecord(a) ? (a['valueString'] ?? a['valueDate'] ?? a['valueBoolean']) : undefined));
  const simple: Readonly<Record<string, string>> = {
    [CAF_ITEM.reasonForAssessment]: 'reasonForAssessment',
    [CAF_ITEM.childViews]: 'childViews',
    [CAF_ITEM.parentViews]: 'parentViews',
    [CAF_ITEM.teamAroundTheChildHeld]: 'teamAroundTheChildHeld',
    [CAF_ITEM.reviewDate]: 'reviewDate',
  };
  const domains: Json = {};
  items.forEach((item, i) => {
    const linkId = String(item['linkId']);
    const at = `${QR}.item[${i}]`;
    const field = simple[linkId];
    if (field !== undefined) {
      out[field] = values(item)[0];
      where.set(`assessment.${field}`, at);
    } else if (linkId === CAF_ITEM.peoplePresent) {
      out['peoplePresent'] = values(item);
      where.set('assessment.peoplePresent', at);
    } else if ((CAF_DOMAIN_NAMES as readonly string[]).includes(linkId)) {
      const groups = Array.isArray(item['item']) ? item['item'].filter(isRecord) : [];
      domains[linkId] = groups.map((group, j) => {
        where.set(`assessment.domains.${linkId}[${j}]`, `${at}.item[${j}]`);
        const parts = Array.isArray(group['item']) ? group['item'].filter(isRecord) : [];
        const part = (name: string): unknown => values(parts.find((p) => String(p['linkId']).endsWith(`.${name}`)) ?? {})[0];
        return { element: String(group['linkId']).slice(linkId.length + 1), strengths: part('strengths'), needs: part('needs') };
      });
    }
  });
  return { ...out, domains };
}
