import { createHash } from 'node:crypto';
import type { ImmunisationCsvFile } from './immunisation-csv.js';
import { invalid, ok, type AdapterResult, type IngestUnit } from './ingest-unit.js';
import { NHS_NUMBER_SYSTEM } from './nhs-number.js';

// `POST /ingest/immunisations-csv?history=complete`: the practice says the file
// holds every dose it has given each child in it. After the rows are stored,
// one unit per child (NHS number) records that statement as a snapshot List
// (see ../followup/complete-history.ts). A file with a refused row is not a
// complete history of anyone: a dose the hub did not store would later read as
// overdue. The practice sends the corrected file again; the rows already
// stored are duplicates, and the histories are recorded then.

export const IMMUNISATION_HISTORY_EVENT = 'immunisation-history';

export interface HistoryUnit {
  label: string;
  result: AdapterResult<IngestUnit>;
}

/**
 * The complete-history units of a parsed file, given the rows the hub refused.
 * Keyed by the practice, the child and exactly which rows were sent: the same
 * file sent again changes nothing; a new file about the child is a new history.
 */
export function completeHistoryUnits(file: AdapterResult<ImmunisationCsvFile>, refusedRows: readonly number[]): HistoryUnit[] {
  if (!file.ok || refusedRows.length > 0) {
    const which = file.ok ? `row${refusedRows.length === 1 ? '' : 's'} ${[...refusedRows].sort((a, b) => a - b).join(', ')} ${refusedRows.length === 1 ? 'was' : 'were'} refused` : 'the file could not be read';
    return [
      {
        label: 'complete history',
        result: invalid({
          code: 'business-rule',
          diagnostics: `history=complete: no child's history was recorded as complete because ${which}; send the corrected file again with history=complete`,
          location: 'history',
        }),
      },
    ];
  }
  const children = new Map<string, { sender: string | undefined; keys: string[]; doses: { system: string; value: string }[] }>();
  for (const { result } of file.value.rows) {
    if (!result.ok) continue; // not reached: a refused row stops every history above
    const unit = result.value;
    const child = unit.entries.find((e) => e.resource.resourceType === 'Patient' && e.match?.system === NHS_NUMBER_SYSTEM)?.match?.value;
    const dose = unit.entries.find((e) => e.resource.resourceType === 'Immunization');
    if (child === undefined || dose?.match === undefined) continue;
    const entry = children.get(child) ?? { sender: unit.senderCode, keys: [], doses: [] };
    entry.keys.push(unit.messageKey);
    // A row deleting a dose (ACTION_FLAG delete) is part of what was sent, but the dose is not in the history.
    if (dose.action === 'upsert') entry.doses.push({ ...dose.match });
    children.set(child, entry);
  }
  return [...children.entries()].map(([nhsNumber, c]) => {
    const digest = createHash('sha256').update([...c.keys].sort().join('\n')).digest('hex');
    const unit: IngestUnit = {
      messageKey: `immunisation-history:${c.sender ?? ''}|${nhsNumber}|${digest}`,
      event: IMMUNISATION_HISTORY_EVENT,
      senderCode: c.sender,
      entries: [],
      effects: [{ kind: 'complete-history', nhsNumber, immunizations: c.doses }],
    };
    return { label: `complete history of ${nhsNumber}`, result: ok(unit) };
  });
}
