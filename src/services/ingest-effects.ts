import type { EpisodeOfCare, Immunization } from 'fhir/r4.js';
import { randomUUID } from 'node:crypto';
import { HUB_EXTENSIONS } from '../adapters/codes.js';
import type { UnitEffect } from '../adapters/ingest-unit.js';
import { NHS_NUMBER_SYSTEM } from '../adapters/nhs-number.js';
import type { Principal } from '../auth/principal.js';
import type { Tx } from '../db/database.js';
import { findReferringMany } from '../db/disclosure-queries.js';
import { findByIdentifier, findReferring, lockIdentity } from '../db/ingest-queries.js';
import { writeVersion, writeVersions, type StoredResource } from '../db/resource-queries.js';
import { caughtUp } from '../fhir/resource-edits.js';
import { buildCompleteHistoryList, HISTORY_ID_SYSTEM, historyKey } from '../followup/complete-history.js';
import { assertValid, noteShared, storedContent, versionOf } from './ingest-records.js';

// What a unit changes beyond its own records, once they are written: a birth
// ends the mother's pregnancy, a complete history replaces the practice's
// List, a dose given closes the child's earlier missed doses. ingest-service.ts
// applies these only from a source the protocol allows for them.

const PREGNANCY = '77386006';
const SNOMED = 'http://snomed.info/sct';

/** A birth ends the mother's pregnancy episode, records its outcome and links the baby to it. */
export async function applyEffect(
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
        rows.push(assertValid(versionOf(principal, ended, stored, now)));
        noteShared(shared, stored, principal.organisationCode);
      }
      // Distinct episodes, none read again here: written together.
      await writeVersions(tx, rows);
      return rows;
    }
    case 'unborn':
      // The assessment is already recorded against the mother (its subject); the
      // birth notification later links her baby. Nothing else to change.
      return [];
    case 'complete-history':
      return recordCompleteHistory(tx, principal, effect, now);
  }
}

/**
 * The practice's complete history of a child: a snapshot List of the doses it
 * sent (its own records only; a dose it withdrew is not in it). One List per
 * practice and child, replaced by the next complete history.
 */
async function recordCompleteHistory(
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
  const row = assertValid(versionOf(principal, list, found, now));
  await writeVersion(tx, row);
  return [row];
}

/**
 * A dose given closes the same child's earlier missed doses of that vaccination (see caughtUp). The children's
 * Immunizations are read in one statement; a child whose id this transaction minted (`minted`, "Patient/id") has
 * no records but those it wrote, so its are taken from `written` and not asked for.
 */
export async function closeMissedDoses(
  tx: Tx,
  principal: Principal,
  written: readonly StoredResource[],
  now: Date,
  shared: Set<string>,
  minted: ReadonlySet<string> = new Set(),
): Promise<StoredResource[]> {
  const given = written.flatMap((row) => {
    const immunization = storedContent(row) as Immunization;
    const patient = row.type === 'Immunization' && immunization.status === 'completed' ? immunization.patient.reference : undefined;
    return patient === undefined ? [] : [{ immunization, patient }];
  });
  if (given.length === 0) return [];
  // Each child's Immunizations as they stand in this transaction, by id (a dose closed here replaces its version).
  const doses = new Map<string, Map<string, StoredResource>>();
  const keep = (patient: string, row: StoredResource): void => {
    const held = doses.get(patient) ?? new Map<string, StoredResource>();
    held.set(row.id, row);
    doses.set(patient, held);
  };
  const children = [...new Set(given.map((g) => g.patient))];
  for (const { target, row } of await findReferringMany(tx, 'Immunization', 'patient', children.filter((c) => !minted.has(c)))) keep(target, row);
  for (const row of written) {
    const patient = row.type === 'Immunization' ? (storedContent(row) as Immunization).patient.reference : undefined;
    if (patient !== undefined && minted.has(patient)) keep(patient, row);
  }
  const rows: StoredResource[] = [];
  for (const { immunization, patient } of given) {
    for (const stored of [...(doses.get(patient)?.values() ?? [])]) {
      const closed = caughtUp(storedContent(stored) as Immunization, immunization);
      if (closed === undefined) continue;
      const row = assertValid(versionOf(principal, closed, stored, now));
      await writeVersion(tx, row);
      noteShared(shared, stored, principal.organisationCode);
      keep(patient, row);
      rows.push(row);
    }
  }
  return rows;
}
