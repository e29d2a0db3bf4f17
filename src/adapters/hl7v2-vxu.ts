import type { Address, ContactPoint, HumanName, Immunization, Patient, RelatedPerson } from 'fhir/r4.js';
import { HUB_IDS, ODS_SYSTEM, RESTRICTED_LABEL, SNOMED, VACCINATION_PROCEDURE_EXTENSION, VACCINE_NOT_RECORDED } from './codes.js';
import { DEFAULT_ENCODING, encodeText, parseHl7, parseHl7Timestamp, rawField, repetitions, splitMessages, value, type Hl7Malformed, type Hl7Message, type Hl7Segment } from './hl7v2-parse.js';
import { entryReference, entryUrl, invalid, ok, unparsable, type AdapterIssue, type AdapterResult, type IngestUnit, type UnitEntry } from './ingest-unit.js';
import { NHS_NUMBER_SYSTEM, validNhsNumber } from './nhs-number.js';

// HL7 v2.5.1 VXU^V04 (unsolicited vaccination record update) → one IngestUnit
// per message: Patient (PID, PD1), a RelatedPerson per NK1, an Immunization
// per ORC/RXA order group. Pure: the ACK timestamp and control ids come in.
// See: HL7 v2.5.1 Chapter 4A.6 (RXA), Chapter 3 (PID, PD1, NK1), and the
// HL7 v2-to-FHIR mappings (https://build.fhir.org/ig/HL7/v2-to-fhir/).

export interface Hl7MessageResult {
  controlId: string | undefined;
  sendingFacility: string | undefined;
  result: AdapterResult<IngestUnit>;
  ack: string;
}

/** The ACK's MSH-7 and the prefix of its MSH-10 (the n-th message of the input gets `${prefix}${n}`). */
export interface Hl7AdaptOptions {
  now: string;
  ackControlIdPrefix: string;
}

export const DEFAULT_HL7_OPTIONS: Hl7AdaptOptions = { now: '19700101000000+0000', ackControlIdPrefix: 'EYHUB-ACK-' };

export function adaptHl7v2(text: string, options: Hl7AdaptOptions = DEFAULT_HL7_OPTIONS): AdapterResult<{ messages: Hl7MessageResult[] }> {
  const parsed = splitMessages(parseHl7(text));
  if (!parsed.ok) return unparsable({ code: 'structure', location: parsed.location, diagnostics: parsed.diagnostics });
  return ok({ messages: parsed.messages.map((m, i) => adaptMessage(m, `${options.ackControlIdPrefix}${i + 1}`, options.now)) });
}

function adaptMessage({ header, segments, problems }: Hl7Message, ackControlId: string, now: string): Hl7MessageResult {
  if (!('fields' in header)) {
    const issue = issueOf(header);
    return { controlId: undefined, sendingFacility: undefined, result: unparsable(issue), ack: hl7Ack(EMPTY_ORIGINAL, 'AR', [issue], ackControlId, now) };
  }
  const result = problems.length > 0 ? unparsable(...problems.map(issueOf)) : adaptVxu(header, segments);
  const code = result.ok ? 'AA' : result.kind === 'unparsable' || result.issues.some((i) => i.code === 'not-supported') ? 'AR' : 'AE';
  return {
    controlId: text(header, 10) || undefined,
    sendingFacility: text(header, 4) || undefined,
    result,
    ack: hl7Ack(ackOriginal(header), code, result.ok ? [] : result.issues, ackControlId, now),
  };
}

/** HL7 v2 versions (MSH-12 VID.1, HL7 table 0104) whose VXU^V04 the hub reads. */
const SUPPORTED_VERSIONS = /^2\.(3|3\.1|4|5|5\.1|6|7|7\.1|8|8\.[12])$/;

