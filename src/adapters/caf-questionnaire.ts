import type { Questionnaire, QuestionnaireItem } from 'fhir/r4.js';
import type { Relationship } from './caf-schema.js';
import { HUB_CODES } from './codes.js';

// The hub's canonical Questionnaire for the council's Early Help Assessment
// (the Common Assessment Framework, CAF). Every CAF the hub stores is a
// QuestionnaireResponse that answers this form, so a reader (or a redaction
// rule such as the ISP's "needs headline per domain") can rely on stable linkIds.
// See: https://hl7.org/fhir/R4/questionnaire.html
//
// Domains and elements follow the CAF form and its practitioners' guide
// (CWDC, "The Common Assessment Framework for children and young people",
// 2006/2009): three domains, each split into elements, each element assessed
// as strengths and needs. The codes are the council export's kebab-case names
// for those elements; an element the export sends that is not listed here is
// refused rather than silently dropped.

export const CAF_QUESTIONNAIRE_URL = 'https://eastside.example/fhir/Questionnaire/early-help-assessment';
export const CAF_QUESTIONNAIRE_VERSION = '2024.1';
/** The canonical reference a QuestionnaireResponse carries (canonical|version). */
export const CAF_QUESTIONNAIRE_CANONICAL = `${CAF_QUESTIONNAIRE_URL}|${CAF_QUESTIONNAIRE_VERSION}`;

export interface CafElement {
  readonly code: string;
  readonly title: string;
}

export interface CafDomain {
  readonly title: string;
  readonly elements: readonly CafElement[];
}

export const CAF_DOMAIN_NAMES = ['development', 'parentsAndCarers', 'familyAndEnvironment'] as const;
export type CafDomainName = (typeof CAF_DOMAIN_NAMES)[number];

export const CAF_DOMAINS: Readonly<Record<CafDomainName, CafDomain>> = {
  development: {
    title: 'Development of the unborn baby, baby or child',
    elements: [
      { code: 'general-health', title: 'General health' },
      { code: 'physical-development', title: 'Physical development' },
      { code: 'speech-language-communication', title: 'Speech, language and communications development' },
      { code: 'emotional-social', title: 'Emotional and social development' },
      { code: 'behavioural', title: 'Behavioural development' },
      { code: 'identity', title: 'Identity, including self-esteem, self-image and social presentation' },
      { code: 'family-social-relationships', title: 'Family and social relationships' },
      { code: 'self-care', title: 'Self-care skills and independence' },
      { code: 'understanding-reasoning', title: 'Understanding, reasoning and problem solving' },
      { code: 'learning', title: 'Participation in learning, education and employment' },
      { code: 'progress-achievement', title: 'Progress and achievement in learning' },
      { code: 'aspirations', title: 'Aspirations' },
    ],
  },
  parentsAndCarers: {
    title: 'Parents and carers',
    elements: [
      { code: 'basic-care-safety', title: 'Basic care, ensuring safety and protection' },
      { code: 'emotional-warmth-stability', title: 'Emotional warmth and stability' },
      { code: 'guidance-boundaries-stimulation', title: 'Guidance, boundaries and stimulation' },
    ],
  },
  familyAndEnvironment: {
    title: 'Family and environmental factors',
    elements: [
      { code: 'family-history-functioning', title: 'Family history, functioning and well-being' },
      { code: 'wider-family', title: 'Wider family' },
      { code: 'housing-employment-finance', title: 'Housing, employment and financial considerations' },
      { code: 'social-community-resources', title: 'Social and community elements and resources, including education' },
    ],
  },
};

/** linkIds of the items outside the domains. */
export const CAF_ITEM = {
  reasonForAssessment: 'reason-for-assessment',
  expectedDeliveryDate: 'expected-delivery-date',
  peoplePresent: 'people-present',
  parentCarer: 'parent-carer',
  childViews: 'child-views',
  parentViews: 'parent-views',
  teamAroundTheChildHeld: 'team-around-the-child-held',
  leadProfessional: 'lead-professional',
  actionPlan: 'action-plan',
  reviewDate: 'review-date',
} as const;

