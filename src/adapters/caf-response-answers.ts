import { ACTION_ITEM, ADDRESS_ITEM, CAF_DOMAIN_NAMES, CAF_ITEM, PARENT_CARER_ITEM } from './caf-questionnaire.js';
import { QR, type Locations } from './caf-response-locations.js';

// The answers of a QuestionnaireResponse to the hub's CAF Questionnaire, read
// back into the fields of the CAF JSON shape (caf-schema.ts), so both shapes
// go through one schema and one unit (caf.ts). The items were checked against
// the Questionnaire already (caf-response-items.ts): here every answer has the
// value type of its item. Each field read is noted in `where`, so a fault the
// schema finds is reported at the item that said it.

type Json = Record<string, unknown>;
const isRecord = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

export interface ReadAnswers {
  /** Fields of the export's `assessment`. */
  assessment: Json;
  /** The unborn child's expected delivery date, when answered: the subject is then the mother. */
  expectedDeliveryDate?: unknown;
  /** The lead professional's reference ("#id" of a contained PractitionerRole) and where it was answered. */
  leadProfessional?: { reference: unknown; at: string };
}

/** An answer's value, whatever its type (valueCoding: its code). */
function valueOf(answer: unknown): unknown {
  if (!isRecord(answer)) return undefined;
  const coding = answer['valueCoding'];
  return answer['valueString'] ?? answer['valueDate'] ?? answer['valueBoolean'] ?? (isRecord(coding) ? coding['code'] : undefined);
}
const values = (item: Json): unknown[] => (Array.isArray(item['answer']) ? item['answer'] : []).map(valueOf);
const children = (item: Json): unknown[] => (Array.isArray(item['item']) ? (item['item'] as unknown[]) : []);

/** The items of a group instance, read by linkId into export fields, each located at its item. */
class Group {
  constructor(
    private readonly item: Json,
    private readonly at: string,
    private readonly base: string,
    private readonly where: Locations,
  ) {}

  private find(linkId: string): { item: Json; at: string } | undefined {
    const index = children(this.item).findIndex((c) => isRecord(c) && c['linkId'] === linkId);
    const found = children(this.item)[index];
    return isRecord(found) ? { item: found, at: `${this.at}.item[${index}]` } : undefined;
  }

  one(field: string, linkId: string): unknown {
    return this.all(field, linkId)?.[0];
  }

  all(field: string, linkId: string): unknown[] | undefined {
    const found = this.find(linkId);
    if (found === undefined) return undefined;
    this.where.set(`${this.base}.${field}`, found.at, linkId);
    return values(found.item);
  }

  group(field: string, linkId: string): Group | undefined {
    const found = this.find(linkId);
    if (found === undefined) return undefined;
    this.where.set(`${this.base}.${field}`, found.at, linkId);
    return new Group(found.item, found.at, `${this.base}.${field}`, this.where);
  }
}

function parentCarer(group: Group): Json {
  const f = PARENT_CARER_ITEM;
  const address = group.group('address', f.address);
  return {
    givenName: group.one('givenName', f.givenName),
    familyName: group.one('familyName', f.familyName),
    nhsNumber: group.one('nhsNumber', f.nhsNumber),
    relationship: group.one('relationship', f.relationship),
    parentalResponsibility: group.one('parentalResponsibility', f.parentalResponsibility),
    telephone: group.one('telephone', f.telephone),
    email: group.one('email', f.email),
    address: address === undefined ? undefined : { lines: address.all('lines', ADDRESS_ITEM.lines), town: address.one('town', ADDRESS_ITEM.town), postcode: address.one('postcode', ADDRESS_ITEM.postcode) },
    restricted: group.one('restricted', f.restricted),
  };
}

function action(group: Group): Json {
  return { action: group.one('action', ACTION_ITEM.action), who: group.one('who', ACTION_ITEM.who), byWhen: group.one('byWhen', ACTION_ITEM.byWhen) };
}

const SIMPLE: Readonly<Record<string, string>> = {
  [CAF_ITEM.reasonForAssessment]: 'reasonForAssessment',
  [CAF_ITEM.childViews]: 'childViews',
  [CAF_ITEM.parentViews]: 'parentViews',
  [CAF_ITEM.teamAroundTheChildHeld]: 'teamAroundTheChildHeld',
  [CAF_ITEM.reviewDate]: 'reviewDate',
};

/** The answers, back in the export's fields. `items` are the response's top-level items as sent. */
export function readAnswers(items: readonly unknown[], where: Locations): ReadAnswers {
  const assessment: Json = {};
  const read: ReadAnswers = { assessment };
  const domains: Json = {};
  const parentsCarers: Json[] = [];
  const actionPlan: Json[] = [];
  where.set('assessment.parentsCarers', `${QR}.item`);
  where.set('assessment.actionPlan', `${QR}.item`);
  items.forEach((item, i) => {
    if (!isRecord(item)) return;
    const linkId = String(item['linkId']);
    const at = `${QR}.item[${i}]`;
    const field = SIMPLE[linkId];
    if (field !== undefined) {
      assessment[field] = values(item)[0];
      where.set(`assessment.${field}`, at, linkId);
    } else if (linkId === CAF_ITEM.peoplePresent) {
      assessment['peoplePresent'] = values(item);
      where.set('assessment.peoplePresent', at, linkId);
    } else if (linkId === CAF_ITEM.expectedDeliveryDate) {
      read.expectedDeliveryDate = values(item)[0];
      where.set('assessment.child.expectedDeliveryDate', at, linkId);
    } else if (linkId === CAF_ITEM.parentCarer) {
      const base = `assessment.parentsCarers[${parentsCarers.length}]`;
      where.set(base, at, linkId);
      parentsCarers.push(parentCarer(new Group(item, at, base, where)));
    } else if (linkId === CAF_ITEM.actionPlan) {
      const base = `assessment.actionPlan[${actionPlan.length}]`;
      where.set(base, at, linkId);
      actionPlan.push(action(new Group(item, at, base, where)));
    } else if (linkId === CAF_ITEM.leadProfessional) {
      const answer: unknown = Array.isArray(item['answer']) ? item['answer'][0] : undefined;
      const reference: unknown = isRecord(answer) && isRecord(answer['valueReference']) ? answer['valueReference']['reference'] : undefined;
      read.leadProfessional = { reference, at: `${at}.answer[0]` };
    } else if ((CAF_DOMAIN_NAMES as readonly string[]).includes(linkId)) {
      const groups = children(item).filter(isRecord);
      domains[linkId] = groups.map((group, j) => {
        where.set(`assessment.domains.${linkId}[${j}]`, `${at}.item[${j}]`, String(group['linkId']));
        const parts = children(group).filter(isRecord);
        const part = (name: string): unknown => values(parts.find((p) => String(p['linkId']).endsWith(`.${name}`)) ?? {})[0];
        return { element: String(group['linkId']).slice(linkId.length + 1), strengths: part('strengths'), needs: part('needs') };
      });
    }
  });
  return { ...read, assessment: { ...assessment, domains, parentsCarers, actionPlan } };
}
