import type { Binary, EpisodeOfCare, FhirResource, Immunization, Provenance } from 'fhir/r4.js';
import { createHash, randomUUID } from 'node:crypto';
import { HUB_EXTENSIONS } from '../adapters/codes.js';
import type { AdapterIssue, AdapterResult, IngestUnit, UnitEffect } from '../adapters/ingest-unit.js';
import { NHS_NUMBER_SYSTEM } from '../adapters/nhs-number.js';
import type { Principal } from '../auth/principal.js';
import type { Db, Tx } from '../db/database.js';
import { claimReceipt, findByIdentifier, findByIdentifiers, findReferring, lockIdentities, lockIdentity, recordReceiptOutcome, storeRawMessage } from '../db/ingest-queries.js';
import { writeVersion, writeVersions, type StoredResource } from '../db/resource-queries.js';
import { contentForRules, seal } from '../db/undisclosed.js';
import { caughtUp, keepCaughtUp, keepPregnancyOutcome, markEnteredInError, rewriteReferences, sameContent, withIdentifier } from '../fhir/resource-edits.js';
import { patientsOf } from '../fhir/resource-types.js';
import { buildCompleteHistoryList, HISTORY_ID_SYSTEM, historyKey } from '../followup/complete-history.js';
import { validateAgainstProfile } from '../fhir/profiles.js';
import { laterRevisionStored } from '../fhir/source-revision.js';
import { organisationsByCode } from '../db/notice-queries.js';
import { checkSender, mayCause, type Sender } from '../protocol/message-sources.js';
import type { LoadedProtocol, MessageKind } from '../protocol/protocol-schema.js';
import type { Schedule } from '../followup/schedule-schema.js';
import { requesterOf, type AuditRecorder, type RequestMeta } from './audit-recorder.js';
import { noticeNarrowing } from './narrowing-notices.js';
import { statePatient } from './patient-statements.js';
import { noticeWithdrawal } from './withdrawal-notices.js';
import type { DisclosureService } from './disclosure-service.js';
import { followUpWrittenDoses } from './dose-follow-ups.js';

// The imperative shell of ingest: each unit (one message, or one CSV row) is
// validated, matched to what is stored, written with its Provenance and its
// AuditEvent in one transaction, exactly once.

export interface IngestDeps {
  db: Db;
  audit: AuditRecorder;
  clock: () => Date;
  /** The protocols: who may send what (`sources`), and the retention terms a withdrawal notice quotes. */
  protocols: readonly LoadedProtocol[];
  /** Decides, for follow-up work, which owners its flows carry a Task to. */
  disclosure: DisclosureService;
  /** The national schedules: a dose given completes the overdue-dose work it satisfies. */
  schedules: readonly Schedule[];
}

export interface RawMessage {
  contentType: string;
  text: string;
}

export type UnitStatus = 'stored' | 'unchanged' | 'duplicate' | 'refused';

export interface UnitOutcome {
  /** Where the unit sat in the input: "message 2", "row 3", "Bundle". */
  label: string;
  messageKey: string | undefined;
  status: UnitStatus;
  /** HTTP status a refusal alone would earn: 400 unparsable, 403 not the sender, 409 older than what is held, 422 invalid. */
  refusal?: 400 | 403 | 409 | 422;
  /**
   * What the unit wrote (for a duplicate, what the first copy wrote): "Type/id/_history/n" of each record only
   * the sender has written, and "Patient/id" (never a version) of each Patient the unit is about. Records others
   * hold too are not named, and nothing says whether others hold the Patient (see storeUnit).
   */
  resources: string[];
  issues: AdapterIssue[];
}

const PREGNANCY = '77386006';
const SNOMED = 'http://snomed.info/sct';

export class IngestService {
  constructor(private readonly deps: IngestDeps) {}

