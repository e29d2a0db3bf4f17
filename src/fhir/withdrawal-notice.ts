import type { AuditEvent, Communication, Consent, Reference, Resource } from 'fhir/r4.js';
import type { LoadedProtocol } from '../protocol/protocol-schema.js';
import { SYSTEMS } from './systems.js';

// Withdrawal notices, pure: when a consent stops permitting sharing, which
// organisations received data under it (read from the permit decisions in the
// audit log), and the FHIR Communication that tells each of them to act.
// See: https://hl7.org/fhir/R4/communication.html

/** Statuses a consent stops permitting sharing in (consent-check.ts reads these as withdrawn, refused or void). */
const WITHDRAWN = new Set<string>(['inactive', 'rejected', 'entered-in-error']);

/** What a notice lists in `about` beyond the Consent; the text gives the full count. */
export const MAX_ABOUT_RECORDS = 50;

/** A stored Consent goes from active (the only status that permits) to one that does not. */
export function isWithdrawal(before: Resource, after: Resource): boolean {
  if (before.resourceType !== 'Consent' || after.resourceType !== 'Consent') return false;
  return (before as Consent).status === 'active' && WITHDRAWN.has((after as Consent).status);
}

/** What one organisation received under a consent. */
export interface Receipt {
  organisation: { system: string; code: string };
  /** "protocol|version|flow" of each flow it received data under, in order of first use. */
  flows: string[];
  /** "Type/id/_history/n" of each record disclosed (the latest version disclosed), in order of first disclosure. */
  records: string[];
  first: Date;
  last: Date;
}

/**
 * Groups permit decisions (BALP AuthZ-Consent events, see audit-event.ts) by
 * the requesting organisation. The events are the ones resting on one consent;
 * an event naming no requesting organisation is left out.
 */
export function receiptsOf(events: readonly AuditEvent[]): Receipt[] {
  const byOrg = new Map<string, Receipt & { latest: Map<string, string> }>();
  for (const event of events) {
    const who = event.agent.find((a) => a.type?.coding?.some((c) => c.system === SYSTEMS.auditAgentRole && c.code === 'requesting-organisation'))?.who?.identifier;
    if (who?.value === undefined) continue;
    const at = new Date(event.recorded);
    const receipt = byOrg.get(who.value) ?? {
      organisation: { system: who.system ?? SYSTEMS.localOrg, code: who.value },
      flows: [],
      records: [],
      first: at,
      last: at,
      latest: new Map<string, string>(),
    };
    if (at < receipt.first) receipt.first = at;
    if (at > receipt.last) receipt.last = at;
    for (const entity of event.entity ?? []) {
      const flow = entity.what?.identifier?.system === SYSTEMS.protocolFlow ? entity.what.identifier.value : undefined;
      if (flow !== undefined && !receipt.flows.includes(flow)) receipt.flows.push(flow);
      const record = entity.type?.system === SYSTEMS.auditEntityType && entity.type.code === '2' && entity.role?.code === '4' ? entity.what?.reference : undefined;
      if (record === undefined) continue;
      const key = record.replace(/\/_history\/[^/]+$/, '');
      if (!receipt.latest.has(key)) receipt.records.push(key);
      if (versionOf(record) >= versionOf(receipt.latest.get(key))) receipt.latest.set(key, record);
    }
    byOrg.set(who.value, receipt);
  }
  return [...byOrg.values()]
    .sort((a, b) => (a.organisation.code < b.organisation.code ? -1 : 1))
    .map(({ latest, ...r }) => ({ ...r, records: r.records.map((k) => latest.get(k) ?? k) }));
}

/** An organisation as a notice names it. */
export interface NoticeParty {
  system: string;
  code: string;
  name?: string | undefined;
}

export interface WithdrawalNoticeInput {
  id: string;
  sent: Date;
  /** The Consent's withdrawn version, as stored. */
  consent: { id: string; versionId: number; content: Consent };
  recipient: NoticeParty;
  /** The hub operator's registered organisation, when there is one. */
  hub: NoticeParty | undefined;
  receipt: Receipt;
  protocols: readonly Pick<LoadedProtocol, 'id' | 'version' | 'title' | 'retention'>[];
}

/**
 * The notice to one organisation: a completed Communication from the hub,
 * about the Consent (its withdrawn version) and the records disclosed under
 * it, in plain English. Priority urgent: processing that rested on consent
 * must stop once it is withdrawn (UK GDPR Art. 7(3)), so the recipient should
 * act promptly; it is not a clinical emergency (asap/stat).
 * See: https://hl7.org/fhir/R4/valueset-request-priority.html
 */
