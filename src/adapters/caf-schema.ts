import { z } from 'zod';
import { CAF_DOMAINS, type CafDomainName } from './caf-questionnaire.js';
import { validNhsNumber } from './nhs-number.js';

// The council's Early Help Assessment (CAF) JSON export, parsed once here.
// Shape rules (types, dates, vocabularies) and the rules that need several
// fields (a born child has an NHS number; an unborn one has a due date) are
// all stated in this schema, so the adapter only ever sees a valid export.
// Unknown keys are dropped (the export grows), except under `domains`, where
// an unknown key would be assessment content silently lost.
// Not carried on purpose: `household` (people who are not the subject of the
// sharing), `ethnicity` and `disability` (special-category data no flow in the
// ISP asks for), `earlyYearsSetting`. Add them to the schema when a flow does.

/** Organisation types a consent can name (urn:eastside:organisation-type; see the shared fixtures README). */
export const ORGANISATION_TYPES = ['maternity', 'gp', 'health-visiting', 'childrens-centre', 'early-help', 'hub-operator'] as const;
export type OrganisationType = (typeof ORGANISATION_TYPES)[number];

/** The export's words for a parent's or carer's relationship to the child (mapped to v3 RoleCode in caf-people.ts). */
export const RELATIONSHIPS = [
  'mother',
  'mother-to-be',
  'father',
  'father-to-be',
  'parent',
  'step-parent',
  'adoptive-parent',
  'foster-carer',
  'grandparent',
  'sibling',
  'other-relative',
  'guardian',
  'special-guardian',
  'carer',
  'other',
] as const;
export type Relationship = (typeof RELATIONSHIPS)[number];

/** The AdapterIssue code a schema rule reports, carried in a zod issue's params. */
export interface RuleParams {
  code: 'required' | 'value' | 'business-rule' | 'code-invalid';
}

// FHIR strings allow no control characters but tab, CR and LF
// (https://hl7.org/fhir/R4/datatypes.html#string), and PostgreSQL's jsonb
// refuses lone surrogates: refuse both here, at the field, not at storage.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]/;
const text = (): z.ZodString =>
  z.string().refine((v) => !CONTROL.test(v) && v.isWellFormed(), { error: 'the text holds control characters or broken Unicode', params: { code: 'value' } satisfies RuleParams });
const required = text().trim().min(1, 'must not be empty');
const freeText = text().optional();
const isoDate = z.iso.date({ error: 'must be a date (YYYY-MM-DD)' });
const nhsNumber = text()
  .refine((v) => validNhsNumber(v) !== undefined, {
    error: (issue) => `${JSON.stringify(issue.input) ?? ''} is not a valid NHS number (ten digits, modulus 11 check)`,
    params: { code: 'value' } satisfies RuleParams,
  })
  .transform((v) => validNhsNumber(v) ?? v);

/** An optional field: case systems export a blank ("") for "not recorded", which is taken as absent. */
function optional<T extends z.ZodType>(schema: T): z.ZodPreprocess<z.ZodOptional<T>> {
  return z.preprocess((v) => (typeof v === 'string' && v.trim() === '' ? undefined : v), schema.optional());
}
/** BCP 47 language tag, e.g. "en", "bn", "pt-BR". See: https://hl7.org/fhir/R4/languages.html */
const languageTag = text().regex(/^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$/, 'must be a BCP 47 language tag such as "en" or "bn"');

const address = z.object({
  lines: z.array(text()).optional(),
  town: text().optional(),
  postcode: text().optional(),
});
export type CafAddress = z.infer<typeof address>;

function enumOf<const T extends readonly [string, ...string[]]>(values: T, what: string) {
  return z.enum(values, { error: (issue) => `${JSON.stringify(issue.input) ?? 'nothing'} is not a known ${what} (expected one of ${values.join(', ')})` });
}

/**
 * The child: born (NHS number, names, date of birth) or unborn (expected
 * delivery date, no NHS number yet). Checked as a whole so that every missing
 * field is reported at once, then narrowed to a tagged union.
 */
