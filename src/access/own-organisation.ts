import type { Principal } from '../auth/principal.js';
import { isPublicType } from '../fhir/resource-types.js';

// Deny by default. Until protocols and consent decide disclosures, a client
// sees only what its own organisation sent. Pure.

export type AccessDecision = { effect: 'permit' } | { effect: 'deny'; reason: 'not-own-organisation' };

export interface StoredFacts {
  type: string;
  sourceOrg: string;
}

export function decideAccess(principal: Principal, stored: StoredFacts): AccessDecision {
  if (isPublicType(stored.type)) return { effect: 'permit' };
  return stored.sourceOrg === principal.organisationCode ? { effect: 'permit' } : { effect: 'deny', reason: 'not-own-organisation' };
}
