import type { Binary, FhirResource, Provenance } from 'fhir/r4.js';
import { createHash, randomUUID } from 'node:crypto';
import type { IngestUnit } from '../adapters/ingest-unit.js';
import type { Principal } from '../auth/principal.js';
import type { StoredResource } from '../db/resource-queries.js';
import { contentForRules, seal } from '../db/undisclosed.js';
import { validateAgainstProfile } from '../fhir/profiles.js';

// The rows ingest writes besides the sender's records: each new version, the
// raw message as a Binary, the Provenance tying them together; and the small
// rules about them that ingest-service.ts and ingest-effects.ts share.

export function versionOf(principal: Principal, content: FhirResource, found: StoredResource | undefined, now: Date): StoredResource {
  const versionId = (found?.versionId ?? 0) + 1;
  const id = content.id ?? '';
  return {
    type: content.resourceType,
    id,
    versionId,
    lastUpdated: now,
    sourceOrg: principal.organisationCode,
    content: seal({ ...content, id, meta: { ...(content.meta ?? {}), versionId: String(versionId), lastUpdated: now.toISOString() } }),
  };
}

export function rawMessageRow(principal: Principal, raw: { contentType: string; text: string }, now: Date): StoredResource {
  const id = createHash('sha256').update(raw.text, 'utf8').digest('hex');
  const binary: Binary = {
    resourceType: 'Binary',
    id,
    meta: { versionId: '1', lastUpdated: now.toISOString() },
    contentType: raw.contentType,
    data: Buffer.from(raw.text, 'utf8').toString('base64'),
  };
  return { type: 'Binary', id, versionId: 1, lastUpdated: now, sourceOrg: principal.organisationCode, content: seal(binary) };
}

/** What was made from which raw message, by whom. See: https://hl7.org/fhir/R4/provenance.html */
export function provenanceRow(principal: Principal, unit: IngestUnit, rows: readonly StoredResource[], raw: StoredResource, now: Date): StoredResource {
  const id = randomUUID();
  const content: Provenance = {
    resourceType: 'Provenance',
    id,
    target: rows.map((r) => ({ reference: versioned(r) })),
    recorded: now.toISOString(),
    activity: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-DataOperation', code: 'CREATE' }], text: unit.event },
    agent: [
      {
        type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/provenance-participant-type', code: 'author' }] },
        who: { identifier: { system: principal.organisationSystem, value: principal.organisationCode } },
      },
      {
        type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/provenance-participant-type', code: 'custodian' }] },
        who: { identifier: { system: 'urn:eastside:client', value: principal.clientId } },
      },
    ],
    entity: [{ role: 'source', what: { reference: `Binary/${raw.id}`, identifier: { system: 'urn:eastside:message-key', value: unit.messageKey } } }],
  };
  return { type: 'Provenance', id, versionId: 1, lastUpdated: now, sourceOrg: principal.organisationCode, content: seal({ ...content, meta: { versionId: '1', lastUpdated: now.toISOString() } }) };
}

/** Records another organisation has also written (one Patient per NHS number, a pregnancy a birth ends). */
export function noteShared(shared: Set<string>, stored: StoredResource, sender: string): void {
  if ((stored.sourceOrgs ?? [stored.sourceOrg]).some((o) => o !== sender)) shared.add(`${stored.type}/${stored.id}`);
}

/** What the hub writes itself must meet its profiles too: a failure here is a bug, not the sender's fault. */
export function assertValid(row: StoredResource): StoredResource {
  const valid = validateAgainstProfile(storedContent(row));
  if (!valid.ok) throw new Error(`hub-built ${row.type} fails its profile: ${valid.problem.outcome.issue.map((i) => (i.expression ?? []).join(',')).join('; ')}`);
  return row;
}

export function versioned(r: StoredResource): string {
  return `${r.type}/${r.id}/_history/${r.versionId}`;
}

/** What is stored, for the merge and matching rules of ingest (never an answer: the answer names versions only). */
export function storedContent(row: StoredResource): FhirResource {
  return contentForRules(row.content) as FhirResource;
}
