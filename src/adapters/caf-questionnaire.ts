import type { Questionnaire, QuestionnaireItem } from 'fhir/r4.js';

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
  childViews: 'child-views',
  parentViews: 'parent-views',
  teamAroundTheChildHeld: 'team-around-the-child-held',
  reviewDate: 'review-date',
} as const;

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
    "The council's Early Help Assessment as the hub stores it. For an unborn baby the subject is the mother, and the expected delivery date is recorded.",
  item: [
    { linkId: CAF_ITEM.reasonForAssessment, text: 'Reason for the assessment', type: 'text' },
    { linkId: CAF_ITEM.expectedDeliveryDate, text: 'Expected delivery date (unborn baby)', type: 'date' },
    { linkId: CAF_ITEM.peoplePresent, text: 'People present at the assessment', type: 'string', repeats: true },
    ...CAF_DOMAIN_NAMES.map(domainGroup),
    { linkId: CAF_ITEM.childViews, text: "Child's views", type: 'text' },
    { linkId: CAF_ITEM.parentViews, text: "Parents' or carers' views", type: 'text' },
    { linkId: CAF_ITEM.teamAroundTheChildHeld, text: 'Has a team around the child meeting been held?', type: 'boolean' },
    { linkId: CAF_ITEM.reviewDate, text: 'Review date', type: 'date' },
  ],
};
