// Pure HL7 v2 parsing: segments, fields, repetitions, components,
// subcomponents and escape sequences. No IO, no clock.
// See: HL7 v2.5.1 Chapter 2 (Control), 2.5 "Message construction rules",
// 2.7 "Use of escape sequences in text fields", and Appendix C (MLLP).
// Written here rather than with @medplum/core's Hl7Message: we need MSH-1/MSH-2
// read per header (batches may mix them), malformed lines reported by number,
// and \X..\ / \.br\ decoding; the whole parser is short.

/** MSH-1 Field Separator and MSH-2 Encoding Characters. */
export interface Hl7Encoding {
  field: string;
  component: string;
  repetition: string;
  escape: string;
  subcomponent: string;
}

export const DEFAULT_ENCODING: Hl7Encoding = { field: '|', component: '^', repetition: '~', escape: '\\', subcomponent: '&' };

export interface Hl7Segment {
  /** Segment ID, e.g. "MSH", "PID". */
  name: string;
  /** 1-based line of the input (after MLLP framing is removed) the segment is on. */
  line: number;
  encoding: Hl7Encoding;
  /**
   * Raw (still escaped) field text by HL7 field number: fields[0] is the
   * segment ID; for MSH/FHS/BHS fields[1] is the field separator itself and
   * fields[2] the encoding characters, so MSH-9 is fields[9].
   */
  fields: readonly string[];
}

/** A line that is not a segment, or a header whose delimiters cannot be read. */
export interface Hl7Malformed {
  line: number;
  /** The segment ID when it was recognisable (e.g. "MSH" with broken MSH-2). */
  name: string | undefined;
  location: string;
  diagnostics: string;
}

export type Hl7Line = { kind: 'segment'; segment: Hl7Segment } | { kind: 'malformed'; malformed: Hl7Malformed };

export type Hl7ParseResult = { ok: true; lines: Hl7Line[] } | { ok: false; location: string; diagnostics: string };

/** Segments whose fields 1 and 2 are the delimiters: file, batch and message headers. */
const HEADER_SEGMENTS: ReadonlySet<string> = new Set(['MSH', 'FHS', 'BHS']);
const SEGMENT_ID = /^[A-Z][A-Z0-9]{2}$/;
const NOT_A_DELIMITER = /[A-Za-z0-9\s]/;

/**
 * Splits text into segments. Accepts CR (the standard segment terminator), LF
 * and CRLF, mixed; strips MLLP framing (VT 0x0B … FS 0x1C CR) wherever it is.
 * Fails only when the first segment is not a readable MSH, FHS or BHS.
 */
export function parseHl7(text: string): Hl7ParseResult {
  // The framing bytes are transport, never content (Appendix C.4.3).
  const unframed = text.replace(/^\uFEFF/, '').replaceAll('\u000b', '').replaceAll('\u001c', '');
  const rawLines = unframed.split(/\r\n|\r|\n/);
  const lines: Hl7Line[] = [];
  let encoding: Hl7Encoding | undefined;
  for (let index = 0; index < rawLines.length; index += 1) {
    const raw = rawLines[index] ?? '';
    const line = index + 1;
    if (raw.trim() === '') continue;
    const name = raw.slice(0, 3);
    if (HEADER_SEGMENTS.has(name)) {
      const header = readHeader(raw, name, line);
      if ('diagnostics' in header) {
        if (encoding === undefined) return { ok: false, location: header.location, diagnostics: header.diagnostics };
        lines.push({ kind: 'malformed', malformed: header });
        continue;
      }
      encoding = header.encoding;
      lines.push({ kind: 'segment', segment: header });
      continue;
    }
    if (encoding === undefined) {
      return { ok: false, location: `line ${line}`, diagnostics: `this is not HL7 v2: line ${line} does not start with an MSH, FHS or BHS segment` };
    }
    if (!SEGMENT_ID.test(name) || (raw.length > 3 && raw.charAt(3) !== encoding.field)) {
      const diagnostics = `line ${line} is not an HL7 segment (a three-character segment ID, then the field separator "${encoding.field}")`;
      lines.push({ kind: 'malformed', malformed: { line, name: undefined, location: `line ${line}`, diagnostics } });
      continue;
    }
    lines.push({ kind: 'segment', segment: { name, line, encoding, fields: raw.split(encoding.field) } });
  }
  return { ok: true, lines };
}

/** One message: its MSH (or the unreadable MSH line), the segments after it, and any lines that were not segments. */
export interface Hl7Message {
  header: Hl7Segment | Hl7Malformed;
  segments: Hl7Segment[];
  problems: Hl7Malformed[];
}

export type Hl7SplitResult = { ok: true; messages: Hl7Message[] } | { ok: false; location: string; diagnostics: string };