/** linkIds inside one `parent-carer` group (one per parent or carer), keyed by the CAF JSON field. */
export const PARENT_CARER_ITEM = {
  givenName: 'parent-carer.given-name',
  familyName: 'parent-carer.family-name',
  nhsNumber: 'parent-carer.nhs-number',
  relationship: 'parent-carer.relationship',
  parentalResponsibility: 'parent-carer.parental-responsibility',
  telephone: 'parent-carer.telephone',
  email: 'parent-carer.email',
  address: 'parent-carer.address',
  restricted: 'parent-carer.restricted',
} as const;

/** linkIds inside a parent's `parent-carer.address` group. */
export const ADDRESS_ITEM = {
  lines: 'parent-carer.address.line',
  town: 'parent-carer.address.town',
  postcode: 'parent-carer.address.postcode',
} as const;

/** linkIds inside one `action-plan` group (one per action), keyed by the CAF JSON field. */
export const ACTION_ITEM = {
  action: 'action-plan.action',
  who: 'action-plan.who',
  byWhen: 'action-plan.by-when',
} as const;

/**
 * The CAF's words for a parent's or carer's relationship to the child, as the
 * answer codes of `parent-carer.relationship` (caf-schema.ts RELATIONSHIPS).
 * The hub's own code system: v3 RoleCode (which the stored RelatedPerson
 * carries, caf-people.ts) folds "mother-to-be" into "mother", and an unborn
 * child's assessment is filed on the mother-to-be first.
 */
export const CAF_RELATIONSHIP_SYSTEM = `${HUB_CODES}/caf-relationship`;
const RELATIONSHIP_DISPLAY: Readonly<Record<Relationship, string>> = {
  mother: 'Mother',
  'mother-to-be': 'Mother-to-be',
  father: 'Father',
  'father-to-be': 'Father-to-be',
  parent: 'Parent',
  'step-parent': 'Step-parent',
  'adoptive-parent': 'Adoptive parent',
  'foster-carer': 'Foster carer',
  grandparent: 'Grandparent',
  sibling: 'Sibling',
  'other-relative': 'Other relative',
  guardian: 'Guardian',
  'special-guardian': 'Special guardian',
  carer: 'Carer',
  other: 'Other',
};

/** "development.speech-language-communication.needs" */
export function elementLinkId(domain: CafDomainName, element: string, part?: 'strengths' | 'needs'): string {
  return part === undefined ? `${domain}.${element}` : `${domain}.${element}.${part}`;
}

function domainGroup(domain: CafDomainName): QuestionnaireItem {
  const { title, elements } = CAF_DOMAINS[domain];
  return {
    linkId: domain,
    text: title,
    type: 'group',
    item: elements.map(({ code, title: elementTitle }) => ({
      linkId: elementLinkId(domain, code),
      text: elementTitle,
      type: 'group',
      item: [
        { linkId: elementLinkId(domain, code, 'strengths'), text: 'Strengths', type: 'text' },
        { linkId: elementLinkId(domain, code, 'needs'), text: 'Needs', type: 'text' },
      ],
    })),
  };
}

// The parents and carers, the lead professional and the action plan are read
// from what a partner sends and stored as records of their own (Patient and
// RelatedPerson, Practitioner, CarePlan), each decided under its own data item,
// as the CAF JSON shape's are: the response the hub stores leaves them out, so a
// parent's contact details never travel inside the assessment.