export function withdrawalNotice(input: WithdrawalNoticeInput): Communication {
  const { consent, receipt, recipient } = input;
  const consentRef = `Consent/${consent.id}/_history/${consent.versionId}`;
  const records = receipt.records.slice(0, MAX_ABOUT_RECORDS);
  const patient = consent.content.patient?.reference;
  return {
    resourceType: 'Communication',
    id: input.id,
    status: 'completed',
    category: [{ coding: [{ system: SYSTEMS.noticeType, code: 'consent-withdrawn', display: 'Consent withdrawn' }] }],
    priority: 'urgent',
    ...(patient === undefined ? {} : { subject: { reference: patient } }),
    about: [{ reference: consentRef, type: 'Consent' }, ...records.map((r) => ({ reference: r }))],
    sent: input.sent.toISOString(),
    recipient: [organisationReference(recipient)],
    sender: { ...organisationReference(input.hub), display: 'Early Years Sharing Hub' },
    payload: [{ contentString: noticeText(input, consentRef) }],
  };
}

export function organisationReference(party: NoticeParty | undefined): Reference {
  if (party === undefined) return { type: 'Organization' };
  return { type: 'Organization', identifier: { system: party.system, value: party.code }, display: party.name ?? party.code };
}

function noticeText(input: WithdrawalNoticeInput, consentRef: string): string {
  const { consent, receipt, recipient } = input;
  const status = consent.content.status;
  const what = status === 'rejected' ? 'refused' : status === 'entered-in-error' ? 'marked entered in error (void)' : 'withdrawn';
  const patient = consent.content.patient?.reference;
  const n = receipt.records.length;
  const listed = n > MAX_ABOUT_RECORDS ? ` (the first ${MAX_ABOUT_RECORDS} are listed in this notice)` : '';
  return [
    `The consent ${consentRef}${patient === undefined ? '' : ` for ${patient}`} was ${what} on ${day(input.sent)}.`,
    `Under it, ${recipient.name ?? recipient.code} received ${n} record${n === 1 ? '' : 's'}${listed} from the hub ${period(receipt.first, receipt.last)}, under ${flowsText(receipt.flows, input.protocols)}.`,
    'The hub discloses nothing more under this consent.',
    `Review what you hold and ${retentionText(receipt.flows, input.protocols)}.`,
  ].join(' ');
}

/** "flows a and b of <title> version n", per protocol. */
function flowsText(flows: readonly string[], protocols: WithdrawalNoticeInput['protocols']): string {
  const parts = [...groupByProtocol(flows)].map(([key, ids]) => {
    const [id = '', version = ''] = key.split('|');
    const name = protocols.find((p) => p.id === id && String(p.version) === version)?.title ?? id;
    return `${ids.length === 1 ? 'flow' : 'flows'} ${and(ids)} of ${name} version ${version}`;
  });
  return parts.length === 0 ? 'a protocol flow' : and(parts);
}

/** The protocols' retention term for shared records, where they state one. */
function retentionText(flows: readonly string[], protocols: WithdrawalNoticeInput['protocols']): string {
  const parts = [...groupByProtocol(flows).keys()].map((key) => {
    const [id = '', version = ''] = key.split('|');
    const protocol = protocols.find((p) => p.id === id && String(p.version) === version);
    const name = `${protocol?.title ?? id} version ${version}`;
    const term = protocol?.retention?.sharedRecords;
    return term === undefined
      ? `act under the protocol's retention terms (${name})`
      : `act under the retention terms of ${name} (shared records: ${duration(term)}, ${term})`;
  });
  return parts.length === 0 ? "act under the protocol's retention terms" : and(parts);
}

function groupByProtocol(flows: readonly string[]): Map<string, string[]> {
  const groups = new Map<string, string[]>();
  for (const f of flows) {
    const [protocol = '', version = '', flow = ''] = f.split('|');
    const key = `${protocol}|${version}`;
    groups.set(key, [...(groups.get(key) ?? []), flow]);
  }
  return groups;
}

/** ISO 8601 P<n>Y|M|D (the protocol schema allows no other) in words. */
function duration(iso: string): string {
  const m = /^P(\d+)([YMD])$/.exec(iso);
  if (m === null) return iso;
  const n = Number(m[1]);
  const unit = m[2] === 'Y' ? 'year' : m[2] === 'M' ? 'month' : 'day';
  return `${n} ${unit}${n === 1 ? '' : 's'}`;
}

function and(items: readonly string[]): string {
  return items.length <= 1 ? (items[0] ?? '') : `${items.slice(0, -1).join(', ')} and ${items.at(-1) ?? ''}`;
}

function period(first: Date, last: Date): string {
  return day(first) === day(last) ? `on ${day(first)}` : `between ${day(first)} and ${day(last)}`;
}

function day(d: Date): string {
  return d.toISOString().slice(0, 10);
}

function versionOf(reference: string | undefined): number {
  const m = reference === undefined ? null : /\/_history\/(\d+)$/.exec(reference);
  return m === null ? 0 : Number(m[1]);
}
