import type { FhirResource, Reference } from 'fhir/r4.js';
import type { ZodError } from 'zod';
import { CAF_CONSENT_SYSTEM, cafConsent } from './caf-consent.js';
import { childPatientEntry, nonEmpty, parentEntries, parentPatientUrl, practitionerEntry, prune } from './caf-people.js';
import { revisionTag } from '../fhir/source-revision.js';
import { LOCAL_ORG_SYSTEM } from './codes.js';
import { CAF_DOMAIN_NAMES } from './caf-questionnaire.js';
import { actionPlan, CAF_ACTION_PLAN_SYSTEM, CAF_ASSESSMENT_SYSTEM, questionnaireResponse } from './caf-records.js';
import { cafExportSchema, motherOf, type CafExport, type CafParentCarer, type RuleParams } from './caf-schema.js';
import { entryReference, entryUrl, invalid, ok, unparsable, type AdapterIssue, type AdapterResult, type IngestUnit, type UnitEffect, type UnitEntry } from './ingest-unit.js';

// A CAF-compliant assessment in the CAF JSON shape, from the council's early
// help case system or the health visitors' own system (whoever sends it, its
// `organisation` must be the sender, and the protocol's `sources` says who may)
// → the child (or, for an unborn child, the mother), the parents and carers,
// the professionals, the assessment as a QuestionnaireResponse, its action plan
// and the family's consent decision, recorded by the sender. Pure: the same
// export always gives the same unit.

export interface CafOptions {
  /** The identifier system of the sender's organisation code (ODS for an NHS trust, local for a council): the Consent's recorder. */
  senderSystem: string;
}

const DEFAULT_OPTIONS: CafOptions = { senderSystem: LOCAL_ORG_SYSTEM };

export function adaptCaf(json: unknown, options: CafOptions = DEFAULT_OPTIONS): AdapterResult<IngestUnit> {
  if (!isRecord(json)) {
    return unparsable({ code: 'structure', diagnostics: 'a CAF export is a JSON object with an "assessment" object', location: '$' });
  }
  if (!isRecord(json['assessment'])) {
    return unparsable({ code: 'structure', diagnostics: 'this is not a CAF export: it has no "assessment" object', location: 'assessment' });
  }
  const parsed = cafExportSchema.safeParse(json, { reportInput: true });
  if (!parsed.success) return invalid(...parsed.error.issues.flatMap(cafIssues));
  return ok(cafUnit(parsed.data, { ...options, revisionLocation: 'assessment.revision' }));
}

/** The unit of a parsed assessment (from either input shape); revisionLocation says where the input stated its revision. */
export function cafUnit(x: CafExport, options: CafOptions & { revisionLocation: string }): IngestUnit {
  const a = x.assessment;
  const messageKey = `caf:${a.reference}:${a.revision}`;
  const entries: UnitEntry[] = [];
  const effects: UnitEffect[] = [];

  // Whose record this is filed on: the child, or for an unborn child the mother.
  let holder: { fullUrl: string; recordKey: string; display: string; motherIndex?: number };
  if (!a.child.unborn) {
    const child = childPatientEntry(messageKey, a.child);
    entries.push(child);
    holder = { fullUrl: child.fullUrl, recordKey: a.child.nhsNumber, display: `${a.child.givenName} ${a.child.familyName}` };
  } else {
    const mother = motherOf(a.parentsCarers);
    if (mother === undefined) throw new Error('an unborn child without an identifiable mother passed the CAF schema');
    const motherIndex = a.parentsCarers.indexOf(mother);
    holder = { fullUrl: parentPatientUrl(messageKey, motherIndex), recordKey: `unborn:${mother.nhsNumber}`, display: nameOf(mother), motherIndex };
    effects.push({ kind: 'unborn', motherNhsNumber: mother.nhsNumber, expectedDeliveryDate: a.child.expectedDeliveryDate });
  }
  a.parentsCarers.forEach((parent, i) => entries.push(...parentEntries(messageKey, parent, i, holder)));

  const assessor = practitionerEntry(messageKey, x.organisation, a.assessor);
  const lead = a.leadProfessional === undefined ? undefined : practitionerEntry(messageKey, x.organisation, a.leadProfessional);
  entries.push(assessor);
  if (lead !== undefined && lead.fullUrl !== assessor.fullUrl) entries.push(lead);

  const subject: Reference = { reference: holder.fullUrl, display: holder.display };
  const qrUrl = entryUrl(messageKey, 'QuestionnaireResponse');
  const qr = questionnaireResponse(a, subject, { reference: assessor.fullUrl, display: a.assessor.name });
  entries.push({
    fullUrl: qrUrl,
    resource: { ...qr, meta: { tag: [revisionTag(a.revision)] } },
    match: { system: CAF_ASSESSMENT_SYSTEM, value: a.reference },
    action: 'upsert',
    // A later revision replaces the assessment; an older one than held is refused (ingest-service.ts).
    revision: { number: a.revision, location: options.revisionLocation },
  });

  if (a.actionPlan.length > 0) {
    const author = lead === undefined || a.leadProfessional === undefined ? undefined : { reference: lead.fullUrl, display: a.leadProfessional.name };
    entries.push({
      fullUrl: entryUrl(messageKey, 'CarePlan'),
      resource: actionPlan(a, subject, qrUrl, author),
      match: { system: CAF_ACTION_PLAN_SYSTEM, value: a.reference },
      action: 'upsert',
    });
  }

  const consent = cafConsent(a.reference, { system: options.senderSystem, value: x.organisation }, a.consent, subject, consentPerformer(messageKey, a.parentsCarers, a.consent.givenBy?.name, holder.motherIndex));
  entries.push({ fullUrl: entryUrl(messageKey, 'Consent'), resource: consent, match: { system: CAF_CONSENT_SYSTEM, value: a.reference }, action: 'upsert' });

  return {
    messageKey,
    event: 'early-help-assessment',
    senderCode: x.organisation,
    entries: entries.map((e) => ({ ...e, resource: prune<FhirResource>(e.resource) })),
    effects,
  };
}