  /** Stores each unit on its own (a CSV file is all-or-nothing per row; a message is all-or-nothing). */
  async ingest(
    principal: Principal,
    raw: RawMessage,
    units: readonly { label: string; result: AdapterResult<IngestUnit> }[],
    meta: RequestMeta,
  ): Promise<UnitOutcome[]> {
    const rawRow = this.rawMessage(principal, raw);
    // The sender's organisation type, from the registry (not the token): what `sources` is judged on.
    const senderType = (await organisationsByCode(this.deps.db, [principal.organisationCode])).get(principal.organisationCode)?.type;
    const outcomes: UnitOutcome[] = [];
    for (const { label, result } of units) {
      outcomes.push(result.ok ? await this.storeUnit(principal, senderType, result.value, label, rawRow, meta) : await this.refuse(principal, label, result, meta));
    }
    return outcomes;
  }

  private async refuse(
    principal: Principal,
    label: string,
    result: Extract<AdapterResult<IngestUnit>, { ok: false }>,
    meta: RequestMeta,
  ): Promise<UnitOutcome> {
    await this.deps.audit.transaction(this.deps.db, (tx) =>
      this.deps.audit.rest(tx, meta, requesterOf(principal), {
        interaction: 'operation',
        outcome: 'minor-failure',
        outcomeDesc: `${label} refused: ${result.issues.map((i) => `${i.location}: ${i.diagnostics}`).join('; ')}`,
      }),
    );
    return { label, messageKey: undefined, status: 'refused', refusal: result.kind === 'unparsable' ? 400 : 422, resources: [], issues: result.issues };
  }

  private async storeUnit(
    principal: Principal,
    senderType: string | undefined,
    unit: IngestUnit,
    label: string,
    raw: StoredResource,
    meta: RequestMeta,
  ): Promise<UnitOutcome> {
    if (unit.senderCode !== undefined && unit.senderCode !== principal.organisationCode) {
      const issue: AdapterIssue = {
        code: 'business-rule',
        diagnostics: `the message says it was sent by ${unit.senderCode}, but the client ${principal.clientId} acts for ${principal.organisationCode}`,
        location: 'sender',
      };
      const refused = await this.refuse(principal, label, { ok: false, kind: 'invalid', issues: [issue] }, meta);
      return { ...refused, messageKey: unit.messageKey, refusal: 403 };
    }
    // Who may send what (protocol `sources`): a message from anyone else is refused before anything is claimed or stored.
    const allowed = checkSender(this.deps.protocols, unit.event, senderType);
    if (!allowed.ok) {
      const issue: AdapterIssue = { code: 'forbidden', diagnostics: allowed.reason, location: 'event' };
      const refused = await this.refuse(principal, label, { ok: false, kind: 'invalid', issues: [issue] }, meta);
      return { ...refused, messageKey: unit.messageKey, refusal: 403 };
    }
    const sender: Sender = { organisationCode: principal.organisationCode, organisationType: senderType ?? '' };
    // The exactly-once key is the sender's: another organisation re-using a message id neither learns what it
    // stored nor stops the real message.
    const receiptKey = `${principal.organisationCode}|${unit.messageKey}`;
    const attempt = await this.deps.audit.transaction(this.deps.db, async (tx): Promise<UnitOutcome | { rollback: UnitOutcome }> => {
      const claim = await claimReceipt(tx, { messageKey: receiptKey, event: unit.event, clientId: principal.clientId, receivedAt: this.deps.clock() });
      if (!claim.claimed) {
        const earlier = (claim.outcome ?? {}) as { resources?: string[] };
        await this.deps.audit.rest(tx, meta, requesterOf(principal), {
          interaction: 'operation',
          outcome: 'success',
          outcomeDesc: `${label}: ${unit.messageKey} was already received; nothing changed`,
        });
        return { label, messageKey: unit.messageKey, status: 'duplicate', resources: earlier.resources ?? [], issues: [] };
      }
      const written = await this.writeUnit(tx, principal, sender, allowed.kind, unit, raw, meta);
      if ('issues' in written) {
        // Roll back the receipt too: a corrected copy with the same key may come.
        throw new RollbackUnit({ label, messageKey: unit.messageKey, status: 'refused', refusal: written.refusal ?? 422, resources: [], issues: written.issues });
      }
      // The answer must not tell whether others hold a record (DESIGN.md §10, "Denials say nothing"): it names
      // what the sender alone has written, with its version; each Patient the unit is about by id alone, whether
      // the NHS number was new to the hub or others have spoken of it (its version would count their writes);
      // and nothing of records others hold too (a pregnancy a birth ends, a missed dose a catch-up closes).
      // Stored or unchanged is judged on the sender's own word: its records, and its statements about Patients.
      const own = written.rows.filter((r) => r.type !== 'Patient' && !written.shared.has(`${r.type}/${r.id}`));
      const outcome: UnitOutcome = {
        label,
        messageKey: unit.messageKey,
        status: written.ownChanged ? 'stored' : 'unchanged',
        resources: [...written.patients.map((id) => `Patient/${id}`), ...own.map(versioned)],
        issues: [],
      };
      await recordReceiptOutcome(tx, receiptKey, { status: outcome.status, resources: outcome.resources });
      await this.deps.audit.rest(tx, meta, requesterOf(principal), {
        interaction: 'operation',
        outcome: 'success',
        outcomeDesc: `${label}: ${unit.event} ${unit.messageKey}`,
        resources: written.rows.map(versioned),
        patients: [...new Set([...written.patients.map((id) => `Patient/${id}`), ...written.rows.flatMap((r) => patientsOf(storedContent(r)))])],
      });
      return outcome;
    }).catch((err: unknown) => {
      if (err instanceof RollbackUnit) return { rollback: err.outcome };
      throw err;
    });
    if ('rollback' in attempt) {
      const { refusal } = attempt.rollback;
      return this.refuse(principal, label, { ok: false, kind: 'invalid', issues: attempt.rollback.issues }, meta).then((r) => ({ ...r, messageKey: unit.messageKey, ...(refusal === undefined ? {} : { refusal }) }));
    }
    return attempt;
  }