const child = z
  .object({
    unborn: z.boolean().optional(),
    nhsNumber: text().optional(),
    givenName: text().optional(),
    familyName: text().optional(),
    dateOfBirth: optional(isoDate),
    expectedDeliveryDate: optional(isoDate),
    gender: optional(enumOf(['male', 'female', 'other', 'unknown'], 'administrative gender')),
    address: address.optional(),
    firstLanguage: optional(languageTag),
    /** The case system marks the child's record restricted (e.g. a protected address): carried as v3-Confidentiality R. */
    restricted: z.boolean({ error: 'must be true or false' }).optional(),
  })
  .transform((c, ctx) => {
    const fault = (path: string, message: string, code: RuleParams['code']): void => {
      ctx.issues.push({ code: 'custom', path: [path], message, input: c, params: { code } satisfies RuleParams });
    };
    if (c.unborn === true) {
      if (c.expectedDeliveryDate === undefined) fault('expectedDeliveryDate', 'an unborn child needs an expected delivery date', 'required');
      if (c.nhsNumber !== undefined && c.nhsNumber.trim() !== '') fault('nhsNumber', 'an unborn child has no NHS number yet', 'business-rule');
      if (c.expectedDeliveryDate === undefined) return z.NEVER;
      return { unborn: true as const, expectedDeliveryDate: c.expectedDeliveryDate, familyName: c.familyName };
    }
    const nhs = c.nhsNumber === undefined ? undefined : validNhsNumber(c.nhsNumber);
    if (c.nhsNumber === undefined || c.nhsNumber.trim() === '') fault('nhsNumber', 'a born child needs an NHS number', 'required');
    else if (nhs === undefined) fault('nhsNumber', `${c.nhsNumber} is not a valid NHS number (ten digits, modulus 11 check)`, 'value');
    if (c.dateOfBirth === undefined) fault('dateOfBirth', 'a born child needs a date of birth', 'required');
    const givenName = c.givenName?.trim() ?? '';
    const familyName = c.familyName?.trim() ?? '';
    if (givenName === '') fault('givenName', 'a born child needs a given name', 'required');
    if (familyName === '') fault('familyName', 'a born child needs a family name', 'required');
    if (nhs === undefined || c.dateOfBirth === undefined || givenName === '' || familyName === '') return z.NEVER;
    return {
      unborn: false as const,
      nhsNumber: nhs,
      givenName,
      familyName,
      dateOfBirth: c.dateOfBirth,
      gender: c.gender,
      address: c.address,
      firstLanguage: c.firstLanguage,
      restricted: c.restricted,
    };
  });
export type CafChild = z.infer<typeof child>;

const parentCarer = z.object({
  givenName: required,
  familyName: required,
  nhsNumber: optional(nhsNumber),
  relationship: enumOf(RELATIONSHIPS, 'relationship'),
  parentalResponsibility: z.boolean().optional(),
  telephone: text().optional(),
  email: text().optional(),
  address: address.optional(),
  /** The case system marks this person's record restricted: carried as v3-Confidentiality R on their Patient. */
  restricted: z.boolean({ error: 'must be true or false' }).optional(),
});
export type CafParentCarer = z.infer<typeof parentCarer>;

const professional = z.object({
  name: required,
  role: text().optional(),
  organisation: text().optional(),
  email: text().optional(),
  telephone: text().optional(),
});
export type CafProfessional = z.infer<typeof professional>;

/** One domain's elements: each a known element of that domain, each at most once. */
function domainElements(domain: CafDomainName) {
  const codes = CAF_DOMAINS[domain].elements.map((e) => e.code);
  return z
    .array(
      z.object({
        element: text().refine((v) => codes.includes(v), {
          error: (issue) => `unknown ${domain} element ${JSON.stringify(issue.input) ?? ''} (known: ${codes.join(', ')})`,
          params: { code: 'code-invalid' } satisfies RuleParams,
        }),
        strengths: freeText,
        needs: freeText,
      }),
    )
    .superRefine((elements, ctx) => {
      elements.forEach((e, i) => {
        if (elements.findIndex((other) => other.element === e.element) !== i) {
          ctx.addIssue({ code: 'custom', path: [i, 'element'], message: `${e.element} appears more than once`, params: { code: 'business-rule' } satisfies RuleParams });
        }
      });
    });
}

const organisationTypes = z.array(enumOf(ORGANISATION_TYPES, 'organisation type'));