function adaptVxu(msh: Hl7Segment, segments: Hl7Segment[]): AdapterResult<IngestUnit> {
  // MSH-9 Message Type: MSG.1 message code, MSG.2 trigger event.
  const type = `${text(msh, 9, 1)}^${text(msh, 9, 2)}`;
  if (type !== 'VXU^V04') {
    return invalid({ code: 'not-supported', location: 'MSH-9', diagnostics: `message type ${type} is not supported: the hub takes VXU^V04 (unsolicited vaccination record update)` });
  }
  // MSH-12 Version ID (VID.1): the hub reads VXU^V04 as versions 2.3 to 2.8.x define it. Another
  // version (2.2's segments differ, 2.9 and later are not yet read here) is refused with AR, not guessed at.
  const version = text(msh, 12, 1);
  if (!SUPPORTED_VERSIONS.test(version)) {
    return unparsable({
      code: 'not-supported',
      location: 'MSH-12',
      diagnostics: `HL7 version ${version === '' ? '(none)' : version.slice(0, 16)} in MSH-12 is not supported: the hub takes v2.3 to v2.8.x (e.g. 2.5.1)`,
    });
  }
  const issues: AdapterIssue[] = [];
  const sender = text(msh, 4);
  const controlId = text(msh, 10);
  if (sender === '') issues.push(required('MSH-4', 'MSH-4 (sending facility) names the sender and is required'));
  if (controlId === '') issues.push(required('MSH-10', 'MSH-10 (message control ID) identifies the message and is required'));
  const messageKey = `hl7v2:${sender}:${controlId}`;
  const patientUrl = entryUrl(messageKey, 'patient');
  const pids = segments.filter((s) => s.name === 'PID');
  const pid = pids[0];
  if (pid === undefined) issues.push({ code: 'required', location: 'PID', diagnostics: 'a VXU^V04 needs a PID segment: without it the vaccination belongs to nobody' });
  if (pids.length > 1) issues.push({ code: 'structure', location: 'PID[2]', diagnostics: 'a VXU^V04 is about one patient but holds more than one PID (a lost MSH in a batch?)' });
  const patient = pid === undefined ? undefined : mapPatient(pid, segments.find((s) => s.name === 'PD1'), issues);
  const entries: UnitEntry[] = [];
  if (patient !== undefined) entries.push({ fullUrl: patientUrl, resource: patient.resource, match: { system: NHS_NUMBER_SYSTEM, value: patient.nhsNumber }, action: 'upsert' });

  const seen = new Map<string, number>();
  for (const [i, nk1] of segments.filter((s) => s.name === 'NK1').entries()) {
    const n = i + 1;
    // NK1-3 Relationship (CE, HL7 table 0063).
    const code = text(nk1, 3, 1);
    if (code === '') {
      issues.push(required(loc('NK1', n, 3), `${loc('NK1', n, 3)} (relationship) is required: it is how the next of kin is recognised again`));
      continue;
    }
    const repeat = (seen.get(code) ?? 0) + 1;
    seen.set(code, repeat);
    const related: RelatedPerson = {
      resourceType: 'RelatedPerson',
      patient: entryReference(patientUrl),
      relationship: [{ coding: [relationshipCoding(code, text(nk1, 3, 2))] }],
      ...list('name', names(nk1, 2)),
      ...list('telecom', contactPoints(nk1, 5)),
      ...list('address', addresses(nk1, 4)),
    };
    // One RelatedPerson per child and relationship, so a re-sent message updates the same mother.
    const key = `${patient?.nhsNumber ?? ''}:${code}${repeat > 1 ? `:${repeat}` : ''}`;
    entries.push({ fullUrl: entryUrl(messageKey, `related-person:${n}`), resource: related, match: { system: `${HUB_IDS}/related-person-key`, value: key }, action: 'upsert' });
  }

  let orc: { segment: Hl7Segment; n: number } | undefined;
  let orcs = 0;
  let rxas = 0;
  for (const segment of segments) {
    if (segment.name === 'ORC') orc = { segment, n: (orcs += 1) };
    if (segment.name !== 'RXA') continue;
    rxas += 1;
    const immunization = mapImmunization(segment, rxas, orc, msh, patientUrl, issues);
    orc = undefined; // each RXA has its own ORC (VXU_V04 ORDER group)
    if (immunization !== undefined) entries.push({ fullUrl: entryUrl(messageKey, `immunization:${rxas}`), ...immunization, action: 'upsert' });
  }
  if (rxas === 0) issues.push({ code: 'required', location: 'RXA', diagnostics: 'a VXU^V04 needs an RXA segment: it is the vaccination being reported' });
  if (issues.length > 0) return invalid(...issues);
  return ok({ messageKey, event: 'vxu-v04', senderCode: sender, entries, effects: [] });
}

