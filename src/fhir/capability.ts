import type { CapabilityStatement, CapabilityStatementRestResource, CapabilityStatementRestResourceSearchParam } from 'fhir/r4.js';
import { isPublicType, searchParamsOf, supportedTypes } from './resource-types.js';

// Lists exactly what the hub implements. See: https://hl7.org/fhir/R4/capabilitystatement.html

const SP_BASE = 'http://hl7.org/fhir/SearchParameter';

export function capabilityStatement(baseUrl: string, softwareVersion: string, released: string): CapabilityStatement {
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: released,
    kind: 'instance',
    software: { name: 'Early Years Sharing Hub', version: softwareVersion },
    implementation: { description: 'Early Years Sharing Hub FHIR API', url: `${baseUrl}/fhir` },
    fhirVersion: '4.0.1',
    format: ['application/fhir+json', 'json'],
    rest: [
      {
        mode: 'server',
        documentation:
          'Every interaction needs a SMART Backend Services access token with a scope for the resource type and interaction. ' +
          'Every record that leaves is decided against the signed information-sharing protocols and the family\'s consent ' +
          '(purpose of use from the token; a safeguarding override needs an X-Override-Reason header), and carries only the ' +
          'elements of the permitted data items (labelled REDACTED/SUBSETTED). A denied read answers 404 with the deny reason code; ' +
          'a search omits denied records, and gives total only when the filtered result is complete. ' +
          'Search: GET only; unknown parameters are refused unless Prefer: handling=lenient; _count at most 100; ' +
          '_sort=_lastUpdated or -_lastUpdated; _include of a reference parameter; paging by sealed next links. ' +
          'Instance history returns the latest 100 versions.',
        security: {
          cors: false,
          service: [
            {
              coding: [{ system: 'http://terminology.hl7.org/CodeSystem/restful-security-service', code: 'SMART-on-FHIR' }],
            },
          ],
          extension: [
            {
              url: 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris',
              extension: [{ url: 'token', valueUri: `${baseUrl}/auth/token` }],
            },
          ],
        },
        operation: [
          {
            name: 'process-message',
            definition: 'http://hl7.org/fhir/OperationDefinition/MessageHeader-process-message',
            documentation:
              'POST a FHIR message Bundle: R4 pregnancy-notification-1, or NHS NEMS STU3 pds-birth-notification-1 and vaccinations-1. Needs the create scope of the event focus type (EpisodeOfCare, Patient, Immunization).',
          },
          {
            name: 'explain-disclosure',
            definition: `${baseUrl}/fhir/OperationDefinition/explain-disclosure`,
            documentation:
              'GET [type]/[id]/$explain-disclosure?organisation=CODE&purpose=CODE[&override-reason=TEXT]: would that organisation, for that purpose, see this record now, and why? ' +
              'Answers a Parameters resource (decision, reason or basis, flow, consent, data items, elements) and discloses nothing of the record. For the information governance client (hub-operator, purpose audit) only.',
          },
        ],
        resource: [
          ...supportedTypes.map((type) => ({
            type: type as CapabilityStatementRestResource['type'],
            interaction: [
              { code: 'read' as const },
              { code: 'vread' as const },
              { code: 'history-instance' as const },
              { code: 'search-type' as const },
              // The hub's own definitions (Questionnaire) are read-only.
              ...(isPublicType(type) ? [] : [{ code: 'create' as const }, { code: 'update' as const }]),
            ],
            versioning: 'versioned-update' as const,
            readHistory: true,
            updateCreate: false,
            conditionalCreate: !isPublicType(type),
            conditionalRead: 'not-supported' as const,
            conditionalUpdate: false,
            conditionalDelete: 'not-supported' as const,
            searchParam: searchParams(type),
          })),
          auditEventResource(baseUrl),
        ],
      },
    ],
  };
}

/**
 * The audit log, for the information governance lead only (a hub-operator
 * client, purpose audit, system/AuditEvent.rs; or the /ig page's session).
 * See: https://hl7.org/fhir/R4/auditevent.html#search
 */
