import type { Resource } from 'fhir/r4.js';
import { addressees, isPublicType } from '../fhir/resource-types.js';
import { coveredBy, candidateFlows, type FlowCandidate, type ItemsCovered } from '../protocol/flow-index.js';
import { dayOf, standingOnDay, type Standing } from '../protocol/in-force.js';
import type { CompiledItem, CompiledPath, Flow, LoadedProtocol } from '../protocol/protocol-schema.js';
import { answerConsents, type IgnoredConsent } from './consent-check.js';
import { HUB_ORGANISATION, type Decision, type Deny, type DenyReason, type FlowRef, type Permit, type RecordFacts, type Requester, type SubjectFacts } from './decision-types.js';
import { SubjectView } from './subject.js';

// The disclosure decision: one pure function of the requester, the record,
// what is known of its subject, the family's consents, the protocols and the
// day. Deny by default: a record no in-force flow carries to this requester,
// for this purpose, is denied, with the reason. Where several flows apply,
// any denial wins (a protocol out of force denies every flow in it).
// See DESIGN.md sections 2, 5 and 6.

export interface DecisionInput {
  requester: Requester;
  record: RecordFacts;
  /** The record's subject; undefined when it names no patient the hub holds. */
  subject: SubjectFacts | undefined;
  protocols: readonly LoadedProtocol[];
  now: Date;
}

export function decide(input: DecisionInput): Decision {
  const { requester, record } = input;
  const type = record.resource.resourceType;
  if (isPublicType(type)) return { effect: 'permit', basis: 'public' };
  const alone = record.alsoWrittenBy === undefined || record.alsoWrittenBy.length === 0;
  // Reading back what one wrote is not a disclosure, unless another organisation has written to the record too.
  if (alone && record.writer === requester.organisationCode) return { effect: 'permit', basis: 'originator' };
  // A notice the hub itself addressed to the requester's organisation (a withdrawal notice) is delivered to it,
  // whole; to anyone else it is a record no flow carries.
  if (alone && record.writer === HUB_ORGANISATION && addressees(record.resource).some((a) => a.value === requester.organisationCode)) {
    return { effect: 'permit', basis: 'addressed' };
  }

  const day = dayOf(input.now);
  const view = new SubjectView(input.subject, day);
  // The first flow that would carry the record but not for this purpose: the deepest miss, if nothing applies.
  let purposeMiss: Flow | undefined;
  let permit: Permit | undefined;
  for (const protocol of input.protocols) {
    // Only the flows to this type of recipient that carry this type of record, in the protocol's order.
    const candidates = candidateFlows(protocol.flows, requester.organisationType, type);
    let standing: Standing | undefined;
    for (const candidate of candidates) {
      const flow = candidate.flow;
      if (!anyIn(record.sourceTypes, flow.from)) continue;
      const forPurpose = anyIs(flow.purposes, requester.purpose);
      // Which items cover the record matters here only for a flow that applies or for the first purpose miss.
      if (!forPurpose && purposeMiss !== undefined) continue;
      const covered = coveredItems(candidate, record.resource, view);
      if (covered === undefined) continue;
      if (!forPurpose) {
        purposeMiss = flow;
        continue;
      }
      // A candidate flow: from here on it either permits or denies, and any denial wins.
      const ref: FlowRef = { protocol: protocol.id, version: protocol.version, flow: flow.id };
      standing ??= standingOnDay(protocol, day);
      if (!standing.inForce) {
        return deny('protocol-not-in-force', `protocol ${protocol.id} v${protocol.version} is not in force: ${standing.reason}`, ref);
      }
      const outcome = judgeFlow(flow, ref, covered, input, view);
      if (outcome.effect === 'deny') return outcome;
      permit ??= outcome;
    }
  }
  if (permit === undefined) {
    if (purposeMiss !== undefined) return deny('purpose-not-permitted', `flow ${purposeMiss.id} is for ${purposeMiss.purposes.join(', ')}, not ${requester.purpose}`);
    return deny('no-flow', `no flow carries ${type} records from ${list(record.sourceTypes)} to ${requester.organisationType}`);
  }
  // A Task says what it is about: work on a record the requester may not see (a refused dose, the hub's own forecast)
  // would disclose that record. It goes only with its focus.
  if (permit.basis === 'flow' && focusOf(record.resource) !== undefined && record.focusDisclosed !== true) {
    return deny('focus-not-disclosed', `the ${type} is about ${focusOf(record.resource) ?? ''}, which is not disclosed to this requester`, permit.flow);
  }
  return permit;
}

/** The record a Task is about (R4 Task.focus), if it names one. */
export function focusOf(resource: Resource): string | undefined {
  if (resource.resourceType !== 'Task') return undefined;
  const ref = (resource as { focus?: { reference?: unknown } }).focus?.reference;
  return typeof ref === 'string' && ref.length > 0 ? ref : undefined;
}