  /** Matches, merges, validates and writes a unit's resources, its effects and its Provenance. */
  private async writeUnit(
    tx: Tx,
    principal: Principal,
    sender: Sender,
    kind: MessageKind,
    unit: IngestUnit,
    raw: StoredResource,
    meta: RequestMeta,
  ): Promise<{ rows: StoredResource[]; shared: Set<string>; patients: string[]; ownChanged: boolean } | { issues: AdapterIssue[]; refusal?: 403 | 409 }> {
    const now = this.deps.clock();
    // Lock identities in a fixed order so two messages about one child never deadlock or duplicate it.
    const identities = unit.entries.flatMap((e) => (e.match === undefined ? [] : [`${e.resource.resourceType}|${e.match.system}|${e.match.value}`]));
    await lockIdentities(tx, [...new Set(identities)].sort());

    // Every entry's match in two statements, once its identities are locked.
    const lookups = unit.entries.flatMap((entry) =>
      entry.match === undefined
        ? []
        : [
            {
              type: entry.resource.resourceType,
              system: entry.match.system,
              value: entry.match.value,
              // A person is one record whoever sends about them (one Patient per NHS number); any other record is
              // matched only among the sender's own, so no one can overwrite another organisation's record.
              writtenBy: entry.resource.resourceType === 'Patient' ? undefined : principal.organisationCode,
            },
          ],
    );
    const matches = await findByIdentifiers(tx, lookups);
    const existing = new Map<string, StoredResource | undefined>();
    const ids = new Map<string, string>();
    let matched = 0;
    for (const entry of unit.entries) {
      const found = entry.match === undefined ? undefined : matches[matched++];
      existing.set(entry.fullUrl, found);
      ids.set(entry.fullUrl, `${entry.resource.resourceType}/${found?.id ?? randomUUID()}`);
    }
    // A revision older than the one held (messages out of order, a stale re-export) changes nothing.
    for (const entry of unit.entries) {
      const found = existing.get(entry.fullUrl);
      if (found === undefined || entry.revision === undefined) continue;
      const held = laterRevisionStored(storedContent(found), entry.revision.number);
      if (held === undefined) continue;
      const diagnostics = `revision ${entry.revision.number} is older than revision ${held} of this ${found.type}, which the hub holds: nothing was changed`;
      return { issues: [{ code: 'conflict', diagnostics, location: entry.revision.location }], refusal: 409 };
    }
    const issues: AdapterIssue[] = [];
    const rows: StoredResource[] = [];
    // The Patients the unit is about, and whether the sender's own word changed: its statements and its records.
    const patients: string[] = [];
    let ownChanged = false;
    for (const [index, entry] of unit.entries.entries()) {
      const found = existing.get(entry.fullUrl);
      const [, id = ''] = (ids.get(entry.fullUrl) ?? '').split('/');
      let content = withIdentifier(rewriteReferences(entry.resource, ids), entry.match);
      if (entry.action === 'delete') {
        if (found === undefined) continue; // nothing to withdraw: the delete is a no-op
        const writers = found.sourceOrgs ?? [found.sourceOrg];
        if (!mayCause(this.deps.protocols, sender, { kind: 'entered-in-error', recordType: found.type, writers, messageKind: kind })) {
          const diagnostics = `${found.type} records other organisations have written are not marked entered-in-error by a ${sender.organisationType} message`;
          return { issues: [{ code: 'forbidden', diagnostics, location: `entry[${index}]` }], refusal: 403 };
        }
        content = markEnteredInError(storedContent(found));
      } else if (content.resourceType === 'Patient') {
        // One Patient per NHS number, composed from what each source said: no source overwrites another's word.
        const stated = await statePatient(this.deps, tx, principal, meta, { id, found }, content, 'merge');
        if (!patients.includes(id)) patients.push(id);
        ownChanged ||= stated.changed;
        content = stated.composed;
      } else if (found !== undefined) {
        content = keepCaughtUp(storedContent(found), keepPregnancyOutcome(storedContent(found), content));
      }
      content = { ...content, id };
      const valid = validateAgainstProfile(content);
      if (!valid.ok) {
        for (const i of valid.problem.outcome.issue) {
          issues.push({ code: adapterCode(i.code), diagnostics: i.diagnostics ?? 'invalid', location: `entry[${index}] ${(i.expression ?? []).join(', ')}` });
        }
        continue;
      }
      if (found !== undefined && sameContent(storedContent(found), content)) continue;
      if (content.resourceType !== 'Patient') ownChanged = true;
      rows.push(this.version(principal, content, found, now));
    }
    if (issues.length > 0) return { issues };
    const shared = new Set<string>();
    for (const found of existing.values()) if (found !== undefined) noteShared(shared, found, principal.organisationCode);
    await writeVersions(tx, rows);
    // A Consent withdrawn (a CAF re-sent without consent, a booking update, a partner's delete): its recipients are told in this transaction.
    const before = new Map([...existing.values()].flatMap((f) => (f === undefined ? [] : [[`${f.type}/${f.id}`, f] as const])));
    for (const row of rows) {
      const prior = before.get(`${row.type}/${row.id}`);
      if (prior !== undefined) await noticeWithdrawal(this.deps, tx, meta, prior, row);
      // A refusal or deny the sender records narrows at once; those whose consent it overrides are told.
      await noticeNarrowing(this.deps, tx, meta, prior, row);
    }
    // Effects on records others wrote happen only from a source the protocol allows for them (message-sources.ts).
    for (const effect of unit.effects) {
      if (effect.kind === 'birth' && !mayCause(this.deps.protocols, sender, { kind: 'end-pregnancy' })) continue;
      rows.push(...(await this.applyEffect(tx, principal, effect, ids, now, shared)));
    }
    if (mayCause(this.deps.protocols, sender, { kind: 'close-missed-dose' })) rows.push(...(await this.closeMissedDoses(tx, principal, rows, now, shared)));
    // A missed dose becomes follow-up work, and a dose given completes it (the hub's own Tasks, audited as its own).
    await followUpWrittenDoses(this.deps, tx, meta, rows);
    if (rows.length > 0) {
      await storeRawMessage(tx, raw);
      const provenance = assertValid(this.provenance(principal, unit, rows, raw, now));
      await writeVersion(tx, provenance);
    }
    return { rows, shared, patients, ownChanged };
  }