/**
 * Groups parsed lines into messages (2.10.3 batch protocol: [FHS] {[BHS] {MSH …} [BTS]} [FTS], any envelope
 * segment optional). Fails when nothing is a message, a segment stands outside any message, or a BTS-1/FTS-1
 * count disagrees with what arrived (a cut-off batch).
 */
export function splitMessages(parsed: Hl7ParseResult): Hl7SplitResult {
  if (!parsed.ok) return parsed;
  const messages: Hl7Message[] = [];
  let current: Hl7Message | undefined;
  let batchStart = 0;
  let batches = 0;
  for (const line of parsed.lines) {
    const name = line.kind === 'segment' ? line.segment.name : line.malformed.name;
    if (name === 'MSH') {
      current = { header: line.kind === 'segment' ? line.segment : line.malformed, segments: [], problems: [] };
      messages.push(current);
    } else if (name === 'FHS' || name === 'BHS' || name === 'BTS' || name === 'FTS') {
      current = undefined; // an envelope segment closes any open message
      if (line.kind === 'malformed') return { ok: false, location: line.malformed.location, diagnostics: line.malformed.diagnostics };
      if (name === 'FHS') batches = 0;
      if (name === 'BHS') batches += 1;
      if (name === 'FHS' || name === 'BHS') batchStart = messages.length;
      const declared = name === 'BTS' || name === 'FTS' ? value(line.segment, 1).trim() : '';
      const counted = name === 'BTS' ? messages.length - batchStart : batches;
      if (/^\d+$/.test(declared) && Number(declared) !== counted) {
        return { ok: false, location: `${name}-1`, diagnostics: `${name}-1 declares ${declared} ${name === 'BTS' ? 'messages' : 'batches'} but ${counted} arrived: the input looks cut off` };
      }
    } else if (current === undefined) {
      const where = line.kind === 'segment' ? `line ${line.segment.line}` : line.malformed.location;
      return { ok: false, location: where, diagnostics: `${where} is outside any message (every segment belongs after an MSH)` };
    } else if (line.kind === 'segment') current.segments.push(line.segment);
    else current.problems.push(line.malformed);
  }
  if (messages.length === 0) return { ok: false, location: 'MSH', diagnostics: 'the input holds no MSH segment, so no message' };
  return { ok: true, messages };
}

/** MSH-1 is the character after "MSH"; MSH-2 runs to the next field separator (2.5.1: four characters; v2.7 adds a fifth). */
function readHeader(raw: string, name: string, line: number): Hl7Segment | Hl7Malformed {
  const field = raw.charAt(3);
  if (field === '' || NOT_A_DELIMITER.test(field)) {
    return { line, name, location: `${name}-1`, diagnostics: `${name}-1 (field separator) must be a punctuation character` };
  }
  const rest = raw.slice(4);
  const end = rest.indexOf(field);
  const chars = end < 0 ? rest : rest.slice(0, end);
  const distinct = new Set(Array.from(chars + field)).size === chars.length + 1;
  if (chars.length < 4 || chars.length > 5 || !distinct || NOT_A_DELIMITER.test(chars)) {
    return { line, name, location: `${name}-2`, diagnostics: `${name}-2 (encoding characters) must be four distinct punctuation characters such as ^~\\&` };
  }
  const encoding = { field, component: chars.charAt(0), repetition: chars.charAt(1), escape: chars.charAt(2), subcomponent: chars.charAt(3) };
  return { name, line, encoding, fields: [name, field, chars, ...(end < 0 ? [] : rest.slice(end + 1).split(field))] };
}

/** The raw (escaped) text of field n, '' when absent. */
export function rawField(segment: Hl7Segment, field: number): string {
  return segment.fields[field] ?? '';
}

/** The repetition numbers (1-based) field n holds: [] when empty. */
export function repetitions(segment: Hl7Segment, field: number): number[] {
  const raw = rawField(segment, field);
  return raw === '' ? [] : raw.split(segment.encoding.repetition).map((_, i) => i + 1);
}

/**
 * The decoded text at field-repetition-component-subcomponent (all 1-based),
 * '' when absent. The HL7 explicit null `""` (2.5.3) also reads as ''.
 */
export function value(segment: Hl7Segment, field: number, component = 1, repetition = 1, subcomponent = 1): string {
  if (HEADER_SEGMENTS.has(segment.name) && (field === 1 || field === 2)) {
    return component === 1 && repetition === 1 && subcomponent === 1 ? rawField(segment, field) : '';
  }
  const enc = segment.encoding;
  const rep = rawField(segment, field).split(enc.repetition)[repetition - 1] ?? '';
  const comp = rep.split(enc.component)[component - 1] ?? '';
  const sub = comp.split(enc.subcomponent)[subcomponent - 1] ?? '';
  return sub === '""' ? '' : decodeEscapes(sub, enc);
}