const nameOf = (p: CafParentCarer): string => `${p.givenName} ${p.familyName}`;
const normalise = (name: string): string => name.trim().replace(/\s+/g, ' ').toLowerCase();

/**
 * Who gave consent: the parent of that name if the CAF lists one (the mother
 * of an unborn child is the Patient herself; anyone else acts as a
 * RelatedPerson), else just the name as given.
 */
function consentPerformer(messageKey: string, parents: readonly CafParentCarer[], name: string | undefined, motherIndex: number | undefined): Reference | undefined {
  const display = nonEmpty(name);
  if (display === undefined) return undefined;
  const index = parents.findIndex((p) => normalise(nameOf(p)) === normalise(display));
  if (index === -1) return { display };
  const role = index === motherIndex ? `Patient/parent-${index}` : `RelatedPerson/parent-${index}`;
  return { ...entryReference(entryUrl(messageKey, role)), display };
}

// --- zod issues → AdapterIssues, located by a FHIRPath-like path into the export ---

type ZodIssue = ZodError['issues'][number];

const EXPECTED: Readonly<Record<string, string>> = {
  string: 'text',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
  array: 'a list',
  object: 'an object',
};

function describe(input: unknown): string {
  if (input === null) return 'null';
  if (Array.isArray(input)) return 'a list';
  if (typeof input === 'object') return 'an object';
  if (typeof input === 'number') return String(input);
  return typeof input === 'string' ? 'text' : typeof input;
}

export function locationOf(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '$';
  return path
    .map((segment, i) => {
      if (typeof segment === 'number') return `[${segment}]`;
      const key = String(segment);
      const name = /^[A-Za-z_][A-Za-z0-9_]*$/.test(key) ? key : `\`${key.replace(/`/g, '\\`')}\``;
      return i === 0 ? name : `.${name}`;
    })
    .join('');
}

/** A schema issue as the adapter reports it, located in the CAF JSON shape (caf-response.ts relocates it). */
export function cafIssues(issue: ZodIssue): AdapterIssue[] {
  const location = locationOf(issue.path);
  // Name the field as a reader would: "givenName", "peoplePresent[0]".
  const lastKey = issue.path.findLastIndex((s) => typeof s === 'string');
  const field = lastKey === -1 ? 'the export' : locationOf(issue.path.slice(lastKey));
  switch (issue.code) {
    case 'invalid_type':
      return issue.input === undefined
        ? [{ code: 'required', diagnostics: `${field} is required`, location }]
        : [{ code: 'value', diagnostics: `${field} must be ${EXPECTED[issue.expected] ?? issue.expected}, not ${describe(issue.input)}`, location }];
    case 'unrecognized_keys':
      return issue.keys.map((key) => ({
        code: 'not-supported',
        diagnostics: `${key} is not a CAF domain (known: ${CAF_DOMAIN_NAMES.join(', ')})`,
        location: locationOf([...issue.path, key]),
      }));
    case 'too_small':
      return issue.origin === 'string' && issue.minimum === 1
        ? [{ code: 'required', diagnostics: `${field} must not be empty`, location }]
        : [{ code: 'value', diagnostics: `${field} ${issue.message}`, location }];
    case 'invalid_format':
    case 'too_big':
    case 'not_multiple_of':
      return [{ code: 'value', diagnostics: `${field} ${issue.message}`, location }];
    case 'invalid_value':
      return [{ code: 'code-invalid', diagnostics: issue.message, location }];
    case 'custom':
      return [{ code: ruleCode(issue.params), diagnostics: issue.message, location }];
    case 'invalid_union':
    case 'invalid_key':
    case 'invalid_element':
      return [{ code: 'invalid', diagnostics: issue.message, location }];
    default: {
      const unexpected: never = issue;
      return [{ code: 'invalid', diagnostics: (unexpected as ZodIssue).message, location }];
    }
  }
}

function ruleCode(params: unknown): AdapterIssue['code'] {
  const code = isRecord(params) ? params['code'] : undefined;
  const known: readonly RuleParams['code'][] = ['required', 'value', 'business-rule', 'code-invalid'];
  return known.find((k) => k === code) ?? 'business-rule';
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