  /** A birth ends the mother's pregnancy episode, records its outcome and links the baby to it. */
  private async applyEffect(
    tx: Tx,
    principal: Principal,
    effect: UnitEffect,
    ids: ReadonlyMap<string, string>,
    now: Date,
    shared: Set<string>,
  ): Promise<StoredResource[]> {
    switch (effect.kind) {
      case 'birth': {
        const mother = await findByIdentifier(tx, 'Patient', NHS_NUMBER_SYSTEM, effect.motherNhsNumber);
        const baby = ids.get(effect.babyFullUrl);
        if (mother === undefined || baby === undefined) return [];
        const episodes = await findReferring(tx, 'EpisodeOfCare', 'patient', `Patient/${mother.id}`);
        const rows: StoredResource[] = [];
        for (const stored of episodes) {
          const episode = storedContent(stored) as EpisodeOfCare;
          const isPregnancy = episode.type?.some((t) => t.coding?.some((c) => c.system === SNOMED && c.code === PREGNANCY)) ?? false;
          const open = episode.status === 'active' || episode.status === 'waitlist' || episode.status === 'planned';
          // A second baby of the same delivery (twins) joins the pregnancy the first one ended.
          const sameDelivery =
            episode.status === 'finished' &&
            episode.period?.end === effect.date &&
            (episode.extension ?? []).some((e) => e.url === `${HUB_EXTENSIONS}/pregnancy-outcome`) &&
            !(episode.extension ?? []).some((e) => e.url === `${HUB_EXTENSIONS}/pregnancy-baby` && e.valueReference?.reference === baby);
          if (!isPregnancy || !(open || sameDelivery)) continue;
          const ended: EpisodeOfCare = {
            ...episode,
            status: 'finished',
            period: { ...episode.period, end: effect.date },
            extension: [
              ...(episode.extension ?? []),
              { url: `${HUB_EXTENSIONS}/pregnancy-outcome`, valueCode: effect.outcome },
              { url: `${HUB_EXTENSIONS}/pregnancy-baby`, valueReference: { reference: baby } },
            ],
          };
          const row = assertValid(this.version(principal, ended, stored, now));
          await writeVersion(tx, row);
          noteShared(shared, stored, principal.organisationCode);
          rows.push(row);
        }
        return rows;
      }
      case 'unborn':
        // The assessment is already recorded against the mother (its subject); the
        // birth notification later links her baby. Nothing else to change.
        return [];
      case 'complete-history':
        return this.recordCompleteHistory(tx, principal, effect, now);
    }
  }

