import type { AdapterIssue, AdapterResult, IngestUnit } from '../adapters/ingest-unit.js';
import { parseHl7, splitMessages, type Hl7Malformed, type Hl7Segment } from '../adapters/hl7v2-parse.js';
import { ackOriginal, adaptHl7v2, hl7Ack, type Hl7AckOriginal, type Hl7AdaptOptions, type Hl7MessageResult } from '../adapters/hl7v2-vxu.js';
import type { Principal } from '../auth/principal.js';
import type { RequestMeta } from './audit-recorder.js';
import type { IngestService, UnitOutcome } from './ingest-service.js';

// HL7 v2 in, ACKs out: the one path both POST /ingest/hl7v2 and the MLLP
// listener take (adapt, then the ingest service: exactly once, audited, the
// protocol's `sources`), and the ACK each message gets.

/** The media type HL7 v2 clients ask for to get ACKs back (HL7 over HTTP). */
export const HL7_MEDIA_TYPE = 'x-application/hl7-v2+er7';

const UNKNOWN_ORIGINAL: Hl7AckOriginal = {
  fieldSeparator: '|',
  encodingCharacters: '^~\\&',
  sendingApplication: '',
  sendingFacility: '',
  receivingApplication: '',
  receivingFacility: '',
  controlId: '',
  processingId: 'P',
  version: '2.5.1',
};

/** HL7 v2 timestamp (MSH-7) of an instant, in UTC. */
export function hl7Timestamp(at: Date): string {
  return `${at.toISOString().replace(/[-:T]/g, '').slice(0, 14)}+0000`;
}

export interface Hl7AnswerOptions extends Hl7AdaptOptions {
  /**
   * The acknowledgment code of a message the ingest service refused because of who sent it (403: MSH-4 is not
   * the sender's organisation, or the protocol does not let it send this). HTTP answers AE (as it always has);
   * MLLP, where the sender is the connection, AR: this connection must not send it again.
   */
  senderRefused?: 'AE' | 'AR';
}

export interface Hl7Ingested {
  outcomes: UnitOutcome[];
  /** One ACK per message of the input, in order (a batch gets as many), or one AR for input that is not HL7. */
  ack: string;
}

/** Adapts HL7 v2 text (one message or a batch) and ingests each message as the principal. */
export async function ingestHl7(
  ingest: IngestService,
  principal: Principal,
  body: string,
  meta: RequestMeta,
  options: Hl7AnswerOptions,
): Promise<Hl7Ingested> {
  const adapted = adaptHl7v2(body, options);
  const units = adapted.ok
    ? adapted.value.messages.map((m, i) => ({ label: `message ${i + 1}`, result: m.result }))
    : [{ label: 'message', result: adapted as AdapterResult<IngestUnit> }];
  const outcomes = await ingest.ingest(principal, { contentType: HL7_MEDIA_TYPE, text: body }, units, meta);
  return { outcomes, ack: hl7Answer(body, adapted, outcomes, options) };
}

/**
 * One ACK per message, in order: the adapter's own (AA, or AE/AR for what it
 * refused), replaced by an AE (or `senderRefused`) when the ingest service refused a
 * message the adapter accepted (wrong sender, failed validation). An input that is not
 * HL7 at all gets a single AR.
 */
export function hl7Answer(
  body: string,
  adapted: AdapterResult<{ messages: Hl7MessageResult[] }>,
  outcomes: readonly UnitOutcome[],
  options: Hl7AnswerOptions,
): string {
  if (!adapted.ok) return hl7Ack(UNKNOWN_ORIGINAL, 'AR', adapted.issues, `${options.ackControlIdPrefix}1`, options.now);
  const split = splitMessages(parseHl7(body));
  return adapted.value.messages
    .map((message, i) => {
      const outcome = outcomes[i];
      if (outcome?.status !== 'refused' || !message.result.ok) return message.ack;
      const header = split.ok ? split.messages[i]?.header : undefined;
      const original = header !== undefined && isSegment(header) ? ackOriginal(header) : UNKNOWN_ORIGINAL;
      const code = outcome.refusal === 403 ? (options.senderRefused ?? 'AE') : 'AE';
      return hl7Ack(original, code, outcome.issues, `${options.ackControlIdPrefix}${i + 1}`, options.now);
    })
    .join('');
}

/**
 * An AR (or AE) for something refused before it reached the adapter (a block too large, bytes outside
 * a block, a connection not allowed): MSA-2 is MSH-10 when the text given starts with a readable MSH.
 */
export function hl7Reject(text: string, issue: AdapterIssue, options: Hl7AdaptOptions, code: 'AR' | 'AE' = 'AR'): string {
  const parsed = parseHl7(text);
  const first = parsed.ok ? parsed.lines[0] : undefined;
  const original = first?.kind === 'segment' && first.segment.name === 'MSH' ? ackOriginal(first.segment) : UNKNOWN_ORIGINAL;
  return hl7Ack(original, code, [issue], `${options.ackControlIdPrefix}1`, options.now);
}

function isSegment(header: Hl7Segment | Hl7Malformed): header is Hl7Segment {
  return 'fields' in header;
}
