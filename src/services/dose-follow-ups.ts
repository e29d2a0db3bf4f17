import type { Tx } from '../db/database.js';
import { organisationsByCode } from '../db/notice-queries.js';
import type { StoredResource } from '../db/resource-queries.js';
import { mayCause, type Sender } from '../protocol/message-sources.js';
import type { RequestMeta } from './audit-recorder.js';
import { followUpMissedDoses } from './missed-dose-follow-ups.js';
import { completeOverdueAtWrite, type OverdueDoseDeps } from './overdue-dose-tasks.js';

// The one follow-up hook of every path that writes Immunizations: an ingest
// unit (HL7 v2 VXU, CSV row, FHIR message) and a REST create or update. In the
// transaction of the write, a missed dose (not-done) raises its Tasks and a
// dose given completes them; a dose given also completes the overdue-dose
// work it satisfies. Tasks are the hub's own records, audited as its own.
// Only a source of immunisation events (protocol `sources`, by registry type)
// makes or ends work this way: an Immunization another partner writes through
// REST is its record, but no one's follow-up.

/** What the write's transaction already knows, so that it is not read again. */
export interface KnownAtWrite {
  /** The writer, with its type as this transaction read it from the registry (an ingest unit's sender). */
  writer?: Sender;
  /** Patients ("Patient/id") whose ids this transaction minted: nothing stored before it can be about them. */
  minted?: ReadonlySet<string>;
}

/** Raises and completes the follow-up work the written records call for. Returns the Tasks written. */
export async function followUpWrittenDoses(
  deps: OverdueDoseDeps,
  tx: Tx,
  meta: RequestMeta,
  written: readonly StoredResource[],
  known: KnownAtWrite = {},
): Promise<StoredResource[]> {
  const doses = written.filter((row) => row.type === 'Immunization');
  if (doses.length === 0) return [];
  const codes = [...new Set(doses.map((row) => row.sourceOrg))];
  const { writer } = known;
  const types =
    writer !== undefined && codes.every((code) => code === writer.organisationCode)
      ? new Map([[writer.organisationCode, writer.organisationType === '' ? undefined : writer.organisationType]])
      : new Map([...(await organisationsByCode(tx, codes))].map(([code, org]) => [code, org.type]));
  const fromSources = doses.filter((row) => {
    const type = types.get(row.sourceOrg);
    return type !== undefined && mayCause(deps.protocols, { organisationCode: row.sourceOrg, organisationType: type }, { kind: 'close-missed-dose' });
  });
  if (fromSources.length === 0) return [];
  const missed = await followUpMissedDoses(deps, tx, meta, fromSources, known.minted);
  const overdue = await completeOverdueAtWrite(deps, tx, meta, fromSources, known.minted);
  return [...missed, ...overdue];
}
