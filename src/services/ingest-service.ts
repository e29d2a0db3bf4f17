import { randomUUID } from 'node:crypto';
import type { AdapterIssue, AdapterResult, IngestUnit } from '../adapters/ingest-unit.js';
import type { Principal } from '../auth/principal.js';
import type { Db, Tx } from '../db/database.js';
import { claimReceipt, earlierOutcome, findByIdentifiers, lockIdentities, recordReceiptOutcome, storeRawMessage } from '../db/ingest-queries.js';
import { writeVersion, writeVersions, type StoredResource } from '../db/resource-queries.js';
import { keepCaughtUp, keepPregnancyOutcome, markEnteredInError, rewriteReferences, sameContent, withIdentifier } from '../fhir/resource-edits.js';
import { patientsOf } from '../fhir/resource-types.js';
import { validateAgainstProfile } from '../fhir/profiles.js';
import { laterRevisionStored } from '../fhir/source-revision.js';
import { checkSender, mayCause, type Sender } from '../protocol/message-sources.js';
import type { LoadedProtocol, MessageKind } from '../protocol/protocol-schema.js';
import type { Schedule } from '../followup/schedule-schema.js';
import { requesterOf, type AuditRecorder, type RequestMeta } from './audit-recorder.js';
import { noticeNarrowing } from './narrowing-notices.js';
import { statePatient } from './patient-statements.js';
import { noticeWithdrawal } from './withdrawal-notices.js';
import type { DisclosureService } from './disclosure-service.js';
import { followUpWrittenDoses } from './dose-follow-ups.js';
import { applyEffect, closeMissedDoses } from './ingest-effects.js';
import { assertValid, noteShared, provenanceRow, rawMessageRow, storedContent, versioned, versionOf } from './ingest-records.js';

// The imperative shell of ingest: each unit (one message, or one CSV row) is
// validated, matched to what is stored, written with its Provenance and its
// AuditEvent in one transaction, exactly once. What a unit changes beyond its
// own records is in ingest-effects.ts; the rows it builds, in ingest-records.ts.

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

export class IngestService {
  constructor(private readonly deps: IngestDeps) {}

  /** Stores each unit on its own (a CSV file is all-or-nothing per row; a message is all-or-nothing). */
  async ingest(
    principal: Principal,
    raw: RawMessage,
    units: readonly { label: string; result: AdapterResult<IngestUnit> }[],
    meta: RequestMeta,
  ): Promise<UnitOutcome[]> {
    const rawRow = rawMessageRow(principal, raw, this.deps.clock());
    const outcomes: UnitOutcome[] = [];
    for (const { label, result } of units) {
      outcomes.push(result.ok ? await this.storeUnit(principal, result.value, label, rawRow, meta) : await this.refuse(principal, label, result, meta));
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
    // The exactly-once key is the sender's: another organisation re-using a message id neither learns what it
    // stored nor stops the real message.
    const receiptKey = `${principal.organisationCode}|${unit.messageKey}`;
    const attempt = await this.deps.audit.transaction(this.deps.db, async (tx): Promise<UnitOutcome | { rollback: UnitOutcome }> => {
      const claiming = claimReceipt(tx, {
        messageKey: receiptKey,
        event: unit.event,
        clientId: principal.clientId,
        receivedAt: this.deps.clock(),
        organisation: principal.organisationCode,
      });
      // The unit's identity locks and lookups go out with the claim, and run after it (the order sent): one round
      // trip, not two. Their answer is used only once the claim is known to be new and the sender allowed; if the
      // claim fails, they fail with its transaction, and that failure is the claim's. Only for a sender whose token
      // says it may send this event: one that may not never waits on, or reads, the records of the people it names.
      const matching = checkSender(this.deps.protocols, unit.event, principal.organisationType).ok ? lockAndFind(tx, principal, unit) : undefined;
      matching?.catch(() => undefined);
      const claim = await claiming;
      // Who may send what (protocol `sources`), on the sender's organisation type from the registry (not the token),
      // read with the claim: a message from anyone else is refused, duplicate or not, and its claim rolled back.
      const allowed = checkSender(this.deps.protocols, unit.event, claim.senderType);
      if (!allowed.ok) {
        const issue: AdapterIssue = { code: 'forbidden', diagnostics: allowed.reason, location: 'event' };
        throw new RollbackUnit({ label, messageKey: unit.messageKey, status: 'refused', refusal: 403, resources: [], issues: [issue] });
      }
      if (!claim.claimed) {
        const earlier = ((await earlierOutcome(tx, receiptKey)) ?? {}) as { resources?: string[] };
        await this.deps.audit.rest(tx, meta, requesterOf(principal), {
          interaction: 'operation',
          outcome: 'success',
          outcomeDesc: `${label}: ${unit.messageKey} was already received; nothing changed`,
        });
        return { label, messageKey: unit.messageKey, status: 'duplicate', resources: earlier.resources ?? [], issues: [] };
      }
      const sender: Sender = { organisationCode: principal.organisationCode, organisationType: claim.senderType ?? '' };
      const written = await this.writeUnit(tx, principal, sender, allowed.kind, unit, raw, meta, await (matching ?? lockAndFind(tx, principal, unit)));
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
    /** Each matched entry's stored record, in the order of the unit's entries with a match (lockAndFind). */
    matches: readonly (StoredResource | undefined)[],
  ): Promise<{ rows: StoredResource[]; shared: Set<string>; patients: string[]; ownChanged: boolean } | { issues: AdapterIssue[]; refusal?: 403 | 409 }> {
    const now = this.deps.clock();
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
      rows.push(versionOf(principal, content, found, now));
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
      rows.push(...(await applyEffect(tx, principal, effect, ids, now, shared)));
    }
    // A Patient first seen in this unit has no records but the unit's, and no follow-up work yet.
    const minted = new Set(unit.entries.flatMap((e) => (e.resource.resourceType === 'Patient' && existing.get(e.fullUrl) === undefined ? [ids.get(e.fullUrl) ?? ''] : [])));
    if (mayCause(this.deps.protocols, sender, { kind: 'close-missed-dose' })) rows.push(...(await closeMissedDoses(tx, principal, rows, now, shared, minted)));
    // A missed dose becomes follow-up work, and a dose given completes it (the hub's own Tasks, audited as its own).
    // The sender's type was read with the claim.
    await followUpWrittenDoses(this.deps, tx, meta, rows, { writer: sender, minted });
    if (rows.length > 0) {
      await storeRawMessage(tx, raw);
      const provenance = assertValid(provenanceRow(principal, unit, rows, raw, now));
      await writeVersion(tx, provenance);
    }
    return { rows, shared, patients, ownChanged };
  }
}

class RollbackUnit extends Error {
  constructor(readonly outcome: UnitOutcome) {
    super('unit rolled back');
  }
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

/**
 * Locks the unit's identities in a fixed order, so two messages about one child never deadlock or duplicate it,
 * and finds every entry's match once they are locked: two statements, the first not waited for.
 */
function lockAndFind(tx: Tx, principal: Principal, unit: IngestUnit): Promise<(StoredResource | undefined)[]> {
  const identities = unit.entries.flatMap((e) => (e.match === undefined ? [] : [`${e.resource.resourceType}|${e.match.system}|${e.match.value}`]));
  const locked = lockIdentities(tx, [...new Set(identities)].sort());
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
  return Promise.all([locked, findByIdentifiers(tx, lookups)]).then(([, found]) => found);
}
