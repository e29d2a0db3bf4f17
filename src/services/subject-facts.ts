import type { Consent, EpisodeOfCare, Patient, Resource } from 'fhir/r4.js';
import { findReferringAll, findReferringWithStatements, readCurrentMany, type Referring, type ReferringLookups } from '../db/disclosure-queries.js';
import type { Db, Tx } from '../db/database.js';
import type { OwnStatement } from '../db/patient-source-queries.js';
import type { StoredResource } from '../db/resource-queries.js';
import { contentForRules } from '../db/undisclosed.js';
import type { ConsentFacts, RecordFacts, SubjectFacts } from '../decision/decision-types.js';
import { indexValues, PREGNANCY_BABY_PARAM } from '../fhir/resource-types.js';
import { countsAsPregnancyRecord } from '../protocol/message-sources.js';
import type { LoadedProtocol } from '../protocol/protocol-schema.js';

// What the decision knows about the subjects of the records it decides: each
// Patient's current version, its pregnancy episodes (as mother and as baby),
// its consents and its mother's, and, when a Patient itself is decided, the
// records a flow's `where` reads. Read fresh in the request's transaction
// (or taken from facts read with the records in the same statement, or, for a
// child the transaction minted, from what it wrote), never kept between
// requests, so that a withdrawal applies to the very next one.

/**
 * Facts about the subjects of records, read with the records in the same
 * statement (a read by id: readPatientWithFacts, readRecordWithFacts; a
 * batch of a search: searchWithFacts), or taken from the transaction's own
 * writes (mintedSubjectFacts): the decision uses them instead of reading them
 * again.
 */
export interface KnownSubjectFacts {
  /** "Patient/id" of every subject whose facts were read, whether or not the hub holds it. */
  subjects: ReadonlySet<string>;
  /** The current version of each of those the hub holds. */
  patients: readonly StoredResource[];
  /** Every record referring to those subjects through subjectLookups(withRecords), and their mothers' Consents. */
  referring: readonly Referring[];
  /** Whether `referring` includes the records a flow's `where` reads (needed when a Patient is decided). */
  withRecords: boolean;
  /** What the requester said about the Patients decided, when read with them. */
  own: StatementsRead | undefined;
}

/** The requester's own statements read for these Patient ids (absent from `said`: it said nothing). */
export interface StatementsRead {
  ids: ReadonlySet<string>;
  said: ReadonlyMap<string, OwnStatement>;
}

/** What loadSubjects is asked for. */
export interface SubjectsWanted {
  /** "Patient/id" of each subject. */
  refs: readonly string[];
  /** Current Patient rows already in hand (a Patient search): not read again. */
  inHand: readonly StoredResource[];
  /** Whether the records a flow's `where` reads are needed (when Patients are decided). */
  needRecords: boolean;
  typesOf: (orgs: readonly string[]) => string[];
  known: KnownSubjectFacts | undefined;
  /** Read the requester's statements about these Patients with the facts. */
  statementsFor: { organisation: string; patientIds: readonly string[] } | undefined;
  /** Facts this decision already read (for the records its rows name as focus): not read again. */
  loaded?: Loaded | undefined;
}

/** Subjects' facts one decision read, for the rest of that decision. */
export interface Loaded {
  subjects: ReadonlyMap<string, SubjectFacts>;
  /** Every subject asked about, whether or not the hub holds it. */
  asked: ReadonlySet<string>;
  /** Whether the records a flow's `where` reads were read with them. */
  withRecords: boolean;
}