const consent = z
  .object({
    given: z.boolean({ error: 'must be true or false' }),
    givenBy: z.object({ name: required, relationship: text().optional() }).optional(),
    date: isoDate,
    statement: text().optional(),
    shareWith: organisationTypes.default([]),
    doNotShareWith: organisationTypes.default([]),
  })
  .superRefine((c, ctx) => {
    const fault = (path: (string | number)[], message: string, code: RuleParams['code']): void => {
      ctx.addIssue({ code: 'custom', path, message, params: { code } satisfies RuleParams });
    };
    // Never guess at consent: a contradictory record is refused, not interpreted.
    if (c.given && c.givenBy === undefined) fault(['givenBy'], 'consent that was given must say who gave it', 'required');
    // A permit that names no actor would apply to every recipient (https://hl7.org/fhir/R4/consent.html#provision).
    if (c.given && c.shareWith.length === 0) fault(['shareWith'], 'consent was given, but to no agency: name at least one to share with', 'required');
    if (!c.given && c.shareWith.length > 0) fault(['shareWith'], 'consent was not given, yet agencies to share with are listed', 'business-rule');
    c.doNotShareWith.forEach((type, i) => {
      if (c.shareWith.includes(type)) fault(['doNotShareWith', i], `${type} is listed both to share with and not to share with`, 'business-rule');
    });
  });
export type CafConsent = z.infer<typeof consent>;

const actionPlanItem = z.object({
  action: required,
  who: text().optional(),
  byWhen: text().optional(),
});
export type CafAction = z.infer<typeof actionPlanItem>;

const assessment = z
  .object({
    reference: required,
    form: z.literal('early-help-assessment', { error: 'the hub reads the early-help-assessment form only' }).optional(),
    formVersion: z.literal('2024.1', { error: 'the hub reads version 2024.1 of the form only' }).optional(),
    revision: z.number({ error: 'must be a whole number' }).int('must be a whole number').min(1, 'must be 1 or more'),
    status: required,
    startedOn: isoDate,
    completedOn: optional(isoDate),
    reasonForAssessment: freeText,
    peoplePresent: z.array(text()).optional(),
    child,
    parentsCarers: z.array(parentCarer).default([]),
    assessor: professional,
    leadProfessional: professional.optional(),
    teamAroundTheChildHeld: z.boolean().optional(),
    domains: z.strictObject({
      development: domainElements('development').optional(),
      parentsAndCarers: domainElements('parentsAndCarers').optional(),
      familyAndEnvironment: domainElements('familyAndEnvironment').optional(),
    }),
    childViews: freeText,
    parentViews: freeText,
    actionPlan: z.array(actionPlanItem).default([]),
    reviewDate: optional(isoDate),
    consent,
  })
  .superRefine((a, ctx) => {
    // Each person once: two entries for one NHS number would make two records of one person.
    const seen = new Set<string>();
    a.parentsCarers.forEach((p, i) => {
      const who = p.nhsNumber ?? `${p.familyName}^${p.givenName}`.toLowerCase();
      if (seen.has(who)) ctx.addIssue({ code: 'custom', path: ['parentsCarers', i], message: 'this parent or carer is listed twice', params: { code: 'business-rule' } satisfies RuleParams });
      if (!a.child.unborn && p.nhsNumber === a.child.nhsNumber) {
        ctx.addIssue({ code: 'custom', path: ['parentsCarers', i, 'nhsNumber'], message: "a parent's NHS number cannot be the child's", params: { code: 'business-rule' } satisfies RuleParams });
      }
      seen.add(who);
    });
    // An unborn child is recorded against the mother, so she must be identifiable.
    if (a.child.unborn && motherOf(a.parentsCarers) === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['parentsCarers'],
        message: 'an assessment of an unborn child needs the mother (relationship mother or mother-to-be) with her NHS number',
        params: { code: 'required' } satisfies RuleParams,
      });
    }
  });

export const cafExportSchema = z.object({
  exportedAt: text().optional(),
  sourceSystem: text().optional(),
  organisation: required,
  assessment,
});

export type CafExport = z.infer<typeof cafExportSchema>;
export type CafAssessment = CafExport['assessment'];

/** The mother of an unborn child: a "mother-to-be", else the first "mother", with an NHS number. */
export function motherOf(parents: readonly CafParentCarer[]): (CafParentCarer & { nhsNumber: string }) | undefined {
  const withNhs = parents.filter((p): p is CafParentCarer & { nhsNumber: string } => p.nhsNumber !== undefined);
  return withNhs.find((p) => p.relationship === 'mother-to-be') ?? withNhs.find((p) => p.relationship === 'mother');
}
