// The demo world: the partner organisations and the client systems that act
// for them. Codes, client ids, scopes and purposes are the ones every example,
// test and outside check relies on; change them only together with those.

import type { OrganisationType } from '../protocol/protocol-schema.js';

export type { OrganisationType } from '../protocol/protocol-schema.js';

export interface OrganisationRecord {
  code: string;
  system: string;
  type: OrganisationType;
  name: string;
  catchment: readonly string[];
}

export interface ClientRecord {
  id: string;
  organisation: string;
  scopes: readonly string[];
  purposes: readonly string[];
}

const ODS = 'https://fhir.nhs.uk/Id/ods-organization-code';
const LOCAL = 'urn:eastside:org';

export const demoOrganisations: readonly OrganisationRecord[] = [
  { code: 'R9M', system: ODS, type: 'maternity', name: 'Northgate Hospitals NHS Trust (Maternity)', catchment: [] },
  { code: 'Y90001', system: ODS, type: 'gp', name: 'Limehouse Practice', catchment: [] },
  { code: 'Y90002', system: ODS, type: 'gp', name: 'Bow Common Surgery', catchment: [] },
  { code: 'R9H', system: ODS, type: 'health-visiting', name: 'Eastside Community Health (Health Visiting)', catchment: [] },
  { code: 'E09000999-EH', system: LOCAL, type: 'early-help', name: 'London Borough of Eastside Early Help', catchment: [] },
  { code: 'CC-OCEAN', system: LOCAL, type: 'childrens-centre', name: "Ocean Children's Centre", catchment: ['E1', 'E1W'] },
  { code: 'CC-IOD', system: LOCAL, type: 'childrens-centre', name: "Isle of Dogs Children's Centre", catchment: ['E14'] },
  { code: 'EYHUB', system: LOCAL, type: 'hub-operator', name: 'Eastside Early Years Sharing Hub (information governance)', catchment: [] },
  { code: 'E09000999-PH', system: LOCAL, type: 'commissioner', name: 'London Borough of Eastside Public Health (commissioning)', catchment: [] },
];

const PULLER_SCOPES = ['system/*.rs', 'system/Task.u'];
const PULLER_PURPOSES = ['early-years-registration', 'immunisation-follow-up', 'early-help'];
const GP_SCOPES = ['system/Immunization.c', 'system/Patient.c', 'system/*.rs'];
const GP_PURPOSES = ['direct-care', 'early-help'];

export const demoClients: readonly ClientRecord[] = [
  {
    id: 'northgate-maternity',
    organisation: 'R9M',
    scopes: ['system/*.c', 'system/Consent.cruds', 'system/Task.rs', 'system/Task.u'],
    purposes: ['direct-care'],
  },
  { id: 'limehouse-gp', organisation: 'Y90001', scopes: GP_SCOPES, purposes: GP_PURPOSES },
  { id: 'bowcommon-gp', organisation: 'Y90002', scopes: GP_SCOPES, purposes: GP_PURPOSES },
  {
    id: 'eastside-hv',
    organisation: 'R9H',
    scopes: ['system/*.rs', 'system/QuestionnaireResponse.c', 'system/Consent.c', 'system/Task.u'],
    purposes: ['direct-care', 'immunisation-follow-up', 'early-help', 'safeguarding'],
  },
  {
    id: 'eastside-early-help',
    organisation: 'E09000999-EH',
    scopes: ['system/QuestionnaireResponse.c', 'system/Consent.cruds', 'system/*.rs'],
    purposes: ['early-help', 'safeguarding'],
  },
  { id: 'ocean-cc', organisation: 'CC-OCEAN', scopes: PULLER_SCOPES, purposes: PULLER_PURPOSES },
  { id: 'iod-cc', organisation: 'CC-IOD', scopes: PULLER_SCOPES, purposes: PULLER_PURPOSES },
  { id: 'eastside-public-health', organisation: 'E09000999-PH', scopes: ['system/MeasureReport.rs'], purposes: ['commissioning'] },
  { id: 'ig-console', organisation: 'EYHUB', scopes: ['system/AuditEvent.rs', 'system/Consent.rs'], purposes: ['audit'] },
];

/**
 * The demo GP practices send HL7 v2 over plain MLLP from loopback addresses of their own (README "HL7 v2 over
 * MLLP"): an address allow-list, the weaker option a deployment keeps for sites that cannot do mutual TLS.
 */
export const demoMllpSenders: readonly { clientId: string; address: string }[] = [
  { clientId: 'limehouse-gp', address: '127.0.0.1' },
  { clientId: 'bowcommon-gp', address: '127.0.0.2' },
];

/**
 * Clients that may manage their organisation's own Subscriptions (system/Subscription.crds), beside the
 * scopes above (which the shared partner fixtures pin): the children's centres and the health visitors.
 */
const SUBSCRIBERS: ReadonlySet<string> = new Set(['ocean-cc', 'iod-cc', 'eastside-hv']);

/** The scopes the demo registers for a client: its partner scopes, and the Subscription scope for subscribers. */
export function registeredScopes(client: ClientRecord): string[] {
  return [...client.scopes, ...(SUBSCRIBERS.has(client.id) ? ['system/Subscription.crds'] : [])];
}

/**
 * Where each organisation may be notified (the registry's allow-list for
 * Subscription endpoints): the demo's Ocean receiver on loopback
 * (src/demo/subscription-receiver.ts). A deployment registers its partners' HTTPS endpoints.
 */
export const demoSubscriptionEndpoints: readonly { organisation: string; prefix: string }[] = [
  { organisation: 'CC-OCEAN', prefix: 'http://127.0.0.1:9090/notifications' },
];