function mapPatient(pid: Hl7Segment, pd1: Hl7Segment | undefined, issues: AdapterIssue[]): { resource: Patient; nhsNumber: string } | undefined {
  // PID-3 Patient Identifier List (CX): the NHS number has identifier type NH (CX.5) or assigning authority NHS (CX.4).
  let nhs: string | undefined;
  for (const r of repetitions(pid, 3)) {
    if (nhs === undefined && (text(pid, 3, 5, r) === 'NH' || text(pid, 3, 4, r) === 'NHS')) nhs = text(pid, 3, 1, r);
  }
  const nhsNumber = nhs === undefined ? undefined : validNhsNumber(nhs);
  if (nhs === undefined) issues.push(required('PID-3', 'PID-3 holds no NHS number (identifier type NH)'));
  else if (nhsNumber === undefined) issues.push({ code: 'value', location: 'PID-3', diagnostics: 'the NHS number in PID-3 is not ten digits with a valid modulus-11 check digit' });
  // PID-7 Date/Time of Birth (TS); PID-8 Administrative Sex (table 0001).
  const birth = text(pid, 7);
  const birthDate = birth === '' ? undefined : parseHl7Timestamp(birth)?.date;
  if (birth !== '' && birthDate === undefined) issues.push({ code: 'value', location: 'PID-7', diagnostics: 'PID-7 (date of birth) is not a date of the form YYYYMMDD' });
  const sex = text(pid, 8);
  const gender = SEXES[sex];
  if (sex !== '' && gender === undefined) issues.push({ code: 'code-invalid', location: 'PID-8', diagnostics: 'PID-8 (administrative sex) must be M, F, U or O' });
  if (nhsNumber === undefined) return undefined;
  // PD1-3 Patient Primary Facility (XON): the registered GP practice's ODS code (XON.10, or XON.3 as these senders use it).
  const gp = pd1 === undefined ? '' : text(pd1, 3, 10) || text(pd1, 3, 3);
  // PD1-12 Protection Indicator (table 0136): Y means the patient's information is to be protected, which the hub
  // carries as the v3-Confidentiality label R (restricted). N or nothing adds no label (and lifts none: labels are sticky).
  const protection = pd1 === undefined ? '' : text(pd1, 12);
  if (protection !== '' && protection !== 'Y' && protection !== 'N') issues.push({ code: 'code-invalid', location: 'PD1-12', diagnostics: 'PD1-12 (protection indicator) must be Y or N' });
  const resource: Patient = {
    resourceType: 'Patient',
    ...(protection === 'Y' ? { meta: { security: [{ ...RESTRICTED_LABEL }] } } : {}),
    identifier: [{ system: NHS_NUMBER_SYSTEM, value: nhsNumber }],
    ...list('name', names(pid, 5)),
    ...list('telecom', contactPoints(pid, 13)),
    ...(gender === undefined ? {} : { gender }),
    ...(birthDate === undefined ? {} : { birthDate }),
    ...list('address', addresses(pid, 11)),
    ...(gp === '' ? {} : { generalPractitioner: [{ type: 'Organization', identifier: { system: ODS_SYSTEM, value: gp } }] }),
  };
  return { resource, nhsNumber };
}

const SEXES: Partial<Record<string, NonNullable<Patient['gender']>>> = { M: 'male', F: 'female', U: 'unknown', O: 'other' };

