import type { AuditEvent, AuditEventAgent, AuditEventEntity, Coding } from 'fhir/r4.js';
import { SYSTEMS } from '../fhir/systems.js';
import { deepFrozen } from './canonical-json.js';

// Builders of AuditEvents in the shape of IHE Basic Audit Log Patterns (BALP).
// See: https://profiles.ihe.net/ITI/BALP/ and https://hl7.org/fhir/R4/auditevent.html
// Pure: the id and the time are passed in. What events share (codings, the
// agents of one requester, the source) is frozen, so that canonical JSON
// writes each out once (see canonicalJson).

/** FHIR restful interactions the hub audits. See: https://hl7.org/fhir/R4/codesystem-restful-interaction.html */
export type RestInteraction =
  | 'read'
  | 'vread'
  | 'history-instance'
  | 'search-type'
  | 'create'
  | 'update'
  | 'capabilities'
  | 'operation';

export type AuditOutcome = 'success' | 'minor-failure' | 'serious-failure';

/** Who asked: what the hub knows of the requester, even when authentication failed. */
export interface AuditRequester {
  clientId?: string | undefined;
  organisationCode?: string | undefined;
  organisationSystem?: string | undefined;
  organisationType?: string | undefined;
  purposeOfUse?: string | undefined;
}

export interface AuditContext {
  id: string;
  recorded: Date;
  requestId: string;
  /** The hub's base URL: the observer and the destination. */
  hubBaseUrl: string;
  clientAddress?: string | undefined;
  requester: AuditRequester;
}

export interface RestAuditDetails {
  interaction: RestInteraction;
  outcome: AuditOutcome;
  outcomeDesc?: string | undefined;
  /** "Patient/id" of every patient the request touched. */
  patients?: readonly string[];
  /** "Type/id/_history/n" (or "Type/id") of every resource read or written. */
  resources?: readonly string[];
  /** The query string of a search, as sent. */
  query?: string | undefined;
  /** The resource type a search or create addressed. */
  resourceType?: string | undefined;
}

/** One disclosure decision (BALP AuthZ-Consent): permit or deny, and on what it rested. */
export interface DecisionAuditDetails {
  effect: 'permit' | 'deny';
  /** The deny reason code, or the permit's basis (flow, originator, public). */
  code: string;
  detail?: string | undefined;
  /** "Patient/id" of each patient the records are about. */
  patients: readonly string[];
  /** "Type/id/_history/n" of each record decided alike. */
  resources: readonly string[];
  /** What each of those records is ("a mother's registration, E1"), by its reference: the entity's description. */
  descriptions?: Readonly<Record<string, string>> | undefined;
  flow?: { protocol: string; version: number; flow: string } | undefined;
  /** "Consent/id/_history/n" each decision used. */
  consents: readonly string[];
  /** The stated reason of a safeguarding override. */
  override?: string | undefined;
}

export interface LoginAuditDetails {
  outcome: AuditOutcome;
  outcomeDesc?: string | undefined;
}

const PERSON = deepFrozen({ system: SYSTEMS.auditEntityType, code: '1', display: 'Person' });
const SYSTEM_OBJECT = deepFrozen({ system: SYSTEMS.auditEntityType, code: '2', display: 'System Object' });
const PATIENT_ROLE = deepFrozen({ system: SYSTEMS.objectRole, code: '1', display: 'Patient' });
const DOMAIN_RESOURCE = deepFrozen({ system: SYSTEMS.objectRole, code: '4', display: 'Domain Resource' });
const QUERY_ROLE = deepFrozen({ system: SYSTEMS.objectRole, code: '24', display: 'Query' });
const CONSENT_TYPE = deepFrozen({ system: SYSTEMS.resourceTypes, code: 'Consent', display: 'Consent' });
const FLOW_TYPE = deepFrozen({ system: SYSTEMS.auditEntityKind, code: 'protocol-flow', display: 'Information-sharing protocol flow' });
const DECISION_TYPE = deepFrozen({ system: SYSTEMS.auditEntityKind, code: 'decision', display: 'Disclosure decision' });
const REQUEST_ID_TYPE = deepFrozen({ system: SYSTEMS.balpEntityType, code: 'XrequestId', display: 'X-Request-Id' });
const SECURITY_ALERT = deepFrozen({ system: SYSTEMS.dicom, code: '110113', display: 'Security Alert' });
const AUTHZ_CONSENT = deepFrozen([{ system: SYSTEMS.balpAuthZSubType, code: 'AuthZ-Consent', display: 'Authorization Decision using Roles and Consent' }]);
const REST_TYPE = deepFrozen({ system: SYSTEMS.auditEventType, code: 'rest', display: 'Restful Operation' });

