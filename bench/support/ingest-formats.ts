import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { adaptCaf } from '../../src/adapters/caf.js';
import { adaptFhirMessage } from '../../src/adapters/fhir-message.js';
import { adaptHl7v2 } from '../../src/adapters/hl7v2-vxu.js';
import { adaptImmunisationCsv } from '../../src/adapters/immunisation-csv.js';
import type { AdapterResult, IngestUnit } from '../../src/adapters/ingest-unit.js';
import { HL7_MEDIA_TYPE } from '../../src/services/hl7-ingest.js';
import { nhsNumbers } from './synthetic.js';

// The four inbound formats, each as an endless supply of NEW messages made by
// templating the repo's own fixtures (test/fixtures/): every message has its
// own message key, its own NHS numbers (valid modulus-11, 999 range, none of
// them preloaded) and its own business identifiers, so that the hub stores
// every one and never takes the duplicate path. Only the identifying values
// change: sizes and shapes stay the fixtures'.

export type FormatName = 'fhir-message' | 'hl7v2' | 'csv' | 'caf';

export interface IngestFormat {
  name: FormatName;
  /** What the report calls it. */
  title: string;
  /** Which fixture it is made from, for the report. */
  fixture: string;
  path: string;
  contentType: string;
  /** The demo (or bench) client that may send it, and the purpose its token is asked for. */
  clientId: string;
  purpose: string;
  /** message_receipt.event of every unit it yields. */
  event: string;
  /** Units (messages, CSV rows) per request: the hub stores each in its own transaction. */
  unitsPerRequest: number;
  /** A request body never made before. */
  next(): string;
  /** The exactly-once keys the hub will claim for a body (from the hub's own pure adapters). */
  messageKeys(body: string): string[];
}

/** Distinct values for every message of a run: NHS numbers past the preloaded ones, and a counter. */
export class UniqueValues {
  private readonly numbers: Generator<string>;
  private counter = 0;

  /** skip: how many NHS numbers the preload already took from the same sequence. */
  constructor(skip: number) {
    this.numbers = nhsNumbers();
    for (let i = 0; i < skip; i += 1) this.nhsNumber();
  }

  nhsNumber(): string {
    const next = this.numbers.next();
    if (next.done === true) throw new Error('ran out of 999-range NHS numbers: lower BENCH_PATIENTS or BENCH_SECONDS');
    return next.value;
  }

  /** A positive integer never returned before in this run. */
  serial(): number {
    this.counter += 1;
    return this.counter;
  }
}

const fixturesDir = new URL('../../test/fixtures/', import.meta.url);

async function fixture(name: string): Promise<string> {
  return readFile(fileURLToPath(new URL(name, fixturesDir)), 'utf8');
}

/** Replaces a fixture's literal value by a placeholder, insisting it occurs exactly `times` times. */
function mark(text: string, literal: string, placeholder: string, times = 1): string {
  const found = text.split(literal).length - 1;
  if (found !== times) throw new Error(`fixture template: expected ${times} × ${JSON.stringify(literal)}, found ${found}`);
  return text.replaceAll(literal, placeholder);
}

/** Fills {{name}} placeholders; every placeholder must have a value. */
function fill(template: string, values: Readonly<Record<string, string>>): string {
  return template.replace(/\{\{(\w+)\}\}/g, (_match, name: string) => {
    const value = values[name];
    if (value === undefined) throw new Error(`fixture template: no value for {{${name}}}`);
    return value;
  });
}

const pad = (n: number, width: number): string => String(n).padStart(width, '0');

function keysOf(result: AdapterResult<IngestUnit>, what: string): string {
  if (!result.ok) throw new Error(`a generated ${what} does not adapt: ${result.issues.map((i) => `${i.location}: ${i.diagnostics}`).join('; ')}`);
  return result.value.messageKey;
}

function asRecord(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error(`fixture template: ${what} is not an object`);
  return value as Record<string, unknown>;
}

/** An entry's resource in a Bundle fixture, by resource type. */
function bundleResource(bundle: Record<string, unknown>, type: string): Record<string, unknown> {
  const entries = bundle['entry'];
  if (!Array.isArray(entries)) throw new Error('fixture template: the Bundle has no entries');
  for (const entry of entries) {
    const resource = asRecord(asRecord(entry, 'an entry')['resource'], 'an entry resource');
    if (resource['resourceType'] === type) return resource;
  }
  throw new Error(`fixture template: the Bundle has no ${type}`);
}

