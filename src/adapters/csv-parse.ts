// A small delimited-text parser in the style of RFC 4180, for partner batch
// files (the NHS England immunisation batch CSV uses "|" and quotes every field).
// See: https://www.rfc-editor.org/rfc/rfc4180
//
// Pure and total: it never throws on input. Faults that spoil only one record
// (text after a closing quote, a bare quote in an unquoted field) are attached
// to that record so the caller can refuse that row alone; an unterminated
// quote swallows the rest of the file, so it fails the whole parse.

/** A fault confined to one field of one record. */
export interface CsvFault {
  /** 0-based index of the field in its record. */
  field: number;
  diagnostics: string;
}

export interface CsvRecord {
  /** 1-based record number, blank lines not counted (the header, if any, is record 1). */
  record: number;
  /** 1-based physical line the record starts on (quoted line breaks advance it). */
  line: number;
  fields: string[];
  faults: CsvFault[];
}

export type CsvParseResult =
  | { ok: true; records: CsvRecord[] }
  | { ok: false; record: number; line: number; diagnostics: string };

const QUOTE = '"';
const CR = '\r';
const LF = '\n';
const BOM = '\uFEFF';

/**
 * Splits text into records of fields. Line ends may be CRLF, LF or CR, in any
 * mix; a UTF-8 byte order mark and a final line end are ignored; empty lines
 * are skipped (exporters often leave one at the end). Quoted fields may hold
 * the delimiter, line breaks (kept verbatim) and doubled quotes ("" → ").
 */
export function parseCsv(text: string, delimiter = ','): CsvParseResult {
  if (delimiter.length !== 1 || delimiter === QUOTE || delimiter === CR || delimiter === LF) {
    throw new Error(`unusable delimiter ${JSON.stringify(delimiter)}`);
  }
  const n = text.length;
  let i = text.startsWith(BOM) ? 1 : 0;
  let line = 1;
  const records: CsvRecord[] = [];

  const isLineEnd = (c: string | undefined): boolean => c === CR || c === LF;
  /** Index of the next delimiter or line end at or after `from` (or n). */
  const fieldEnd = (from: number): number => {
    let j = from;
    while (j < n && text[j] !== delimiter && !isLineEnd(text[j])) j += 1;
    return j;
  };
  /** Consumes one line end (CRLF counts once) at i. */
  const consumeLineEnd = (): void => {
    i += text[i] === CR && text[i + 1] === LF ? 2 : 1;
    line += 1;
  };

  while (i < n) {
    if (isLineEnd(text[i])) {
      consumeLineEnd();
      continue;
    }
    const record: CsvRecord = { record: records.length + 1, line, fields: [], faults: [] };
    for (;;) {
      const field = record.fields.length;
      let value: string;
      if (text[i] === QUOTE) {
        const openedOn = line;
        value = '';
        let j = i + 1;
        for (;;) {
          const close = text.indexOf(QUOTE, j);
          if (close === -1) {
            return {
              ok: false,
              record: record.record,
              line: openedOn,
              diagnostics: `field ${field + 1} opens a quote on line ${openedOn} that is never closed`,
            };
          }
          const chunk = text.slice(j, close);
          line += countLineBreaks(chunk);
          value += chunk;
          if (text[close + 1] === QUOTE) {
            value += QUOTE;
            j = close + 2;
            continue;
          }
          i = close + 1;
          break;
        }
        if (i < n && text[i] !== delimiter && !isLineEnd(text[i])) {
          record.faults.push({ field, diagnostics: `field ${field + 1} has text after its closing quote; a quote inside a quoted field must be doubled ("")` });
          const end = fieldEnd(i);
          value += text.slice(i, end);
          i = end;
        }
      } else {
        const end = fieldEnd(i);
        value = text.slice(i, end);
        if (value.includes(QUOTE)) {
          record.faults.push({ field, diagnostics: `field ${field + 1} has a quote but is not quoted; quote the field and double the quote ("")` });
        }
        i = end;
      }
      record.fields.push(value);
      if (i >= n) break;
      if (text[i] === delimiter) {
        i += 1;
        continue;
      }
      consumeLineEnd();
      break;
    }
    records.push(record);
  }
  return { ok: true, records };
}

/** Line breaks in a run of text: CRLF, LF and a lone CR each count once. */
function countLineBreaks(s: string): number {
  let count = 0;
  for (let k = 0; k < s.length; k += 1) {
    if (s[k] === LF || (s[k] === CR && s[k + 1] !== LF)) count += 1;
  }
  return count;
}