const ACTION: Record<RestInteraction, NonNullable<AuditEvent['action']>> = {
  read: 'R',
  vread: 'R',
  'history-instance': 'R',
  'search-type': 'E',
  create: 'C',
  update: 'U',
  capabilities: 'R',
  operation: 'E',
};

const OUTCOME_CODE: Record<AuditOutcome, NonNullable<AuditEvent['outcome']>> = {
  success: '0',
  'minor-failure': '4',
  'serious-failure': '8',
};

export function restAuditEvent(ctx: AuditContext, details: RestAuditDetails): AuditEvent {
  const entities: AuditEventEntity[] = [
    ...(details.patients ?? []).map(patientEntity),
    ...(details.resources ?? []).map((r) => resourceEntity(r)),
  ];
  if (details.query !== undefined) entities.push(queryEntity(details.query, details.resourceType));
  return auditEvent(ctx, details, {
    type: REST_TYPE,
    subtype: [{ system: SYSTEMS.restfulInteraction, code: details.interaction }],
    action: ACTION[details.interaction],
    entity: entities,
  });
}

/**
 * Disclosure decisions in the shape of BALP AuthZconsent: DICOM 110113
 * Security Alert, subtype AuthZ-Consent, outcome 0 (permit) or 8 (deny),
 * with the patients, the records, the Consent and the protocol flow as
 * entities. One event holds the decisions of a request that were alike.
 * See: https://profiles.ihe.net/ITI/BALP/StructureDefinition-IHE.BasicAudit.AuthZconsent.html
 */
export function decisionAuditEvent(ctx: AuditContext, d: DecisionAuditDetails): AuditEvent {
  const entities: AuditEventEntity[] = [...d.patients.map(patientEntity), ...d.resources.map((r) => resourceEntity(r, d.descriptions?.[r]))];
  for (const consent of d.consents) {
    entities.push({
      what: { reference: consent },
      type: CONSENT_TYPE,
      role: DOMAIN_RESOURCE,
    });
  }
  if (d.flow !== undefined) {
    entities.push({
      what: { identifier: { system: SYSTEMS.protocolFlow, value: `${d.flow.protocol}|${d.flow.version}|${d.flow.flow}` } },
      type: FLOW_TYPE,
      detail: [
        { type: 'protocol', valueString: clean(d.flow.protocol) },
        { type: 'version', valueString: String(d.flow.version) },
        { type: 'flow', valueString: clean(d.flow.flow) },
      ],
    });
  }
  entities.push({
    type: DECISION_TYPE,
    detail: [
      { type: 'effect', valueString: d.effect },
      { type: d.effect === 'deny' ? 'reason' : 'basis', valueString: clean(d.code) },
      ...(d.override === undefined ? [] : [{ type: 'override-reason', valueString: clean(d.override) }]),
    ],
  });
  const event = auditEvent(
    ctx,
    { outcome: d.effect === 'permit' ? 'success' : 'serious-failure', outcomeDesc: `${d.effect}: ${d.code}${d.detail === undefined ? '' : ` (${d.detail})`}` },
    {
      type: SECURITY_ALERT,
      subtype: AUTHZ_CONSENT,
      action: 'E',
      entity: entities,
    },
  );
  // A safeguarding override is flagged on the event itself, for the IG lead's review.
  return d.override === undefined ? event : { ...event, meta: { tag: [{ system: SYSTEMS.auditEntityKind, code: 'safeguarding-override', display: 'Safeguarding override: IG review' }] } };
}

/** Token requests: DICOM 110114 User Authentication, subtype 110122 Login. */
export function loginAuditEvent(ctx: AuditContext, details: LoginAuditDetails): AuditEvent {
  return auditEvent(ctx, details, {
    type: { system: SYSTEMS.dicom, code: '110114', display: 'User Authentication' },
    subtype: [{ system: SYSTEMS.dicom, code: '110122', display: 'Login' }],
    action: 'E',
    entity: [],
  });
}

/** What every event shares: who, when, outcome, where, and the request id as the transaction entity. */
function auditEvent(
  ctx: AuditContext,
  details: { outcome: AuditOutcome; outcomeDesc?: string | undefined },
  kind: Required<Pick<AuditEvent, 'type' | 'subtype' | 'action' | 'entity'>>,
): AuditEvent {
  return {
    resourceType: 'AuditEvent',
    id: ctx.id,
    type: kind.type,
    subtype: kind.subtype,
    action: kind.action,
    recorded: ctx.recorded.toISOString(),
    outcome: OUTCOME_CODE[details.outcome],
    ...(details.outcomeDesc === undefined ? {} : { outcomeDesc: clean(details.outcomeDesc) }),
    ...purposeOfEvent(ctx.requester),
    ...sharedParts(ctx),
    entity: [...kind.entity, transactionEntity(ctx.requestId)],
  };
}