function mapImmunization(rxa: Hl7Segment, n: number, orc: { segment: Hl7Segment; n: number } | undefined, msh: Hl7Segment, patientUrl: string, issues: AdapterIssue[]): Pick<UnitEntry, 'resource' | 'match'> | undefined {
  const before = issues.length;
  // ORC-3 Filler Order Number (EI): the sender's own id for this vaccination record.
  const orderId = orc === undefined ? '' : text(orc.segment, 3, 1);
  const namespace = orc === undefined ? '' : text(orc.segment, 3, 2) || text(msh, 3);
  const orcLoc = loc('ORC', orc?.n ?? n, 3);
  if (orderId === '' || namespace === '') issues.push(required(orcLoc, `${orcLoc} (filler order number, with its namespace) identifies the vaccination record and is required`));
  // RXA-3 Date/Time Start of Administration.
  const start = text(rxa, 3);
  const when = start === '' ? undefined : parseHl7Timestamp(start);
  if (start === '') issues.push(required(loc('RXA', n, 3), `${loc('RXA', n, 3)} (date of administration) is required`));
  else if (when === undefined) issues.push({ code: 'value', location: loc('RXA', n, 3), diagnostics: `${loc('RXA', n, 3)} is not a date/time of the form YYYYMMDD[HHMM[SS]][+ZZZZ]` });
  // RXA-5 Administered Code: here the SNOMED vaccination procedure, not a product.
  const procedure = snomed(rxa, 5);
  if (text(rxa, 5) === '') issues.push(required(loc('RXA', n, 5), `${loc('RXA', n, 5)} (administered code) is required`));
  else if (procedure === undefined) issues.push({ code: 'code-invalid', location: loc('RXA', n, 5), diagnostics: `${loc('RXA', n, 5)} must be a SNOMED CT vaccination procedure (coding system SCT)` });
  // RXA-20 Completion Status (table 0322); RXA-21 Action Code (table 0323): D is a deletion.
  const completion = text(rxa, 20);
  const action = text(rxa, 21);
  const notDone = completion === 'NA' || completion === 'RE';
  let status: Immunization['status'] | undefined = notDone ? 'not-done' : completion === 'CP' || completion === 'PA' ? 'completed' : undefined;
  if (status === undefined && !(action === 'D' && completion === '')) {
    issues.push({ code: 'code-invalid', location: loc('RXA', n, 20), diagnostics: `${loc('RXA', n, 20)} (completion status) must be CP, PA, NA or RE` });
  }
  if (action !== '' && !['A', 'U', 'D'].includes(action)) issues.push({ code: 'code-invalid', location: loc('RXA', n, 21), diagnostics: `${loc('RXA', n, 21)} (action code) must be A, U or D` });
  // A dose not given must say why (did not attend, refused…): that reason decides who may be told.
  if (notDone && action !== 'D' && text(rxa, 18) === '') {
    issues.push(required(loc('RXA', n, 18), `${loc('RXA', n, 18)} (refusal or non-administration reason) is required when RXA-20 is NA or RE`));
  }
  if (action === 'D') status = 'entered-in-error';
  if (issues.length > before || status === undefined || procedure === undefined || when === undefined) return undefined;
  // RXA-18 Substance/Treatment Refusal Reason: why it was not given (only meaningful when not done).
  const reason = notDone ? snomed(rxa, 18) ?? (text(rxa, 18, 2) || text(rxa, 18)) : undefined;
  const system = `${HUB_IDS}/hl7v2-order/${encodeURIComponent(namespace.toWellFormed())}`;
  const resource: Immunization = {
    resourceType: 'Immunization',
    extension: [{ url: VACCINATION_PROCEDURE_EXTENSION, valueCodeableConcept: { coding: [procedure] } }],
    identifier: [{ system, value: orderId }],
    status,
    ...(reason === undefined || reason === '' ? {} : { statusReason: typeof reason === 'string' ? { text: reason } : { coding: [reason] } }),
    vaccineCode: { coding: [{ ...VACCINE_NOT_RECORDED }] },
    patient: entryReference(patientUrl),
    // FHIR dateTime needs a zone with any time: a zoneless time keeps only its date.
    occurrenceDateTime: when.dateTime,
    primarySource: true,
    performer: [{ actor: { type: 'Organization', identifier: { system: ODS_SYSTEM, value: text(msh, 4) } } }],
  };
  return { resource, match: { system, value: orderId } };
}

/** The SNOMED CT coding of a CE/CWE field: the primary triplet, else the alternate one (CE.4–6); the code must be an SCTID. */
function snomed(segment: Hl7Segment, field: number): { system: string; code: string; display?: string } | undefined {
  for (const first of [1, 4]) {
    const code = text(segment, field, first);
    const display = text(segment, field, first + 1);
    if (/^[1-9]\d{5,17}$/.test(code) && text(segment, field, first + 2) === 'SCT') return { system: SNOMED, code, ...(display === '' ? {} : { display }) };
  }
  return undefined;
}

const ROLE_CODES: Partial<Record<string, [string, string]>> = {
  MTH: ['MTH', 'mother'], FTH: ['FTH', 'father'], PAR: ['PRN', 'parent'], GRD: ['GUARD', 'guardian'], GRP: ['GRPRN', 'grandparent'],
  SIB: ['SIB', 'sibling'], BRO: ['BRO', 'brother'], SIS: ['SIS', 'sister'], SPO: ['SPS', 'spouse'], DOM: ['DOMPART', 'domestic partner'],
  CHD: ['CHILD', 'child'], FND: ['FRND', 'unrelated friend'], SEL: ['ONESELF', 'self'], EXF: ['FAMMEMB', 'family member'], EMC: ['ECON', 'emergency contact'],
};