export async function loadSubjects(
  db: Db | Tx,
  protocols: readonly LoadedProtocol[],
  wanted: SubjectsWanted,
): Promise<{ subjects: Map<string, SubjectFacts>; statements?: StatementsRead | undefined; loaded: Loaded }> {
  const { refs, inHand, needRecords, typesOf, known } = wanted;
  const subjects = new Map<string, SubjectFacts>();
  const loaded = (): Loaded => ({ subjects, asked: new Set(refs), withRecords: needRecords });
  if (refs.length === 0) return { subjects, loaded: loaded() };
  // Facts this decision read a moment ago, in the same transaction with nothing written since, for every subject.
  const before = wanted.loaded;
  if (known === undefined && wanted.statementsFor === undefined && before !== undefined && before.withRecords === needRecords && refs.every((r) => before.asked.has(r))) {
    for (const ref of refs) {
      const facts = before.subjects.get(ref);
      if (facts !== undefined) subjects.set(ref, facts);
    }
    return { subjects, loaded: loaded() };
  }
  // The subjects' current versions read with the records (for a vread of a Patient, the row decided is an older
  // version) are in hand too; read with them and absent, they are not looked for again. Facts read for some of
  // the subjects only are not used: all are read now.
  const knownHere = known !== undefined && refs.every((r) => known.subjects.has(r)) ? known : undefined;
  const wantedRefs = new Set(refs);
  const readWith = (knownHere?.patients ?? []).filter((p) => wantedRefs.has(`Patient/${p.id}`) && !inHand.some((h) => h.id === p.id));
  const current = [...inHand, ...readWith];
  const have = new Set([...current.map((p) => `Patient/${p.id}`), ...(knownHere === undefined ? [] : refs)]);
  const missing = refs.filter((r) => !have.has(r)).map((r) => r.slice('Patient/'.length));
  const patients = [...current, ...(await readCurrentMany(db, 'Patient', missing))];
  if (patients.length === 0) return { subjects, loaded: loaded() };
  const found = patients.map((p) => `Patient/${p.id}`);
  const foundSet = new Set(found);
  // Only a pregnancy episode written by pregnancy or birth notification sources counts (message-sources.ts).
  const pregnancyRecord = ({ row }: { row: StoredResource }): boolean => countsAsPregnancyRecord(protocols, typesOf(row.sourceOrgs ?? [row.sourceOrg]));
  // One statement: episodes as mother and as baby, consents (the mothers' too), and the records a flow's `where` reads;
  // facts read with the record (a Patient read by id, which needs its records) are those this statement would read.
  const { referring, statements } = await referringTo(db, protocols, found, wanted);
  const of = (type: string, param: string): Referring[] => referring.filter((r) => r.type === type && r.param === param);
  const asMother = of('EpisodeOfCare', 'patient').filter(pregnancyRecord);
  const asBaby = of('EpisodeOfCare', PREGNANCY_BABY_PARAM).filter(pregnancyRecord);
  // A baby's mother, through the pregnancy episode the birth notification ended.
  const motherOf = new Map<string, string>();
  for (const { target, row } of asBaby) {
    const mother = (facts(row) as EpisodeOfCare).patient.reference;
    if (mother !== undefined) motherOf.set(target, mother);
  }
  const consentsOf = new Map<string, ConsentFacts[]>();
  for (const { target, row } of of('Consent', 'patient')) {
    const list = consentsOf.get(target) ?? [];
    // The recorder is the organisation that stored this version (from the registry), never the Consent's own fields.
    const recorder = { organisationCode: row.sourceOrg, organisationType: typesOf([row.sourceOrg])[0] ?? 'unknown' };
    list.push({ reference: `Consent/${row.id}/_history/${row.versionId}`, consent: facts(row) as Consent, recorder });
    consentsOf.set(target, list);
  }
  const records = new Map<string, RecordFacts[]>();
  if (needRecords) {
    for (const type of whereTypes(protocols)) {
      for (const { target, row } of of(type, 'patient').filter((r) => foundSet.has(r.target))) {
        const list = records.get(target) ?? [];
        list.push({ resource: facts(row), writer: row.sourceOrg, sourceTypes: typesOf(row.sourceOrgs ?? [row.sourceOrg]) });
        records.set(target, list);
      }
    }
  }
  for (const p of patients) {
    const ref = `Patient/${p.id}`;
    const mother = motherOf.get(ref);
    subjects.set(ref, {
      patient: facts(p) as Patient,
      pregnancies: [
        ...asMother.filter((e) => e.target === ref).map((e) => facts(e.row) as EpisodeOfCare),
        ...asBaby.filter((e) => e.target === ref).map((e) => facts(e.row) as EpisodeOfCare),
      ],
      consents: [
        ...(consentsOf.get(ref) ?? []),
        ...(mother === undefined ? [] : (consentsOf.get(mother) ?? []).map((c) => ({ ...c, carriedFrom: mother }))),
      ],
      records: records.get(ref) ?? [],
    });
  }
  return { subjects, statements, loaded: loaded() };
}

