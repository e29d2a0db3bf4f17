import type { AdapterResult } from '../adapters/ingest-unit.js';
import { parseHl7, splitMessages, type Hl7Malformed, type Hl7Segment } from '../adapters/hl7v2-parse.js';
import { ackOriginal, hl7Ack, type Hl7AckOriginal, type Hl7AdaptOptions, type Hl7MessageResult } from '../adapters/hl7v2-vxu.js';
import type { UnitOutcome } from '../services/ingest-service.js';

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

/**
 * One ACK per message, in order: the adapter's own (AA, or AE/AR for what it
 * refused), replaced by an AE when the ingest service refused a message the
 * adapter accepted (wrong sender, failed validation). An input that is not
 * HL7 at all gets a single AR.
 */
export function hl7Answer(
  body: string,
  adapted: AdapterResult<{ messages: Hl7MessageResult[] }>,
  outcomes: readonly UnitOutcome[],
  options: Hl7AdaptOptions,
): string {
  if (!adapted.ok) return hl7Ack(UNKNOWN_ORIGINAL, 'AR', adapted.issues, `${options.ackControlIdPrefix}1`, options.now);
  const split = splitMessages(parseHl7(body));
  return adapted.value.messages
    .map((message, i) => {
      const outcome = outcomes[i];
      if (outcome?.status !== 'refused' || !message.result.ok) return message.ack;
      const header = split.ok ? split.messages[i]?.header : undefined;
      const original = header !== undefined && isSegment(header) ? ackOriginal(header) : UNKNOWN_ORIGINAL;
      return hl7Ack(original, 'AE', outcome.issues, `${options.ackControlIdPrefix}${i + 1}`, options.now);
    })
    .join('');
}

function isSegment(header: Hl7Segment | Hl7Malformed): header is Hl7Segment {
  return 'fields' in header;
}
