import type { Patient } from 'fhir/r4.js';
import { carriedConsents, consentMayPermit, consentSubjects, patientFacts } from '../decision/search-narrowing.js';
import type { Statement, Tx } from './database.js';
import { sendWrite } from './sent-writes.js';
import type { StoredResource } from './resource-queries.js';
import { contentForRules } from './undisclosed.js';

const PATIENT = 'Patient/';

// Keeps subject_fact, consent_fact and carry_fact (schema/subject-facts.ts)
// true of the current versions, in the transaction that writes each version
// (writeVersion calls this): a withdrawal closes a subject for the very next
// request, as the decision itself would see it. The writes are sent without
// waiting for their answers (sent-writes.ts), in order. A Consent's or an
// episode's old facts are removed by a statement that also recomputes the
// subjects they named, as if they were gone (its own snapshot still holds
// them), so no answer is waited for; its new facts are written and their
// subjects recomputed after it.

/** After a version of `row` is written: the facts it changes. */
export async function keepSubjectFacts(tx: Tx, row: StoredResource): Promise<void> {
  switch (row.type) {
    case 'Patient':
      return keepPatient(tx, row);
    case 'Consent':
      return keepConsent(tx, row);
    case 'EpisodeOfCare':
      return keepEpisode(tx, row);
    default:
      return;
  }
}

/**
 * Some Consent that may permit, about the Patient whose id is the SQL expression `id`, or about a mother a pregnancy
 * episode carries to them. `without`: the facts of one Consent or one episode (an SQL expression naming its id) left
 * out, for a statement that removes them (its own snapshot still holds them).
 */
function consentOpen(id: string, without: { consent?: string; episode?: string } = {}): string {
  const consent = without.consent === undefined ? '' : ` and c.consent_id <> ${without.consent}`;
  const episode = without.episode === undefined ? '' : ` and k.episode_id <> ${without.episode}`;
  return `(exists (select 1 from consent_fact c where c.patient_ref = 'Patient/' || ${id} and c.may_permit${consent})
    or exists (select 1 from carry_fact k join consent_fact c on c.patient_ref = k.mother_ref and c.may_permit${consent}
      where k.baby_ref = 'Patient/' || ${id}${episode}))`;
}

// A Patient's facts: $1 its id, $2 the version's lastUpdated, $3 its district, $4 whether it is restricted. The
// writers as the version's write left them (writeVersions appends the writer, in a statement sent before this one).
const KEEP_PATIENT: Statement = {
  name: 'subject_fact_keep_patient',
  text: `insert into subject_fact (patient_id, last_updated, district, restricted, consent_open, source_orgs)
    values ($1::text, $2::timestamptz, $3::text, $4::boolean, ${consentOpen('$1::text')},
      (select r.source_orgs from resource r where r.type = 'Patient' and r.id = $1::text))
    on conflict (patient_id) do update set last_updated = excluded.last_updated, district = excluded.district, restricted = excluded.restricted,
      consent_open = excluded.consent_open, source_orgs = excluded.source_orgs`,
};

async function keepPatient(tx: Tx, row: StoredResource): Promise<void> {
  const facts = patientFacts(contentForRules(row.content) as Patient);
  await sendWrite(tx, { statement: KEEP_PATIENT, values: [row.id, row.lastUpdated.toISOString(), facts.district, facts.restricted] });
}

// A Consent's facts removed ($1 its id), and the Patients they named recomputed without them: its subjects, and the
// babies their pregnancy episodes carry to.
const DELETE_CONSENT_FACTS: Statement = {
  name: 'subject_fact_delete_consent',
  text: `with old as (delete from consent_fact where consent_id = $1::text returning patient_ref)
    update subject_fact f set consent_open = ${consentOpen('f.patient_id', { consent: '$1::text' })}
    where f.patient_id in (select substr(patient_ref, ${PATIENT.length + 1}) from old where patient_ref like 'Patient/%'
      union select substr(k.baby_ref, ${PATIENT.length + 1}) from carry_fact k where k.mother_ref in (select patient_ref from old) and k.baby_ref like 'Patient/%')`,
};
const INSERT_CONSENT_FACTS: Statement = {
  name: 'subject_fact_insert_consent',
  text: 'insert into consent_fact (consent_id, patient_ref, may_permit) select $1::text, ref, $2::boolean from unnest($3::text[]) as ref',
};
// An episode's facts removed ($1 its id), and the babies it carried to recomputed without them.
const DELETE_CARRY_FACTS: Statement = {
  name: 'subject_fact_delete_carry',
  text: `with old as (delete from carry_fact where episode_id = $1::text returning baby_ref)
    update subject_fact f set consent_open = ${consentOpen('f.patient_id', { episode: '$1::text' })}
    where f.patient_id in (select substr(baby_ref, ${PATIENT.length + 1}) from old where baby_ref like 'Patient/%')`,
};
const INSERT_CARRY_FACTS: Statement = {
  name: 'subject_fact_insert_carry',
  text: 'insert into carry_fact (episode_id, baby_ref, mother_ref) select $1::text, ref, $2::text from unnest($3::text[]) as ref',
};
// consent_open again for the Patients $1 (ids); the second also for the babies carried to the Patients $2 ("Patient/id").
const REOPEN: Statement = {
  name: 'subject_fact_reopen',
  text: `update subject_fact f set consent_open = ${consentOpen('f.patient_id')} where f.patient_id = any($1::text[])`,
};
const REOPEN_WITH_BABIES: Statement = {
  name: 'subject_fact_reopen_babies',
  text: `update subject_fact f set consent_open = ${consentOpen('f.patient_id')}
    where f.patient_id in (select unnest($1::text[])
      union select substr(baby_ref, ${PATIENT.length + 1}) from carry_fact where mother_ref = any($2::text[]) and baby_ref like 'Patient/%')`,
};

async function keepConsent(tx: Tx, row: StoredResource): Promise<void> {
  const content = contentForRules(row.content);
  const subjects = consentSubjects(content);
  // In the order sent: the old facts out (their subjects recomputed), the new in, then the new subjects recomputed.
  await sendWrite(tx, { statement: DELETE_CONSENT_FACTS, values: [row.id] });
  if (subjects.length > 0) await sendWrite(tx, { statement: INSERT_CONSENT_FACTS, values: [row.id, consentMayPermit(content), subjects] });
  // The subjects, and the babies their consents carry to.
  await reopen(tx, subjects, true);
}

async function keepEpisode(tx: Tx, row: StoredResource): Promise<void> {
  const carried = carriedConsents(contentForRules(row.content));
  await sendWrite(tx, { statement: DELETE_CARRY_FACTS, values: [row.id] });
  if (carried !== undefined) await sendWrite(tx, { statement: INSERT_CARRY_FACTS, values: [row.id, carried.mother, carried.babies] });
  await reopen(tx, carried?.babies ?? [], false);
}

/** Recomputes consent_open of the Patients named (and, for a Consent's subjects, of the babies it carries to). */
async function reopen(tx: Tx, refs: readonly string[], withBabies: boolean): Promise<void> {
  const unique = [...new Set(refs)];
  if (unique.length === 0) return;
  const ids = unique.filter((r) => r.startsWith(PATIENT)).map((r) => r.slice(PATIENT.length));
  await sendWrite(tx, withBabies ? { statement: REOPEN_WITH_BABIES, values: [ids, unique] } : { statement: REOPEN, values: [ids] });
}