const PARENT_CARER: QuestionnaireItem = {
  linkId: CAF_ITEM.parentCarer,
  text: 'Parent or carer (one group each)',
  type: 'group',
  repeats: true,
  item: [
    { linkId: PARENT_CARER_ITEM.givenName, text: 'Given name', type: 'string', required: true },
    { linkId: PARENT_CARER_ITEM.familyName, text: 'Family name', type: 'string', required: true },
    { linkId: PARENT_CARER_ITEM.nhsNumber, text: 'NHS number', type: 'string' },
    {
      linkId: PARENT_CARER_ITEM.relationship,
      text: 'Relationship to the child',
      type: 'choice',
      required: true,
      answerOption: Object.entries(RELATIONSHIP_DISPLAY).map(([code, display]) => ({ valueCoding: { system: CAF_RELATIONSHIP_SYSTEM, code, display } })),
    },
    { linkId: PARENT_CARER_ITEM.parentalResponsibility, text: 'Has parental responsibility', type: 'boolean' },
    { linkId: PARENT_CARER_ITEM.telephone, text: 'Telephone', type: 'string' },
    { linkId: PARENT_CARER_ITEM.email, text: 'Email', type: 'string' },
    {
      linkId: PARENT_CARER_ITEM.address,
      text: 'Address',
      type: 'group',
      item: [
        { linkId: ADDRESS_ITEM.lines, text: 'Address line', type: 'string', repeats: true },
        { linkId: ADDRESS_ITEM.town, text: 'Town', type: 'string' },
        { linkId: ADDRESS_ITEM.postcode, text: 'Postcode', type: 'string' },
      ],
    },
    { linkId: PARENT_CARER_ITEM.restricted, text: "This person's record is restricted (e.g. a protected address)", type: 'boolean' },
  ],
};

const ACTION: QuestionnaireItem = {
  linkId: CAF_ITEM.actionPlan,
  text: 'Action plan (one group per action)',
  type: 'group',
  repeats: true,
  item: [
    { linkId: ACTION_ITEM.action, text: 'Action', type: 'text', required: true },
    { linkId: ACTION_ITEM.who, text: 'Who', type: 'string' },
    // The CAF form's "by when" is words as often as a date ("ongoing"): a date (YYYY-MM-DD) becomes the action's deadline.
    { linkId: ACTION_ITEM.byWhen, text: 'By when (a date, YYYY-MM-DD, or words)', type: 'string' },
  ],
};

export const CAF_QUESTIONNAIRE: Questionnaire = {
  resourceType: 'Questionnaire',
  id: 'early-help-assessment',
  url: CAF_QUESTIONNAIRE_URL,
  version: CAF_QUESTIONNAIRE_VERSION,
  name: 'EarlyHelpAssessment',
  title: 'Early Help Assessment (Common Assessment Framework)',
  status: 'active',
  subjectType: ['Patient'],
  publisher: 'Eastside Early Years Sharing Hub',
  description:
    "The council's Early Help Assessment as the hub stores it. For an unborn baby the subject is the mother, and the expected delivery date is recorded. " +
    'The parents and carers, the lead professional and the action plan are stored as records of their own (RelatedPerson, Practitioner, CarePlan), not in the stored response.',
  item: [
    { linkId: CAF_ITEM.reasonForAssessment, text: 'Reason for the assessment', type: 'text' },
    { linkId: CAF_ITEM.expectedDeliveryDate, text: 'Expected delivery date (unborn baby)', type: 'date' },
    { linkId: CAF_ITEM.peoplePresent, text: 'People present at the assessment', type: 'string', repeats: true },
    PARENT_CARER,
    ...CAF_DOMAIN_NAMES.map(domainGroup),
    { linkId: CAF_ITEM.childViews, text: "Child's views", type: 'text' },
    { linkId: CAF_ITEM.parentViews, text: "Parents' or carers' views", type: 'text' },
    { linkId: CAF_ITEM.teamAroundTheChildHeld, text: 'Has a team around the child meeting been held?', type: 'boolean' },
    // A contained PractitionerRole ("#id"), as the response's author is: the action plan's author.
    { linkId: CAF_ITEM.leadProfessional, text: 'Lead professional', type: 'reference' },
    ACTION,
    { linkId: CAF_ITEM.reviewDate, text: 'Review date', type: 'date' },
  ],
};