  /**
   * The practice's complete history of a child: a snapshot List of the doses it
   * sent (its own records only; a dose it withdrew is not in it). One List per
   * practice and child, replaced by the next complete history.
   */
  private async recordCompleteHistory(
    tx: Tx,
    principal: Principal,
    effect: Extract<UnitEffect, { kind: 'complete-history' }>,
    now: Date,
  ): Promise<StoredResource[]> {
    const child = await findByIdentifier(tx, 'Patient', NHS_NUMBER_SYSTEM, effect.nhsNumber);
    if (child === undefined) return [];
    const entries: string[] = [];
    for (const dose of effect.immunizations) {
      const found = await findByIdentifier(tx, 'Immunization', dose.system, dose.value, principal.organisationCode);
      if (found !== undefined && (storedContent(found) as Immunization).status !== 'entered-in-error') entries.push(`Immunization/${found.id}`);
    }
    const key = historyKey(principal.organisationCode, effect.nhsNumber);
    await lockIdentity(tx, `List|${HISTORY_ID_SYSTEM}|${key}`);
    const found = await findByIdentifier(tx, 'List', HISTORY_ID_SYSTEM, key, principal.organisationCode);
    const list = buildCompleteHistoryList({
      id: found?.id ?? randomUUID(),
      subject: `Patient/${child.id}`,
      source: { system: principal.organisationSystem, code: principal.organisationCode },
      nhsNumber: effect.nhsNumber,
      date: now.toISOString(),
      entries,
    });
    const row = assertValid(this.version(principal, list, found, now));
    await writeVersion(tx, row);
    return [row];
  }