/** The checks of one applicable flow, in the order DESIGN.md gives them. */
function judgeFlow(flow: Flow, ref: FlowRef, covered: ItemsCovered, input: DecisionInput, view: SubjectView): Permit | Deny {
  const { requester, record, subject } = input;
  const type = record.resource.resourceType;
  let override: string | undefined;
  if (flow.override === 'safeguarding') {
    const reason = requester.overrideReason?.trim();
    if (requester.purpose !== 'safeguarding' || reason === undefined || reason === '') {
      return deny('override-reason-required', `flow ${flow.id} is a safeguarding override: state the reason (X-Override-Reason)`, ref);
    }
    override = reason;
  }
  if (subject === undefined) {
    return deny('no-subject', `the ${type} names no patient this hub holds, so no flow can be judged`, ref);
  }
  for (const predicate of flow.exclude) {
    switch (predicate) {
      case 'pregnancy-loss':
        if (view.pregnancyLoss(subject)) return deny('excluded:pregnancy-loss', `flow ${flow.id} excludes records after a pregnancy loss`, ref);
        break;
      case 'restricted-record':
        if (view.restrictedWith(subject, record.resource)) {
          return deny('excluded:restricted-record', `flow ${flow.id} excludes restricted records`, ref);
        }
        break;
    }
  }
  if (flow.area === 'recipient-catchment') {
    const district = view.districtOf(subject);
    if (district === undefined || !requester.catchment.includes(district)) {
      return deny('outside-catchment', district === undefined ? 'the subject has no postcode on record' : `postcode district ${district} is outside the recipient's catchment`, ref);
    }
  }
  if (flow.where !== undefined && !whereHolds(flow, flow.where, record, subject)) {
    return deny('where-not-met', `the record does not meet flow ${flow.id}'s condition`, ref);
  }
  let consent: string | undefined;
  if (flow.consent !== 'not-required') {
    const answer = answerConsents(subject.consents, {
      recipientType: requester.organisationType,
      recipientCode: requester.organisationCode,
      purpose: requester.purpose,
      resourceType: type,
      day: view.day,
      protocolId: ref.protocol,
      recordedBy: flow.consentRecordedBy ?? flow.from,
    });
    switch (answer.kind) {
      case 'deny':
        return flow.consent === 'required'
          ? deny('consent-refused', 'the family has refused this sharing', ref, answer.consent)
          : deny('objection', 'the family has objected to this sharing', ref, answer.consent);
      case 'withdrawn':
        if (flow.consent === 'required') return withIgnored(deny('consent-withdrawn', 'the family has withdrawn consent', ref, answer.consent), flow, answer.ignored);
        break;
      case 'none':
        if (flow.consent === 'required') return withIgnored(deny('no-consent', 'no consent covers this recipient, purpose and date', ref), flow, answer.ignored);
        break;
      case 'permit':
        consent = answer.consent;
        break;
    }
  }
  return { effect: 'permit', basis: 'flow', flow: ref, consent, items: covered.items, elements: covered.elements, override };
}

/** What the flow's data items that carry this kind of record about this subject carry; undefined when none does. */
function coveredItems(candidate: FlowCandidate, resource: Resource, view: SubjectView): ItemsCovered | undefined {
  const items = candidate.items;
  if (candidate.covered.length === 0) {
    const covering = items.filter((item) => covers(item, resource, view));
    return covering.length === 0 ? undefined : coveredBy(covering, resource.resourceType);
  }
  let mask = 0;
  for (let i = 0; i < items.length; i += 1) {
    if (covers(items[i] as CompiledItem, resource, view)) mask |= 1 << i;
  }
  return mask === 0 ? undefined : candidate.covered[mask];
}

/** An item of the record's type covers it when it is about the subject's role and its selector, if any, holds. */
function covers(item: CompiledItem, resource: Resource, view: SubjectView): boolean {
  if (item.about !== 'any' && item.about !== view.roleOf()) return false;
  const select = item.select.get(resource.resourceType);
  return select === undefined || holds(select, resource);
}

/**
 * A record must meet the flow's condition; a Patient is carried when some
 * record about them from the flow's source meets it (a child's registration
 * goes with their missed dose, not on its own).
 */
function whereHolds(flow: Flow, where: CompiledPath, record: RecordFacts, subject: SubjectFacts): boolean {
  if (record.resource.resourceType !== 'Patient') return holds(where, record.resource);
  return subject.records.some((r) => anyIn(r.sourceTypes, flow.from) && holds(where, r.resource));
}

/** FHIRPath truth (a non-empty result with no false in it), by the predicate compiled with the protocol. */
function holds(path: CompiledPath, resource: Resource): boolean {
  return path.test(resource);
}

function deny(reason: DenyReason, detail: string, flow?: FlowRef, consent?: string): Deny {
  return { effect: 'deny', reason, detail, ...(flow === undefined ? {} : { flow }), ...(consent === undefined ? {} : { consent }) };
}

/**
 * Names the permits the decision did not count and why, for the audit trail
 * and the IG lead's $explain-disclosure: "Consent/x/_history/1 ignored:
 * recorded by early-help, flow booking-to-childrens-centre takes consent recorded by maternity".
 */
function withIgnored(d: Deny, flow: Flow, ignored: readonly IgnoredConsent[] | undefined): Deny {
  if (ignored === undefined) return d;
  const takes = (flow.consentRecordedBy ?? flow.from).join(', ');
  const notes = ignored.map((i) => `${i.consent} ignored: recorded by ${i.recorderType}, flow ${flow.id} takes consent recorded by ${takes}`);
  return { ...d, detail: `${d.detail}; ${notes.join('; ')}`, ignored: notes };
}

function list(values: readonly string[]): string {
  return values.length === 0 ? 'no known source' : values.join(', ');
}

/** Some value of `values` is one of `allowed` (both a handful long: loops, not Sets). */
function anyIn(values: readonly string[], allowed: readonly string[]): boolean {
  for (const v of values) if (anyIs(allowed, v)) return true;
  return false;
}

function anyIs(values: readonly string[], value: string): boolean {
  for (const v of values) if (v === value) return true;
  return false;
}
