import type { CarePlan, CarePlanActivity, QuestionnaireResponse, QuestionnaireResponseItem, QuestionnaireResponseItemAnswer, Reference } from 'fhir/r4.js';
import { nonEmpty } from './caf-people.js';
import { CAF_DOMAIN_NAMES, CAF_DOMAINS, CAF_ITEM, CAF_QUESTIONNAIRE_CANONICAL, elementLinkId, type CafDomainName } from './caf-questionnaire.js';
import type { CafAction, CafAssessment } from './caf-schema.js';
import { HUB_IDS } from './codes.js';
import { entryReference } from './ingest-unit.js';

// The assessment itself (a QuestionnaireResponse answering the hub's CAF
// Questionnaire) and its action plan (a CarePlan).
// See: https://hl7.org/fhir/R4/questionnaireresponse.html and https://hl7.org/fhir/R4/careplan.html

export const CAF_ASSESSMENT_SYSTEM = `${HUB_IDS}/caf-assessment`;
export const CAF_ACTION_PLAN_SYSTEM = `${HUB_IDS}/caf-action-plan`;

/** The export's status words: only "completed" is a finished assessment. */
export function responseStatus(status: string): QuestionnaireResponse['status'] {
  return status.trim().toLowerCase() === 'completed' ? 'completed' : 'in-progress';
}

/** The date the assessment speaks for: when it was completed, else when it started. */
export function authoredOn(a: CafAssessment): string {
  return a.completedOn ?? a.startedOn;
}

/** An item with its answers, or nothing when there is no answer (the form leaves empty answers out). */
function answered(linkId: string, answers: QuestionnaireResponseItemAnswer[]): QuestionnaireResponseItem[] {
  return answers.length === 0 ? [] : [{ linkId, answer: answers }];
}

const text = (value: string | undefined): QuestionnaireResponseItemAnswer[] => {
  const v = nonEmpty(value);
  return v === undefined ? [] : [{ valueString: v }];
};
const date = (value: string | undefined): QuestionnaireResponseItemAnswer[] => (value === undefined ? [] : [{ valueDate: value }]);
const bool = (value: boolean | undefined): QuestionnaireResponseItemAnswer[] => (value === undefined ? [] : [{ valueBoolean: value }]);

/** A domain's groups, in the Questionnaire's order; elements with nothing said are left out. */
function domainItems(a: CafAssessment, domain: CafDomainName): QuestionnaireResponseItem[] {
  const sent = a.domains[domain] ?? [];
  const groups = CAF_DOMAINS[domain].elements.flatMap(({ code }): QuestionnaireResponseItem[] => {
    const e = sent.find((s) => s.element === code);
    if (e === undefined) return [];
    const item = [...answered(elementLinkId(domain, code, 'strengths'), text(e.strengths)), ...answered(elementLinkId(domain, code, 'needs'), text(e.needs))];
    return item.length === 0 ? [] : [{ linkId: elementLinkId(domain, code), item }];
  });
  return groups.length === 0 ? [] : [{ linkId: domain, item: groups }];
}

export function questionnaireResponse(a: CafAssessment, subject: Reference, author: Reference): QuestionnaireResponse {
  const people = (a.peoplePresent ?? []).flatMap(text);
  return {
    resourceType: 'QuestionnaireResponse',
    // One QuestionnaireResponse per assessment: a later revision is a new version of it.
    identifier: { system: CAF_ASSESSMENT_SYSTEM, value: a.reference },
    questionnaire: CAF_QUESTIONNAIRE_CANONICAL,
    status: responseStatus(a.status),
    subject,
    authored: authoredOn(a),
    author,
    item: [
      ...answered(CAF_ITEM.reasonForAssessment, text(a.reasonForAssessment)),
      ...answered(CAF_ITEM.expectedDeliveryDate, date(a.child.unborn ? a.child.expectedDeliveryDate : undefined)),
      ...answered(CAF_ITEM.peoplePresent, people),
      ...CAF_DOMAIN_NAMES.flatMap((domain) => domainItems(a, domain)),
      ...answered(CAF_ITEM.childViews, text(a.childViews)),
      ...answered(CAF_ITEM.parentViews, text(a.parentViews)),
      ...answered(CAF_ITEM.teamAroundTheChildHeld, bool(a.teamAroundTheChildHeld)),
      ...answered(CAF_ITEM.reviewDate, date(a.reviewDate)),
    ],
  };
}

const ISO_DATE = /^\d{4}-\d{2}-\d{2}$/;

function activity(action: CafAction): CarePlanActivity {
  const byWhen = nonEmpty(action.byWhen);
  const who = nonEmpty(action.who);
  return {
    detail: {
      status: 'not-started',
      description: action.action,
      // "by when" is a deadline: the end of a period with no start. Free text ("ongoing") stays text.
      ...(byWhen === undefined ? {} : ISO_DATE.test(byWhen) ? { scheduledPeriod: { end: byWhen } } : { scheduledString: byWhen }),
      ...(who === undefined ? {} : { performer: [{ display: who }] }),
    },
  };
}

/**
 * The action plan. Active once the assessment is completed; while the
 * assessment is still in progress its plan is a draft.
 */
export function actionPlan(a: CafAssessment, subject: Reference, assessmentUrl: string, author: Reference | undefined): CarePlan {
  return {
    resourceType: 'CarePlan',
    identifier: [{ system: CAF_ACTION_PLAN_SYSTEM, value: a.reference }],
    status: responseStatus(a.status) === 'completed' ? 'active' : 'draft',
    intent: 'plan',
    title: 'Early help action plan',
    subject,
    period: { start: authoredOn(a), end: a.reviewDate },
    author,
    supportingInfo: [entryReference(assessmentUrl)],
    activity: a.actionPlan.map(activity),
  };
}