function purposeCoding(code: string): Coding {
  return { system: SYSTEMS.purposeOfUse, code: clean(code) };
}

function purposeOfEvent(r: AuditRequester): Pick<AuditEvent, 'purposeOfEvent'> {
  return r.purposeOfUse === undefined ? {} : { purposeOfEvent: [{ coding: [purposeCoding(r.purposeOfUse)] }] };
}

/** The agents and source of the last few requesters (a request's events share them), frozen. */
const sharedByRequester = new Map<string, Pick<AuditEvent, 'agent' | 'source'>>();
const SHARED_KEPT = 256;

function sharedParts(ctx: AuditContext): Pick<AuditEvent, 'agent' | 'source'> {
  const r = ctx.requester;
  const key = JSON.stringify([ctx.hubBaseUrl, ctx.clientAddress, r.clientId, r.organisationCode, r.organisationSystem, r.organisationType, r.purposeOfUse]);
  let parts = sharedByRequester.get(key);
  if (parts === undefined) {
    parts = deepFrozen({ agent: agents(ctx), source: source(ctx) });
    if (sharedByRequester.size >= SHARED_KEPT) sharedByRequester.clear();
    sharedByRequester.set(key, parts);
  }
  return parts;
}

function agents(ctx: AuditContext): AuditEventAgent[] {
  const r = ctx.requester;
  const purpose = r.purposeOfUse === undefined ? {} : { purposeOfUse: [{ coding: [purposeCoding(r.purposeOfUse)] }] };
  const client: AuditEventAgent = {
    // BALP: the client is the Source Role ID, even though data flows to it.
    type: { coding: [{ system: SYSTEMS.dicom, code: '110153', display: 'Source Role ID' }] },
    who:
      r.clientId === undefined
        ? { display: 'unidentified client' }
        : { identifier: { system: SYSTEMS.client, value: clean(r.clientId) } },
    requestor: true,
    ...purpose,
    ...(ctx.clientAddress === undefined ? {} : { network: { address: clean(ctx.clientAddress), type: '2' as const } }),
  };
  const server: AuditEventAgent = {
    type: { coding: [{ system: SYSTEMS.dicom, code: '110152', display: 'Destination Role ID' }] },
    who: { display: 'Early Years Sharing Hub' },
    requestor: false,
    network: { address: ctx.hubBaseUrl, type: '5' },
  };
  const result = [client, server];
  if (r.organisationCode !== undefined) {
    result.push({
      type: {
        coding: [{ system: SYSTEMS.auditAgentRole, code: 'requesting-organisation', display: 'Requesting organisation' }],
      },
      who: {
        type: 'Organization',
        identifier: { system: r.organisationSystem ?? SYSTEMS.localOrg, value: r.organisationCode },
      },
      ...(r.organisationType === undefined
        ? {}
        : { role: [{ coding: [{ system: SYSTEMS.organisationType, code: r.organisationType }] }] }),
      requestor: false,
      ...purpose,
    });
  }
  return result;
}

function source(ctx: AuditContext): AuditEvent['source'] {
  return {
    site: ctx.hubBaseUrl,
    observer: { display: 'Early Years Sharing Hub' },
    type: [{ system: SYSTEMS.securitySourceType, code: '4', display: 'Application Server' }],
  };
}

function patientEntity(reference: string): AuditEventEntity {
  return {
    what: { reference },
    type: PERSON,
    role: PATIENT_ROLE,
  };
}

function resourceEntity(reference: string, description?: string): AuditEventEntity {
  return {
    what: { reference },
    type: SYSTEM_OBJECT,
    role: DOMAIN_RESOURCE,
    ...(description === undefined ? {} : { description: clean(description) }),
  };
}

function queryEntity(query: string, resourceType: string | undefined): AuditEventEntity {
  return {
    type: SYSTEM_OBJECT,
    role: QUERY_ROLE,
    ...(resourceType === undefined ? {} : { description: clean(resourceType) }),
    // BALP carries the query base64-encoded; it may hold identifiers, so it stays out of logs.
    query: Buffer.from(query, 'utf8').toString('base64'),
  };
}

function transactionEntity(requestId: string): AuditEventEntity {
  return {
    what: { identifier: { value: clean(requestId) } },
    type: REQUEST_ID_TYPE,
  };
}

/** jsonb refuses NUL; lone surrogates break RFC 8785. Neither belongs in an audit string. */
function clean(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/\u0000/g, '').toWellFormed().slice(0, 1000);
}