/** HL7 table 0063 → v3 RoleCode where FHIR has the same relationship; otherwise the v2 table itself. */
function relationshipCoding(code: string, sent: string): { system: string; code: string; display?: string } {
  const role = ROLE_CODES[code];
  if (role !== undefined) return { system: 'http://terminology.hl7.org/CodeSystem/v3-RoleCode', code: role[0], display: sent || role[1] };
  return { system: 'http://terminology.hl7.org/CodeSystem/v2-0063', code, ...(sent === '' ? {} : { display: sent }) };
}

/** XPN: family ^ given ^ further given ^ suffix ^ prefix ^ degree ^ name type (table 0200). */
function names(segment: Hl7Segment, field: number): HumanName[] {
  return repetitions(segment, field).flatMap((r): HumanName[] => {
    const [family, given, middle, suffix, prefix] = [1, 2, 3, 4, 5].map((c) => text(segment, field, c, r));
    const use = NAME_USES[text(segment, field, 7, r)];
    const givens = [given, middle].filter((g): g is string => g !== undefined && g !== '');
    if (family === '' && givens.length === 0) return [];
    return [{ ...(use === undefined ? {} : { use }), ...(family ? { family } : {}), ...list('given', givens), ...list('prefix', [prefix ?? '']), ...list('suffix', [suffix ?? '']) }];
  });
}
const NAME_USES: Partial<Record<string, NonNullable<HumanName['use']>>> = { L: 'official', D: 'usual', M: 'maiden', N: 'nickname' };

/** XAD: street ^ other designation ^ city ^ state ^ postcode ^ country ^ address type (table 0190). */
function addresses(segment: Hl7Segment, field: number): Address[] {
  return repetitions(segment, field).flatMap((r): Address[] => {
    const [street, other, city, state, postalCode, country, type] = [1, 2, 3, 4, 5, 6, 7].map((c) => text(segment, field, c, r));
    const use = ADDRESS_USES[type ?? ''];
    const address: Address = {
      ...(use === undefined ? {} : { use }),
      ...list('line', [street ?? '', other ?? '']),
      ...(city ? { city } : {}), ...(state ? { state } : {}), ...(postalCode ? { postalCode } : {}), ...(country ? { country } : {}),
    };
    return Object.keys(address).some((k) => k !== 'use') ? [address] : [];
  });
}
const ADDRESS_USES: Partial<Record<string, NonNullable<Address['use']>>> = { H: 'home', B: 'work', O: 'work', C: 'temp' };

/** XTN: number ^ use (table 0201) ^ equipment (table 0202) ^ email ^ country ^ area ^ local number. */
function contactPoints(segment: Hl7Segment, field: number): ContactPoint[] {
  return repetitions(segment, field).flatMap((r): ContactPoint[] => {
    const [number, use, equipment, email, country, area, local] = [1, 2, 3, 4, 5, 6, 7].map((c) => text(segment, field, c, r));
    if (equipment === 'Internet' || use === 'NET') return email ? [{ system: 'email', value: email }] : [];
    const phone = number || [country ? `+${country}` : '', area ?? '', local ?? ''].filter(Boolean).join(' ');
    if (phone === '') return [];
    const fhirUse = equipment === 'CP' ? 'mobile' : use === 'WPN' ? 'work' : use === 'PRN' ? 'home' : undefined;
    return [{ system: equipment === 'FX' ? 'fax' : equipment === 'BP' ? 'pager' : 'phone', value: phone, ...(fhirUse === undefined ? {} : { use: fhirUse }) }];
  });
}

// --- ACK (HL7 v2.5.1 2.14.1 general acknowledgment) ---

/** What an ACK copies from the message it answers: the raw (still escaped) MSH fields. */
export interface Hl7AckOriginal {
  fieldSeparator: string;
  encodingCharacters: string;
  sendingApplication: string;
  sendingFacility: string;
  receivingApplication: string;
  receivingFacility: string;
  controlId: string;
  processingId: string;
  version: string;
}

const EMPTY_ORIGINAL: Hl7AckOriginal = {
  fieldSeparator: DEFAULT_ENCODING.field, encodingCharacters: '^~\\&', sendingApplication: '', sendingFacility: '',
  receivingApplication: '', receivingFacility: '', controlId: '', processingId: 'P', version: '2.5.1',
};