  /** A dose given closes the same child's earlier missed doses of that vaccination (see caughtUp). */
  private async closeMissedDoses(tx: Tx, principal: Principal, written: readonly StoredResource[], now: Date, shared: Set<string>): Promise<StoredResource[]> {
    const rows: StoredResource[] = [];
    for (const given of written) {
      if (given.type !== 'Immunization' || (storedContent(given) as Immunization).status !== 'completed') continue;
      const patient = (storedContent(given) as Immunization).patient.reference;
      if (patient === undefined) continue;
      for (const stored of await findReferring(tx, 'Immunization', 'patient', patient)) {
        const closed = caughtUp(storedContent(stored) as Immunization, storedContent(given) as Immunization);
        if (closed === undefined) continue;
        const row = assertValid(this.version(principal, closed, stored, now));
        await writeVersion(tx, row);
        noteShared(shared, stored, principal.organisationCode);
        rows.push(row);
      }
    }
    return rows;
  }

  private version(principal: Principal, content: FhirResource, found: StoredResource | undefined, now: Date): StoredResource {
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

  private rawMessage(principal: Principal, raw: RawMessage): StoredResource {
    const id = createHash('sha256').update(raw.text, 'utf8').digest('hex');
    const now = this.deps.clock();
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
  private provenance(principal: Principal, unit: IngestUnit, rows: readonly StoredResource[], raw: StoredResource, now: Date): StoredResource {
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
}

/** Records another organisation has also written (one Patient per NHS number, a pregnancy a birth ends). */
function noteShared(shared: Set<string>, stored: StoredResource, sender: string): void {
  if ((stored.sourceOrgs ?? [stored.sourceOrg]).some((o) => o !== sender)) shared.add(`${stored.type}/${stored.id}`);
}

class RollbackUnit extends Error {
  constructor(readonly outcome: UnitOutcome) {
    super('unit rolled back');
  }
}

/** What the hub writes itself must meet its profiles too: a failure here is a bug, not the sender's fault. */
function assertValid(row: StoredResource): StoredResource {
  const valid = validateAgainstProfile(storedContent(row));
  if (!valid.ok) throw new Error(`hub-built ${row.type} fails its profile: ${valid.problem.outcome.issue.map((i) => (i.expression ?? []).join(',')).join('; ')}`);
  return row;
}

function adapterCode(code: string): AdapterIssue['code'] {
  switch (code) {
    case 'structure':
    case 'required':
    case 'value':
    case 'code-invalid':
    case 'business-rule':
      return code;
    default:
      return 'invalid';
  }
}

function versioned(r: StoredResource): string {
  return `${r.type}/${r.id}/_history/${r.versionId}`;
}

/** What is stored, for the merge and matching rules of ingest (never an answer: the answer names versions only). */
function storedContent(row: StoredResource): FhirResource {
  return contentForRules(row.content) as FhirResource;
}