function auditEventResource(baseUrl: string): CapabilityStatementRestResource {
  const token = (name: string, documentation: string): CapabilityStatementRestResourceSearchParam => ({ name, definition: `${SP_BASE}/AuditEvent-${name}`, type: 'token', documentation });
  const hub = (name: string, documentation: string): CapabilityStatementRestResourceSearchParam => ({ name, definition: `${baseUrl}/fhir/SearchParameter/AuditEvent-${name}`, type: 'token', documentation });
  return {
    type: 'AuditEvent',
    documentation:
      'For the information governance lead only. Events are returned as stored; every search and read is itself audited. ' +
      'Comma = OR within a parameter; repeated parameters AND. _count default 50, at most 500 (0: total only); ' +
      '_sort=date or -date (default -date, newest first); _total=accurate gives total; paging by sealed next links.',
    interaction: [{ code: 'read' }, { code: 'search-type' }],
    versioning: 'no-version',
    readHistory: false,
    updateCreate: false,
    conditionalCreate: false,
    conditionalRead: 'not-supported',
    conditionalUpdate: false,
    conditionalDelete: 'not-supported',
    searchParam: [
      { name: 'patient', definition: `${SP_BASE}/AuditEvent-patient`, type: 'reference', documentation: 'Patient/[id] named by an entity; patient:identifier=[system|]value for every Patient carrying that identifier' },
      { name: 'agent', definition: `${SP_BASE}/AuditEvent-agent`, type: 'reference', documentation: 'a client id or organisation code (agent.who.identifier.value), or system|value' },
      { name: 'entity', definition: `${SP_BASE}/AuditEvent-entity`, type: 'reference', documentation: '[type]/[id] (any version) or [type]/[id]/_history/[vid]' },
      { name: 'date', definition: `${SP_BASE}/AuditEvent-date`, type: 'date', documentation: 'recorded; prefixes eq, ge, gt, le, lt' },
      token('outcome', '0, 4, 8 or 12'),
      token('subtype', '[system|]code, e.g. AuthZ-Consent or search-type'),
      token('type', '[system|]code, e.g. 110113 or rest'),
      token('action', 'C, R, U, D or E'),
      hub('flow', 'the information-sharing protocol flow a decision rested on: a flow name or protocol|version|flow'),
      hub('purpose', 'purposeOfEvent: [system|]code of the purpose of use'),
    ],
  };
}

function searchParams(type: string): CapabilityStatementRestResourceSearchParam[] {
  const { identifier, references, tokens, moreReferences } = searchParamsOf(type);
  const params: CapabilityStatementRestResourceSearchParam[] = [
    { name: '_id', definition: `${SP_BASE}/Resource-id`, type: 'token' },
    { name: '_lastUpdated', definition: `${SP_BASE}/Resource-lastUpdated`, type: 'date', documentation: 'prefixes eq, gt, ge, lt, le' },
  ];
  if (references.length > 0) params.push({ name: '_include', definition: `${SP_BASE}/Resource-id`, type: 'special', documentation: references.map((r) => `${type}:${r}`).join(', ') });
  if (identifier) params.push({ name: 'identifier', definition: `${SP_BASE}/clinical-identifier`, type: 'token' });
  for (const name of references) {
    params.push({ name, definition: `${SP_BASE}/${type}-${name}`, type: 'reference' });
  }
  for (const name of Object.keys(tokens)) {
    const [base = name, modifier] = name.split(':');
    params.push(
      modifier === undefined
        ? { name, definition: `${SP_BASE}/${type}-${name}`, type: 'token' }
        : { name: base, definition: `${SP_BASE}/${type}-${base}`, type: 'reference', documentation: `only with :${modifier} ([system|]value of the organisation's identifier)` },
    );
  }
  for (const name of Object.keys(moreReferences)) params.push({ name, definition: `${SP_BASE}/${type}-${name}`, type: 'reference' });
  return params;
}
