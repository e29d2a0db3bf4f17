import type { Coding, ConsentProvision } from 'fhir/r4.js';
import type { ConsentFacts } from './decision-types.js';

// Reads the family's Consent resources for one prospective disclosure.
// FHIR R4 Consent: the root provision's type applies to what it matches, and
// nested provisions are exceptions to it. A refusal (status rejected) or an
// active deny is a "no"; a consent made inactive is a withdrawal.
// See: https://hl7.org/fhir/R4/consent.html#provision
//
// Who recorded a consent matters only for a "yes": a permit counts only when
// an organisation the flow takes consent from (its `consentRecordedBy`, by
// default its `from`) recorded it; anyone may narrow, so a refusal, a deny or
// a withdrawal counts whoever recorded it (DESIGN.md section 10).

const ORGANISATION_TYPE_SYSTEM = 'urn:eastside:organisation-type';
const ORGANISATION_SYSTEMS = new Set(['https://fhir.nhs.uk/Id/ods-organization-code', 'urn:eastside:org']);
const PURPOSE_SYSTEM = 'https://eastside.example/fhir/CodeSystem/purpose-of-use';
const RESOURCE_TYPES_SYSTEM = 'http://hl7.org/fhir/resource-types';
const ISP_PREFIX = 'urn:isp:';

/** The disclosure a consent is asked about. */
export interface ConsentQuestion {
  recipientType: string;
  recipientCode: string;
  purpose: string;
  resourceType: string;
  /** YYYY-MM-DD */
  day: string;
  /** The protocol the flow belongs to: a consent naming another ISP as its policy does not apply. */
  protocolId: string;
  /** Organisation types whose recorded permit counts for the flow. */
  recordedBy: readonly string[];
}

/** A permit that would have applied, recorded by an organisation the flow does not take consent from. */
export interface IgnoredConsent {
  consent: string;
  recorderType: string;
}

export type ConsentAnswer =
  | { kind: 'deny'; consent: string }
  | { kind: 'permit'; consent: string }
  | { kind: 'withdrawn'; consent: string; ignored?: readonly IgnoredConsent[] }
  | { kind: 'none'; ignored?: readonly IgnoredConsent[] };

/** Deny overrides permit; a standing permit outweighs an older withdrawn one; a permit from the wrong recorder is ignored. */
export function answerConsents(consents: readonly ConsentFacts[], q: ConsentQuestion): ConsentAnswer {
  let permit: ConsentAnswer | undefined;
  let withdrawn: { kind: 'withdrawn'; consent: string } | undefined;
  // Allocated only when a permit is ignored (rare), to keep the common decision allocation-free.
  let ignored: IgnoredConsent[] | undefined;
  for (const facts of consents) {
    const c = facts.consent;
    if (!isPrivacyConsent(c.scope?.coding) || !appliesToProtocol(c.policy, q.protocolId)) continue;
    const effect = c.provision === undefined ? undefined : provisionEffect(c.provision, q);
    switch (c.status) {
      case 'active':
        if (effect === 'deny') return { kind: 'deny', consent: facts.reference };
        if (effect === 'permit' && permit === undefined) {
          if (q.recordedBy.includes(facts.recorder.organisationType)) permit = { kind: 'permit', consent: facts.reference };
          else (ignored ??= []).push({ consent: facts.reference, recorderType: facts.recorder.organisationType });
        }
        break;
      case 'rejected':
        // A refusal: whatever it would have allowed is refused; with no provision it refuses everything.
        if (c.provision === undefined || effect !== undefined) return { kind: 'deny', consent: facts.reference };
        break;
      case 'inactive':
        if (effect === 'permit') withdrawn ??= { kind: 'withdrawn', consent: facts.reference };
        break;
      case 'draft':
      case 'proposed':
      case 'entered-in-error':
        break;
    }
  }
  if (permit !== undefined) return permit;
  if (ignored === undefined) return withdrawn ?? { kind: 'none' };
  return withdrawn === undefined ? { kind: 'none', ignored } : { ...withdrawn, ignored };
}

function isPrivacyConsent(scope: readonly Coding[] | undefined): boolean {
  if (scope === undefined) return false;
  for (const c of scope) if (c.code === 'patient-privacy') return true;
  return false;
}

/** A consent naming no ISP as its policy applies to every protocol; one naming ISPs, only to those. */
function appliesToProtocol(policy: readonly { uri?: string }[] | undefined, protocolId: string): boolean {
  if (policy === undefined) return true;
  let namesAnIsp = false;
  for (const p of policy) {
    const uri = p.uri;
    if (typeof uri !== 'string' || !uri.startsWith(ISP_PREFIX)) continue;
    // uri === `urn:isp:${protocolId}`, without building the string for every consent.
    if (uri.length === ISP_PREFIX.length + protocolId.length && uri.endsWith(protocolId)) return true;
    namesAnIsp = true;
  }
  return !namesAnIsp;
}

/** The effect of a provision tree for the question, or undefined where it says nothing. */
function provisionEffect(p: ConsentProvision, q: ConsentQuestion): 'permit' | 'deny' | undefined {
  // An explicit "no" for this recipient stands even outside the provision it is nested in
  // (a CAF's "do not share with" sits beside the agencies the family agreed to).
  if (!matches(p, q)) return (p.provision ?? []).some((n) => provisionEffect(n, q) === 'deny') ? 'deny' : undefined;
  let effect: 'permit' | 'deny' | undefined = p.type;
  let nestedPermit = false;
  for (const nested of p.provision ?? []) {
    const e = provisionEffect(nested, q);
    if (e === 'deny') return 'deny';
    if (e === 'permit') nestedPermit = true;
  }
  if (nestedPermit) effect = 'permit';
  return effect;
}

function matches(p: ConsentProvision, q: ConsentQuestion): boolean {
  if (p.period !== undefined) {
    if (p.period.start !== undefined && q.day < dayPart(p.period.start)) return false;
    if (p.period.end !== undefined && q.day > dayPart(p.period.end)) return false;
  }
  if (p.actor !== undefined && p.actor.length > 0) {
    const named = p.actor.some((a) => {
      const id = a.reference.identifier;
      if (id?.value === undefined) return false;
      if (id.system === ORGANISATION_TYPE_SYSTEM) return id.value === q.recipientType;
      return id.system !== undefined && ORGANISATION_SYSTEMS.has(id.system) && id.value === q.recipientCode;
    });
    if (!named) return false;
  }
  if (p.purpose !== undefined && p.purpose.length > 0) {
    if (!p.purpose.some((c) => c.code === q.purpose && (c.system === undefined || c.system === PURPOSE_SYSTEM))) return false;
  }
  if (p.class !== undefined && p.class.length > 0) {
    if (!p.class.some((c) => c.code === q.resourceType && (c.system === undefined || c.system === RESOURCE_TYPES_SYSTEM))) return false;
  }
  return true;
}

/** The date of a FHIR date or dateTime (its first ten characters); a bare date is returned as it is. */
function dayPart(value: string): string {
  return value.length <= 10 ? value : value.slice(0, 10);
}