function firstIdentifier(resource: Record<string, unknown>): Record<string, unknown> {
  const ids = resource['identifier'];
  if (!Array.isArray(ids)) throw new Error(`fixture template: ${String(resource['resourceType'])} has no identifier`);
  return asRecord(ids[0], 'an identifier');
}

/**
 * R4 pregnancy notification (northgate-maternity, R9M): new MessageHeader id
 * (the message key) and Bundle id, a new mother's NHS number, a new pregnancy
 * EpisodeOfCare identifier and a new midwife SDS user id. The Organization
 * entry stays R9M: it names the sender, which must be the client's own.
 */
async function fhirMessage(unique: UniqueValues): Promise<IngestFormat> {
  const name = 'fhir-message/pregnancy-notification.json';
  const bundle = asRecord(JSON.parse(await fixture(name)), 'the fixture');
  bundle['id'] = '{{bundleId}}';
  const header = bundleResource(bundle, 'MessageHeader');
  header['id'] = '{{headerId}}';
  const entries = bundle['entry'] as unknown[];
  asRecord(entries[0], 'the header entry')['fullUrl'] = 'urn:uuid:{{headerId}}';
  firstIdentifier(bundleResource(bundle, 'Patient'))['value'] = '{{nhs}}';
  firstIdentifier(bundleResource(bundle, 'EpisodeOfCare'))['value'] = 'NG-PREG-B{{serial}}';
  firstIdentifier(bundleResource(bundle, 'Practitioner'))['value'] = '555{{sds}}';
  // As a partner's system sends it: compact JSON.
  const template = JSON.stringify(bundle);
  return {
    name: 'fhir-message',
    title: 'FHIR message (R4 pregnancy notification, POST /fhir/$process-message)',
    fixture: name,
    path: '/fhir/$process-message',
    contentType: 'application/fhir+json',
    clientId: 'northgate-maternity',
    purpose: 'direct-care',
    event: 'pregnancy-notification-1',
    unitsPerRequest: 1,
    next: () => {
      const serial = unique.serial();
      return fill(template, {
        bundleId: randomUUID(),
        headerId: randomUUID(),
        nhs: unique.nhsNumber(),
        serial: pad(serial, 9),
        sds: pad(serial, 9),
      });
    },
    messageKeys: (body) => [keysOf(adaptFhirMessage(JSON.parse(body) as unknown), 'FHIR message')],
  };
}

/**
 * HL7 v2.5.1 VXU^V04 from limehouse-gp (MSH-4 Y90001): a new MSH-10 control
 * id (the message key), a new child's NHS number in PID-3 and a new ORC-3
 * filler order number (the Immunization's identifier).
 */
async function hl7v2(unique: UniqueValues): Promise<IngestFormat> {
  const name = 'hl7v2/catch-up-cp.hl7';
  let template = await fixture(name);
  template = mark(template, '|Y90001-TEST-0002|', '|Y90001-B{{serial}}|');
  template = mark(template, '|9990091013^', '|{{nhs}}^');
  template = mark(template, '|Y90001-IMM-900002^', '|Y90001-IMM-B{{serial}}^');
  return {
    name: 'hl7v2',
    title: 'HL7 v2 VXU^V04 (one message per request, POST /ingest/hl7v2)',
    fixture: name,
    path: '/ingest/hl7v2',
    contentType: HL7_MEDIA_TYPE,
    clientId: 'limehouse-gp',
    purpose: 'direct-care',
    event: 'vxu-v04',
    unitsPerRequest: 1,
    next: () => fill(template, { serial: pad(unique.serial(), 9), nhs: unique.nhsNumber() }),
    messageKeys: (body) => {
      const adapted = adaptHl7v2(body);
      if (!adapted.ok) throw new Error(`a generated HL7 message does not parse: ${adapted.issues.map((i) => i.diagnostics).join('; ')}`);
      return adapted.value.messages.map((m) => keysOf(m.result, 'HL7 message'));
    },
  };
}

/**
 * The immunisation CSV (SITE_CODE Y99901): the header and the fixture's three
 * rows with ACTION_FLAG new (two missed doses, one given with product, batch,
 * site and dose), each with a new NHS number and a new UNIQUE_ID.
 */