/** Decodes \F\ \S\ \T\ \R\ \E\, \Xhh…\, \.br\ and \.sp\; drops \H\ and \N\; leaves unknown sequences as written. */
export function decodeEscapes(text: string, enc: Hl7Encoding): string {
  const esc = enc.escape;
  if (!text.includes(esc)) return text;
  let out = '';
  let i = 0;
  while (i < text.length) {
    const start = text.indexOf(esc, i);
    const end = start < 0 ? -1 : text.indexOf(esc, start + 1);
    if (end < 0) return out + text.slice(i);
    out += text.slice(i, start);
    const decoded = decodeSequence(text.slice(start + 1, end), enc);
    if (decoded === undefined) {
      // Not an escape after all: keep the escape character and read on from the next one.
      out += esc;
      i = start + 1;
    } else {
      out += decoded;
      i = end + 1;
    }
  }
  return out;
}

function decodeSequence(sequence: string, enc: Hl7Encoding): string | undefined {
  switch (sequence) {
    case 'F':
      return enc.field;
    case 'S':
      return enc.component;
    case 'T':
      return enc.subcomponent;
    case 'R':
      return enc.repetition;
    case 'E':
      return enc.escape;
    case 'H':
    case 'N':
      return ''; // highlighting on/off: no meaning in FHIR strings
    case '.br':
      return '\n';
    default:
      if (/^\.sp\d*$/.test(sequence)) return '\n';
      if (/^X(?:[0-9A-Fa-f]{2})+$/.test(sequence)) return decodeHex(sequence.slice(1));
      return undefined;
  }
}

/** \Xhh…\ bytes: UTF-8 when they form valid UTF-8 (what current senders mean), else ISO 8859-1 (the 8-bit default of MSH-18). */
function decodeHex(hex: string): string {
  const bytes = Uint8Array.from(hex.match(/../g) ?? [], (pair) => parseInt(pair, 16));
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return Array.from(bytes, (byte) => String.fromCharCode(byte)).join('');
  }
}

/** Escapes text for a field of an outbound message (e.g. ERR-8 of an ACK). */
export function encodeText(text: string, enc: Hl7Encoding): string {
  let out = '';
  for (const ch of text) {
    if (ch === enc.escape) out += `${enc.escape}E${enc.escape}`;
    else if (ch === enc.field) out += `${enc.escape}F${enc.escape}`;
    else if (ch === enc.component) out += `${enc.escape}S${enc.escape}`;
    else if (ch === enc.repetition) out += `${enc.escape}R${enc.escape}`;
    else if (ch === enc.subcomponent) out += `${enc.escape}T${enc.escape}`;
    else if (ch === '\n') out += `${enc.escape}.br${enc.escape}`;
    else if (ch !== '\r') out += ch;
  }
  return out;
}

/** A FHIR date, and the FHIR dateTime when the source carried a time and a zone. */
export interface Hl7Timestamp {
  date: string;
  dateTime: string;
}

const DTM = /^(\d{4})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:\.(\d{1,4}))?)?)?)?)?)?(?:([+-])(\d{2})(\d{2}))?$/;

/**
 * HL7 v2.5.1 DTM/TS: YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ]. FHIR
 * requires a zone on any dateTime with a time, so a time without a zone is
 * dropped (only the date is kept). undefined when not a real date.
 */
export function parseHl7Timestamp(text: string): Hl7Timestamp | undefined {
  const m = DTM.exec(text.trim());
  if (m === null) return undefined;
  const [, year = '', month, day, hour, minute, second, fraction, sign, zoneHour, zoneMinute] = m;
  if (year === '0000') return undefined;
  if (month !== undefined && (Number(month) < 1 || Number(month) > 12)) return undefined;
  if (day !== undefined && (Number(day) < 1 || Number(day) > daysInMonth(Number(year), Number(month)))) return undefined;
  if (Number(hour ?? 0) > 23 || Number(minute ?? 0) > 59 || Number(second ?? 0) > 59) return undefined;
  if (sign !== undefined && (Number(zoneHour) > 14 || Number(zoneMinute) > 59)) return undefined;
  const date = [year, month, day].filter((part) => part !== undefined).join('-');
  if (day === undefined || hour === undefined || sign === undefined) return { date, dateTime: date };
  const seconds = `${second ?? '00'}${fraction === undefined ? '' : `.${fraction}`}`;
  return { date, dateTime: `${date}T${hour}:${minute ?? '00'}:${seconds}${sign}${zoneHour ?? '00'}:${zoneMinute ?? '00'}` };
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}
