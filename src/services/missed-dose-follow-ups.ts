import type { Immunization } from 'fhir/r4.js';
import type { Tx } from '../db/database.js';
import type { OrganisationFacts } from '../db/disclosure-queries.js';
import { readRegistry } from '../db/notice-queries.js';
import { writtenIn } from '../db/written-rows.js';
import type { StoredResource } from '../db/resource-queries.js';
import { contentForRules } from '../db/undisclosed.js';
import type { FollowUpSpec } from '../followup/follow-up-task.js';
import { isMissedAppointment, missedDoseState } from '../followup/missed-dose.js';
import type { RequestMeta } from './audit-recorder.js';
import { closeFollowUps, hubPartyIn, ownersMaySee, raiseFollowUps, type FollowUpDeps, type HubParty } from './follow-up-service.js';
import { mintedSubjectFacts } from './subject-facts.js';

// A missed dose becomes work (story step 9): the health visitors always, and
// the children's centre whose catchment holds the child when the family did
// not attend (a refusal or contraindication goes to the health visitors
// only). Each owner gets a Task only when its flow carries that Task to it,
// and the Task completes by itself when the dose is given.

/** Raises or closes the follow-up for each Immunization a message wrote. Returns the Tasks written. */
export async function followUpMissedDoses(
  deps: FollowUpDeps,
  tx: Tx,
  meta: RequestMeta,
  written: readonly StoredResource[],
  minted: ReadonlySet<string> = new Set(),
): Promise<StoredResource[]> {
  const latest = new Map<string, StoredResource>();
  for (const row of written) if (row.type === 'Immunization') latest.set(row.id, row);
  if (latest.size === 0) return [];
  const tasks: StoredResource[] = [];
  let owners: Awaited<ReturnType<typeof possibleOwners>> | undefined;
  for (const row of latest.values()) {
    const immunization = contentForRules(row.content) as Immunization;
    const focus = `Immunization/${row.id}`;
    switch (missedDoseState(immunization)) {
      case 'outstanding': {
        const subject = immunization.patient.reference;
        if (subject === undefined) break;
        owners ??= await possibleOwners(tx);
        const specs: { spec: FollowUpSpec; purpose: string }[] = owners.visitors.map((owner) => ({
          spec: { kind: 'missed-dose', owner, subject, focus, raisedOn: deps.clock() },
          purpose: 'direct-care',
        }));
        if (isMissedAppointment(immunization)) {
          for (const owner of owners.centres) specs.push({ spec: { kind: 'missed-dose', owner, subject, focus, raisedOn: deps.clock() }, purpose: 'immunisation-follow-up' });
        }
        // A dose this transaction created is its own focus as the store holds it (one writer); a later version may have more.
        // A child this transaction minted: everything about it is what the transaction wrote (subject-facts.ts).
        const subjects = mintedSubjectFacts(deps.protocols, writtenIn(tx), minted, [subject]);
        const read = { organisations: owners.organisations, hub: owners.hub, focuses: row.versionId === 1 ? [row] : [], subjects };
        const permitted = await ownersMaySee(deps, tx, specs, read);
        // No Task can be about a record this transaction created (version 1) yet.
        tasks.push(...(await raiseFollowUps(deps, tx, meta, permitted, { newFocus: row.versionId === 1, hub: owners.hub })));
        break;
      }
      // A record at version 1 was created by this transaction, under an id it minted: no Task can be about it yet.
      case 'caught-up':
      case 'not-missed':
        if (row.versionId === 1) break;
        tasks.push(...(await closeFollowUps(deps, tx, meta, { focus, kinds: ['missed-dose'] }, { status: 'completed', businessStatus: 'dose-given' })));
        break;
      case 'withdrawn':
        if (row.versionId === 1) break;
        tasks.push(...(await closeFollowUps(deps, tx, meta, { focus, kinds: ['missed-dose'] }, { status: 'cancelled', businessStatus: 'no-longer-needed' })));
        break;
    }
  }
  return tasks;
}

async function possibleOwners(
  tx: Tx,
): Promise<{ visitors: FollowUpSpec['owner'][]; centres: FollowUpSpec['owner'][]; organisations: Map<string, OrganisationFacts>; hub: HubParty }> {
  // The organisations' facts for the decisions, and the owners' and the hub's entries for the Tasks, in one read.
  const { facts, entries: registry } = await readRegistry(tx);
  const codes = [...facts].filter(([, f]) => f.type === 'health-visiting' || f.type === 'childrens-centre').map(([code]) => code);
  const party = (code: string): FollowUpSpec['owner'] => ({ system: registry.get(code)?.system ?? '', code, name: registry.get(code)?.name });
  return {
    visitors: codes.filter((c) => facts.get(c)?.type === 'health-visiting').sort().map(party),
    centres: codes.filter((c) => facts.get(c)?.type === 'childrens-centre').sort().map(party),
    organisations: facts,
    hub: hubPartyIn(registry),
  };
}
