import { evalFhirPath } from '@medplum/core';
import type { Resource } from 'fhir/r4.js';
import { addressees, isPublicType } from '../../src/fhir/resource-types.js';
import { dayOf, standingOf } from '../../src/protocol/in-force.js';
import type { CompiledItem, CompiledPath, Flow, LoadedProtocol, SubjectRole } from '../../src/protocol/protocol-schema.js';
import { answerConsents, type IgnoredConsent } from '../../src/decision/consent-check.js';
import { HUB_ORGANISATION, type Decision, type Deny, type DenyReason, type FlowRef, type Permit, type RecordFacts, type Requester, type SubjectFacts } from '../../src/decision/decision-types.js';
import { isRestricted, pregnancyLoss, roleOf, subjectDistrict } from '../../src/decision/subject.js';

// The disclosure decision as it was written before the flow index and the
// per-decision memo (src/decision/decide.ts at the time): every flow of every
// protocol scanned in order, each fact worked out where it is read, FHIRPath
// evaluated by @medplum/core on every call. Kept for one purpose: the property
// test decide-indexed.test.ts asserts that decide() gives the same Decision.
//
// The disclosure decision: one pure function of the requester, the record,
// what is known of its subject, the family's consents, the protocols and the
// day. Deny by default: a record no in-force flow carries to this requester,
// for this purpose, is denied, with the reason. Where several flows apply,
// any denial wins (a protocol out of force denies every flow in it).
// See DESIGN.md sections 2, 5 and 6.

interface DecisionInput {
  requester: Requester;
  record: RecordFacts;
  /** The record's subject; undefined when it names no patient the hub holds. */
  subject: SubjectFacts | undefined;
  protocols: readonly LoadedProtocol[];
  now: Date;
}

export function decideReference(input: DecisionInput): Decision {
  const { requester, record } = input;
  const type = record.resource.resourceType;
  if (isPublicType(type)) return { effect: 'permit', basis: 'public' };
  // Reading back what one wrote is not a disclosure, unless another organisation has written to the record too.
  if (record.writer === requester.organisationCode && (record.alsoWrittenBy ?? []).length === 0) return { effect: 'permit', basis: 'originator' };
  // A notice the hub itself addressed to the requester's organisation (a withdrawal notice) is delivered to it,
  // whole; to anyone else it is a record no flow carries.
  if (record.writer === HUB_ORGANISATION && (record.alsoWrittenBy ?? []).length === 0 && addressees(record.resource).some((a) => a.value === requester.organisationCode)) {
    return { effect: 'permit', basis: 'addressed' };
  }

  const role = input.subject === undefined ? undefined : roleOf(input.subject.patient, input.now);
  let miss: { reason: DenyReason; detail: string } = {
    reason: 'no-flow',
    detail: `no flow carries ${type} records from ${list(record.sourceTypes)} to ${requester.organisationType}`,
  };
  let permit: Permit | undefined;
  for (const protocol of input.protocols) {
    let standing: ReturnType<typeof standingOf> | undefined;
    for (const flow of protocol.flows) {
      if (!flow.to.includes(requester.organisationType as never)) continue;
      if (!record.sourceTypes.some((t) => flow.from.includes(t as never))) continue;
      const items = coveringItems(flow, record.resource, role);
      if (items.length === 0) continue;
      const ref: FlowRef = { protocol: protocol.id, version: protocol.version, flow: flow.id };
      if (!flow.purposes.includes(requester.purpose as never)) {
        // The deepest miss explains the denial: a flow for this record exists, but not for this purpose.
        if (miss.reason === 'no-flow') {
          miss = { reason: 'purpose-not-permitted', detail: `flow ${flow.id} is for ${flow.purposes.join(', ')}, not ${requester.purpose}` };
        }
        continue;
      }
      // A candidate flow: from here on it either permits or denies, and any denial wins.
      standing ??= standingOf(protocol, input.now);
      if (!standing.inForce) {
        return deny('protocol-not-in-force', `protocol ${protocol.id} v${protocol.version} is not in force: ${standing.reason}`, ref);
      }
      const outcome = judgeFlow(flow, ref, items, input);
      if (outcome.effect === 'deny') return outcome;
      permit ??= outcome;
    }
  }
  if (permit === undefined) return deny(miss.reason, miss.detail);
  // A Task says what it is about: work on a record the requester may not see (a refused dose, the hub's own forecast)
  // would disclose that record. It goes only with its focus.
  if (permit.basis === 'flow' && focusOf(record.resource) !== undefined && record.focusDisclosed !== true) {
    return deny('focus-not-disclosed', `the ${type} is about ${focusOf(record.resource) ?? ''}, which is not disclosed to this requester`, permit.flow);
  }
  return permit;
}

/** The record a Task is about (R4 Task.focus), if it names one. */
function focusOf(resource: Resource): string | undefined {
  if (resource.resourceType !== 'Task') return undefined;
  const ref = (resource as { focus?: { reference?: unknown } }).focus?.reference;
  return typeof ref === 'string' && ref.length > 0 ? ref : undefined;
}

/** The checks of one applicable flow, in the order DESIGN.md gives them. */
function judgeFlow(flow: Flow, ref: FlowRef, items: readonly CompiledItem[], input: DecisionInput): Permit | Deny {
  const { requester, record, subject } = input;
  const type = record.resource.resourceType;
  let override: string | undefined;
  let loss: boolean | undefined;
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
        loss ??= pregnancyLoss(subject);
        if (loss) return deny('excluded:pregnancy-loss', `flow ${flow.id} excludes records after a pregnancy loss`, ref);
        break;
      case 'restricted-record':
        if (isRestricted(subject.patient) || isRestricted(record.resource)) {
          return deny('excluded:restricted-record', `flow ${flow.id} excludes restricted records`, ref);
        }
        break;
    }
  }
  if (flow.area === 'recipient-catchment') {
    const district = subjectDistrict(subject.patient);
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
      day: dayOf(input.now),
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
  const elements = [...new Set(items.flatMap((i) => i.elements.get(type) ?? []))];
  return { effect: 'permit', basis: 'flow', flow: ref, consent, items: items.map((i) => i.name), elements, override };
}

/** The flow's data items that carry this kind of record about this subject. */
function coveringItems(flow: Flow, resource: Resource, role: SubjectRole | undefined): CompiledItem[] {
  return flow.items.filter((item) => {
    if (!item.elements.has(resource.resourceType)) return false;
    if (item.about !== 'any' && item.about !== role) return false;
    const select = item.select.get(resource.resourceType);
    return select === undefined || holds(select, resource);
  });
}

/**
 * A record must meet the flow's condition; a Patient is carried when some
 * record about them from the flow's source meets it (a child's registration
 * goes with their missed dose, not on its own).
 */
function whereHolds(flow: Flow, where: CompiledPath, record: RecordFacts, subject: SubjectFacts): boolean {
  if (record.resource.resourceType !== 'Patient') return holds(where, record.resource);
  return subject.records.some((r) => r.sourceTypes.some((t) => flow.from.includes(t as never)) && holds(where, r.resource));
}

/** FHIRPath truth: a non-empty result with no false in it. */
function holds(path: CompiledPath, resource: Resource): boolean {
  try {
    const result = evalFhirPath(path.atom, resource);
    return result.length > 0 && result.every((v) => v !== false);
  } catch {
    // An expression that cannot be evaluated on this record does not hold for it.
    return false;
  }
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