/** The records referring to the subjects found (and the requester's statements, when wanted): read with the record, or now. */
async function referringTo(
  db: Db | Tx,
  protocols: readonly LoadedProtocol[],
  found: readonly string[],
  wanted: SubjectsWanted,
): Promise<{ referring: readonly Referring[]; statements?: StatementsRead | undefined }> {
  const { known, needRecords, statementsFor } = wanted;
  if (known !== undefined && (known.withRecords || !needRecords) && found.every((f) => known.subjects.has(f))) {
    return { referring: known.referring, statements: known.own };
  }
  const lookups = subjectLookups(protocols, needRecords);
  if (statementsFor === undefined) return { referring: await findReferringAll(db, lookups, found) };
  const { referring, said } = await findReferringWithStatements(db, lookups, found, statementsFor);
  return { referring, statements: { ids: new Set(statementsFor.patientIds), said } };
}

/** Episodes as mother and as baby, consents (the mothers' too), and, when needed, the records a flow's `where` reads. */
export function subjectLookups(protocols: readonly LoadedProtocol[], needRecords: boolean): ReferringLookups {
  return {
    lookups: [
      { type: 'EpisodeOfCare', param: 'patient' },
      { type: 'EpisodeOfCare', param: PREGNANCY_BABY_PARAM },
      { type: 'Consent', param: 'patient' },
      ...(needRecords ? whereTypes(protocols).map((type) => ({ type, param: 'patient' })) : []),
    ],
    babyParam: PREGNANCY_BABY_PARAM,
  };
}

/** Resource types a flow's `where` condition reads (its leading type name). */
function whereTypes(protocols: readonly LoadedProtocol[]): string[] {
  const types = new Set<string>();
  for (const p of protocols) {
    for (const f of p.flows) {
      const m = f.where === undefined ? null : /^([A-Z][A-Za-z]+)\./.exec(f.where.source);
      if (m?.[1] !== undefined) types.add(m[1]);
    }
  }
  return [...types];
}

/** A subject's records, consents and episodes: facts the decision reads, never an answer. */
function facts(row: StoredResource): Resource {
  return contentForRules(row.content);
}

/**
 * The facts about Patients this transaction minted, from what it wrote (`written`: written-rows.ts) rather than
 * from the database: what loadSubjects would read, for subjects nothing stored before the transaction can refer
 * to. `minted` must hold only ids the transaction made itself. Undefined, and the database is read, whenever the
 * rows in hand could differ from what a read would give:
 *   - a subject whose Patient is not among the rows written, or not at its first version;
 *   - a record referring to a subject that is not at its first version (a stored update lists more writers than
 *     its row in memory);
 *   - a pregnancy episode naming a subject as its baby (the mother's Consents, stored before, come with it).
 */
export function mintedSubjectFacts(
  protocols: readonly LoadedProtocol[],
  written: ReadonlyMap<string, StoredResource> | undefined,
  minted: ReadonlySet<string>,
  refs: readonly string[],
): KnownSubjectFacts | undefined {
  if (written === undefined || refs.length === 0 || !refs.every((ref) => minted.has(ref))) return undefined;
  const patients: StoredResource[] = [];
  for (const ref of refs) {
    const patient = written.get(ref);
    if (patient === undefined || patient.versionId !== 1) return undefined;
    patients.push(patient);
  }
  const subjects = new Set(refs);
  const lookups = subjectLookups(protocols, true);
  const looked = new Set(lookups.lookups.map((l) => `${l.type}|${l.param}`));
  const referring: Referring[] = [];
  // As the index holds them: one per record, parameter and target.
  const seen = new Set<string>();
  for (const row of written.values()) {
    for (const { param, target } of indexValues(contentForRules(row.content)).references) {
      if (!subjects.has(target) || !looked.has(`${row.type}|${param}`)) continue;
      if (row.versionId !== 1) return undefined;
      if (row.type === 'EpisodeOfCare' && param === lookups.babyParam) return undefined;
      const key = `${row.type}/${row.id}|${param}|${target}`;
      if (seen.has(key)) continue;
      seen.add(key);
      referring.push({ type: row.type, param, target, row });
    }
  }
  return { subjects, patients, referring, withRecords: true, own: undefined };
}
