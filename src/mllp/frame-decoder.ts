// Pure MLLP framing: bytes in, whole messages (and what went wrong) out. No IO.
// See: HL7 Version 3 Standard: Transport Specification – MLLP, Release 2 (HL7 v2.5.1 Appendix C):
// a block is <SB> data <EB><CR>, SB = 0x0B (VT), EB = 0x1C (FS), CR = 0x0D.
// The decoder keeps its state between chunks, so TCP may split a block anywhere.

const START_BLOCK = 0x0b;
const END_BLOCK = 0x1c;
const CARRIAGE_RETURN = 0x0d;

/** Why bytes were not a message: outside any block, a block cut off by a new SB, or FS not followed by CR. */
export type JunkReason = 'outside-frame' | 'unterminated-frame' | 'bad-end-block';

/** Each event is answered by one ACK, in order. */
export type MllpEvent =
  | { kind: 'message'; payload: Buffer }
  | { kind: 'junk'; reason: JunkReason }
  /** A block longer than the limit: its first bytes (enough to read the MSH), the rest is discarded unread. */
  | { kind: 'oversized'; head: Buffer; limit: number };

/** How much of an oversized block is kept to answer it (an MSH segment fits). */
export const OVERSIZED_HEAD_BYTES = 4096;

type State =
  | { at: 'outside'; junkReported: boolean }
  | { at: 'inside'; parts: Buffer[]; length: number }
  | { at: 'discarding' }
  | { at: 'after-end'; parts: Buffer[] }
  | { at: 'after-end-discarded' };

/** Whitespace between blocks (a trailing LF some senders add) is tolerated, not junk. */
const isWhitespace = (byte: number): boolean => byte === 0x0d || byte === 0x0a || byte === 0x20 || byte === 0x09;

export class MllpFrameDecoder {
  private state: State = { at: 'outside', junkReported: false };

  constructor(private readonly maxMessageBytes: number) {
    if (!Number.isInteger(maxMessageBytes) || maxMessageBytes < 1) throw new Error('maxMessageBytes must be a positive integer');
  }

  /** Feeds one chunk; returns the events it completes, in order. */
  push(chunk: Uint8Array): MllpEvent[] {
    const bytes = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const events: MllpEvent[] = [];
    let i = 0;
    while (i < bytes.length) i = this.step(bytes, i, events);
    return events;
  }

  /** Consumes bytes from i in the current state; returns where to continue. */
  private step(bytes: Buffer, i: number, events: MllpEvent[]): number {
    const state = this.state;
    switch (state.at) {
      case 'outside': {
        const byte = bytes[i] ?? 0;
        if (byte === START_BLOCK) {
          this.state = { at: 'inside', parts: [], length: 0 };
        } else if (!isWhitespace(byte) && !state.junkReported) {
          events.push({ kind: 'junk', reason: 'outside-frame' });
          this.state = { at: 'outside', junkReported: true };
        }
        return i + 1;
      }
      case 'inside': {
        const end = bytes.indexOf(END_BLOCK, i);
        const stop = end < 0 ? bytes.length : end;
        const restart = bytes.subarray(i, stop).indexOf(START_BLOCK);
        const upTo = restart < 0 ? stop : i + restart;
        this.append(state, bytes.subarray(i, upTo), events);
        if (this.state.at !== 'inside') return upTo; // went over the limit: discard from here
        if (restart >= 0) {
          // A new start block before the end block: the block so far never ended.
          events.push({ kind: 'junk', reason: 'unterminated-frame' });
          this.state = { at: 'inside', parts: [], length: 0 };
          return upTo + 1;
        }
        if (end >= 0) this.state = { at: 'after-end', parts: state.parts };
        return end < 0 ? bytes.length : end + 1;
      }
      case 'discarding': {
        const byte = bytes[i] ?? 0;
        if (byte === START_BLOCK) this.state = { at: 'inside', parts: [], length: 0 };
        else if (byte === END_BLOCK) this.state = { at: 'after-end-discarded' };
        return i + 1;
      }
      case 'after-end': {
        if (bytes[i] === CARRIAGE_RETURN) {
          events.push({ kind: 'message', payload: Buffer.concat(state.parts) });
          this.state = { at: 'outside', junkReported: false };
          return i + 1;
        }
        // Release 2 ends a block with FS CR, nothing else: the block is refused, and the byte read again outside it.
        events.push({ kind: 'junk', reason: 'bad-end-block' });
        this.state = { at: 'outside', junkReported: true };
        return i;
      }
      case 'after-end-discarded': {
        // The oversized block was answered already; whatever follows is read as outside a block.
        this.state = { at: 'outside', junkReported: bytes[i] !== CARRIAGE_RETURN };
        return bytes[i] === CARRIAGE_RETURN ? i + 1 : i;
      }
      default: {
        const unknown: never = state;
        throw new Error(`unknown decoder state ${JSON.stringify(unknown)}`);
      }
    }
  }

  private append(state: Extract<State, { at: 'inside' }>, part: Buffer, events: MllpEvent[]): void {
    if (part.length === 0) return;
    if (state.length + part.length > this.maxMessageBytes) {
      const head = Buffer.concat([...state.parts, part]).subarray(0, Math.min(OVERSIZED_HEAD_BYTES, this.maxMessageBytes));
      events.push({ kind: 'oversized', head: Buffer.from(head), limit: this.maxMessageBytes });
      this.state = { at: 'discarding' };
      return;
    }
    state.parts.push(Buffer.from(part)); // a copy: the socket may reuse its chunk
    state.length += part.length;
  }
}

/** Wraps a message in one MLLP block. */
export function frame(message: string | Uint8Array): Buffer {
  const body = typeof message === 'string' ? Buffer.from(message, 'utf8') : Buffer.from(message);
  return Buffer.concat([Buffer.of(START_BLOCK), body, Buffer.of(END_BLOCK, CARRIAGE_RETURN)]);
}