async function csv(unique: UniqueValues): Promise<IngestFormat> {
  const name = 'csv/good-rows.csv';
  const text = await fixture(name);
  const newline = text.includes('\r\n') ? '\r\n' : '\n';
  const [header = '', ...rows] = text.split(newline).filter((line) => line !== '');
  const fresh = rows.filter((row) => row.includes('|"new"|'));
  if (fresh.length === 0) throw new Error(`fixture template: ${name} has no new rows`);
  const templates = fresh.map((row) => {
    const nhs = /^"(\d{10})"\|/.exec(row)?.[1];
    const id = /\|"(TEST-\d{4})"\|/.exec(row)?.[1];
    if (nhs === undefined || id === undefined) throw new Error(`fixture template: a row of ${name} has no NHS_NUMBER or UNIQUE_ID where expected`);
    return mark(mark(row, `"${nhs}"|`, '"{{nhs}}"|'), `|"${id}"|`, '|"TEST-B{{serial}}"|');
  });
  return {
    name: 'csv',
    title: `immunisation CSV (${templates.length} rows per file, POST /ingest/immunisations-csv)`,
    fixture: `${name} (its ${templates.length} new rows)`,
    path: '/ingest/immunisations-csv',
    contentType: 'text/csv',
    clientId: 'bench-csv-gp',
    purpose: 'direct-care',
    event: 'immunisation-csv-row',
    unitsPerRequest: templates.length,
    next: () =>
      [header, ...templates.map((row) => fill(row, { nhs: unique.nhsNumber(), serial: pad(unique.serial(), 9) }))].join(newline) + newline,
    messageKeys: (body) => {
      const adapted = adaptImmunisationCsv(body);
      if (!adapted.ok) throw new Error(`a generated CSV file does not parse: ${adapted.issues.map((i) => i.diagnostics).join('; ')}`);
      return adapted.value.rows.map((r) => keysOf(r.result, `CSV row ${r.row}`));
    },
  };
}

/**
 * An Early Help Assessment export from eastside-early-help (E09000999-EH): a
 * new assessment reference (the message key), a new child's and a new
 * mother's NHS number, and the two professionals named afresh (a
 * Practitioner is matched on organisation and name).
 */
async function caf(unique: UniqueValues): Promise<IngestFormat> {
  const name = 'caf/born-three-agencies.json';
  const exported = asRecord(JSON.parse(await fixture(name)), 'the fixture');
  const assessment = asRecord(exported['assessment'], 'assessment');
  assessment['reference'] = 'EH-B{{serial}}';
  asRecord(assessment['child'], 'assessment.child')['nhsNumber'] = '{{childNhs}}';
  const parents = assessment['parentsCarers'];
  if (!Array.isArray(parents)) throw new Error('fixture template: no parentsCarers');
  const mother = asRecord(parents[0], 'the first parent');
  if (typeof mother['nhsNumber'] !== 'string') throw new Error('fixture template: the first parent has no NHS number');
  mother['nhsNumber'] = '{{motherNhs}}';
  const assessor = asRecord(assessment['assessor'], 'assessment.assessor');
  assessor['name'] = `${String(assessor['name'])} {{serial}}`;
  const lead = asRecord(assessment['leadProfessional'], 'assessment.leadProfessional');
  lead['name'] = `${String(lead['name'])} {{serial}}`;
  const template = JSON.stringify(exported);
  const spaced = (nhs: string): string => `${nhs.slice(0, 3)} ${nhs.slice(3, 6)} ${nhs.slice(6)}`;
  return {
    name: 'caf',
    title: 'CAF early help assessment (JSON export, POST /ingest/caf)',
    fixture: name,
    path: '/ingest/caf',
    contentType: 'application/json',
    clientId: 'eastside-early-help',
    purpose: 'early-help',
    event: 'early-help-assessment',
    unitsPerRequest: 1,
    // The fixture writes the child's number spaced, the mother's not: so do these.
    next: () => fill(template, { serial: pad(unique.serial(), 9), childNhs: spaced(unique.nhsNumber()), motherNhs: unique.nhsNumber() }),
    messageKeys: (body) => [keysOf(adaptCaf(JSON.parse(body) as unknown), 'CAF export')],
  };
}

/** The four formats, in the order they are measured. */
export async function ingestFormats(unique: UniqueValues): Promise<IngestFormat[]> {
  return [await fhirMessage(unique), await hl7v2(unique), await csv(unique), await caf(unique)];
}
