import type { QuestionnaireItem } from 'fhir/r4.js';
import type { AdapterIssue } from './ingest-unit.js';

// A QuestionnaireResponse's items checked against the Questionnaire they
// answer: every linkId known where it sits, each at most once unless it
// repeats (a repeating group is one item per instance, each checked alone),
// groups holding items and questions holding answers of the item's type (a
// choice one of its answer options), no second answer to a non-repeating
// item, and every required item present.
// See: https://hl7.org/fhir/R4/questionnaireresponse.html#invs (qrs-1, qrs-2)
// and https://hl7.org/fhir/R4/questionnaire-definitions.html#Questionnaire.item.required

/** The answer value each item type takes (the types the hub's CAF Questionnaire uses). */
const VALUE_KEY: Partial<Record<QuestionnaireItem['type'], string>> = {
  text: 'valueString',
  string: 'valueString',
  date: 'valueDate',
  boolean: 'valueBoolean',
  integer: 'valueInteger',
  choice: 'valueCoding',
  reference: 'valueReference',
};

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The faults of `items` (as sent, unparsed) against `form`, located under `at` ("QuestionnaireResponse.item"). */
export function itemFaults(items: unknown, form: readonly QuestionnaireItem[], at: string): AdapterIssue[] {
  if (items === undefined) return requiredMissing([], form, at);
  if (!Array.isArray(items)) return [{ code: 'structure', diagnostics: 'item must be a list', location: at }];
  const faults: AdapterIssue[] = [];
  const seen = new Set<string>();
  items.forEach((item: unknown, i) => {
    const here = `${at}[${i}]`;
    if (!isRecord(item) || typeof item['linkId'] !== 'string') {
      faults.push({ code: 'required', diagnostics: 'each item needs a linkId', location: `${here}.linkId` });
      return;
    }
    const linkId = item['linkId'];
    const known = form.find((q) => q.linkId === linkId);
    if (known === undefined) {
      const expected = form.map((q) => q.linkId).join(', ');
      faults.push({ code: 'not-supported', diagnostics: `item ${JSON.stringify(linkId)} is not in the hub's CAF Questionnaire here (known: ${expected})`, location: `${here}.linkId` });
      return;
    }
    if (seen.has(linkId) && known.repeats !== true) faults.push({ code: 'business-rule', diagnostics: `item ${linkId} appears more than once`, location: `${here}.linkId` });
    seen.add(linkId);
    faults.push(...(known.type === 'group' ? groupFaults(item, known, here) : questionFaults(item, known, here)));
  });
  return [...faults, ...requiredMissing([...seen], form, at)];
}

function groupFaults(item: Record<string, unknown>, group: QuestionnaireItem, here: string): AdapterIssue[] {
  if (item['answer'] !== undefined) return [{ code: 'structure', diagnostics: `${group.linkId} is a group: it holds items, not answers`, location: `${here}.answer` }];
  return itemFaults(item['item'], group.item ?? [], `${here}.item`);
}

function questionFaults(item: Record<string, unknown>, question: QuestionnaireItem, here: string): AdapterIssue[] {
  if (item['item'] !== undefined) return [{ code: 'structure', diagnostics: `${question.linkId} is a question: nested items are not part of this form`, location: `${here}.item` }];
  const answers = item['answer'];
  if (!Array.isArray(answers) || answers.length === 0) {
    return [{ code: 'required', diagnostics: `${question.linkId} has no answer (leave an unanswered item out)`, location: `${here}.answer` }];
  }
  if (answers.length > 1 && question.repeats !== true) {
    return [{ code: 'business-rule', diagnostics: `${question.linkId} takes one answer, not ${answers.length}`, location: `${here}.answer` }];
  }
  const key = VALUE_KEY[question.type];
  return answers.flatMap((answer: unknown, j): AdapterIssue[] => {
    const value = isRecord(answer) && key !== undefined ? answer[key] : undefined;
    const extra = isRecord(answer) ? Object.keys(answer).filter((k) => k.startsWith('value') && k !== key) : [];
    if (!wellTyped(question.type, value) || extra.length > 0) {
      return [{ code: 'value', diagnostics: `${question.linkId} is a ${question.type} item: its answer is ${key ?? 'not supported'}`, location: `${here}.answer[${j}]` }];
    }
    return question.type === 'choice' && !isOption(question, value)
      ? [{ code: 'code-invalid', diagnostics: `${question.linkId}: ${describeCoding(value)} is not one of its answers (${options(question)})`, location: `${here}.answer[${j}]` }]
      : [];
  });
}

function wellTyped(type: QuestionnaireItem['type'], value: unknown): boolean {
  switch (type) {
    case 'boolean':
      return typeof value === 'boolean';
    case 'integer':
      return Number.isInteger(value);
    case 'choice':
      return isRecord(value) && typeof value['code'] === 'string';
    case 'reference':
      return isRecord(value) && typeof value['reference'] === 'string';
    default:
      return typeof value === 'string';
  }
}

/** A choice answer is one of the item's answer options: the same code of the same system. */
function isOption(question: QuestionnaireItem, coding: unknown): boolean {
  return (question.answerOption ?? []).some((o) => isRecord(coding) && o.valueCoding?.code === coding['code'] && o.valueCoding?.system === coding['system']);
}

const options = (question: QuestionnaireItem): string => (question.answerOption ?? []).map((o) => o.valueCoding?.code ?? '').join(', ');

function describeCoding(coding: unknown): string {
  const system = isRecord(coding) ? coding['system'] : undefined;
  const code = isRecord(coding) ? coding['code'] : undefined;
  return `${typeof system === 'string' ? `${system}|` : ''}${String(code)}`;
}

function requiredMissing(present: readonly string[], form: readonly QuestionnaireItem[], at: string): AdapterIssue[] {
  return form
    .filter((q) => q.required === true && !present.includes(q.linkId))
    .map((q) => ({ code: 'required' as const, diagnostics: `${q.linkId} (${q.text ?? q.linkId}) is required by the Questionnaire`, location: at }));
}