export function ackOriginal(msh: Hl7Segment): Hl7AckOriginal {
  const f = (n: number): string => rawField(msh, n);
  return {
    fieldSeparator: f(1), encodingCharacters: f(2), sendingApplication: f(3), sendingFacility: f(4),
    receivingApplication: f(5), receivingFacility: f(6), controlId: f(10), processingId: f(11), version: f(12),
  };
}

/** MSH (sender and receiver swapped) + MSA + one ERR per issue, CR-terminated segments. */
export function hl7Ack(original: Hl7AckOriginal, code: 'AA' | 'AE' | 'AR', issues: AdapterIssue[], controlId: string, timestamp: string): string {
  const chars = original.encodingCharacters;
  const enc = { field: original.fieldSeparator, component: chars.charAt(0), repetition: chars.charAt(1), escape: chars.charAt(2), subcomponent: chars.charAt(3) };
  const esc = (s: string): string => encodeText(s, enc);
  const join = (...parts: string[]): string => parts.join(enc.component);
  const msh = ['MSH', chars, original.receivingApplication, original.receivingFacility, original.sendingApplication, original.sendingFacility,
    esc(timestamp), '', join('ACK', 'V04', 'ACK'), esc(controlId), original.processingId, original.version];
  const msa = ['MSA', code, original.controlId];
  const errs = issues.map((issue) => {
    const [hl7Code, label] = errorCode(issue);
    // ERR-2 Error Location (ERL: segment ^ sequence ^ field); ERR-3 HL7 Error Code (table 0357); ERR-4 Severity; ERR-8 User Message.
    const erl = /^([A-Z][A-Z0-9]{2})(?:\[(\d+)\])?(?:-(\d+))?$/.exec(issue.location);
    const location = erl === null ? '' : join(...[erl[1] ?? '', erl[2] ?? '1', erl[3] ?? ''].filter(Boolean));
    return ['ERR', '', location, join(hl7Code, label, 'HL70357'), 'E', '', '', '', esc(issue.diagnostics)];
  });
  return [msh, msa, ...errs].map((segment) => `${segment.join(enc.field)}\r`).join('');
}

/** AdapterIssue code → HL7 table 0357 (message error condition codes). A whole missing segment is 100, not 101. */
const ERROR_CODES: Record<AdapterIssue['code'], [string, string]> = {
  required: ['101', 'Required field missing'], structure: ['100', 'Segment sequence error'], value: ['102', 'Data type error'],
  'code-invalid': ['103', 'Table value not found'], 'not-supported': ['200', 'Unsupported message type'],
  invalid: ['207', 'Application internal error'], 'business-rule': ['207', 'Application internal error'],
  // Table 0357 has no authorisation code; ERR-8 says which organisation types may send the message.
  forbidden: ['207', 'Application internal error'],
  // A record older than the one held (a sender's revision); no VXU carries one today.
  conflict: ['207', 'Application internal error'],
};

function errorCode(issue: AdapterIssue): [string, string] {
  return issue.code === 'required' && /^[A-Z][A-Z0-9]{2}(\[\d+\])?$/.test(issue.location) ? ERROR_CODES.structure : ERROR_CODES[issue.code];
}

// --- small helpers ---

function text(segment: Hl7Segment, field: number, component = 1, repetition = 1): string {
  return value(segment, field, component, repetition).trim();
}

/** "RXA-20" for the first RXA, "RXA[2]-20" for the second (ERL segment sequence). */
function loc(segment: string, occurrence: number, field: number): string {
  return occurrence === 1 ? `${segment}-${field}` : `${segment}[${occurrence}]-${field}`;
}

function required(location: string, diagnostics: string): AdapterIssue {
  return { code: 'required', location, diagnostics };
}

function issueOf(malformed: Hl7Malformed): AdapterIssue {
  return { code: 'structure', location: malformed.location, diagnostics: malformed.diagnostics };
}

/** { key: values } when there are non-empty values, else nothing: no empty arrays in FHIR JSON. */
function list<K extends string, T>(key: K, values: readonly T[]): Partial<Record<K, T[]>> {
  const kept = values.filter((v) => v !== '' && v !== undefined);
  return kept.length === 0 ? {} : ({ [key]: kept } as Partial<Record<K, T[]>>);
}
