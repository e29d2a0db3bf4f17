import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { frame, MllpFrameDecoder, OVERSIZED_HEAD_BYTES, type MllpEvent } from '../../src/mllp/frame-decoder.js';

// MLLP release 2 framing (VT … FS CR), decoded from any split of the stream.

const VT = 0x0b;
const FS = 0x1c;
const CR = 0x0d;

/** What the events say, comparable across splits. */
const summary = (events: MllpEvent[]): string[] =>
  events.map((e) => (e.kind === 'message' ? `message:${e.payload.toString('latin1')}` : e.kind === 'junk' ? `junk:${e.reason}` : `oversized:${e.head.length}`));

const decodeIn = (stream: Buffer, cuts: number[], max = 1024): MllpEvent[] => {
  const decoder = new MllpFrameDecoder(max);
  const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
  const events: MllpEvent[] = [];
  let from = 0;
  for (const at of [...points, stream.length]) {
    events.push(...decoder.push(stream.subarray(from, at)));
    from = at;
  }
  return events;
};

/** Message bodies: any bytes but the three framing bytes. */
const body = fc.uint8Array({ minLength: 0, maxLength: 200 }).map((bytes) => Buffer.from(bytes.filter((b) => b !== VT && b !== FS)));

describe('MllpFrameDecoder', () => {
  it.each([
    ['one block', frame('MSH|a'), ['message:MSH|a']],
    ['two blocks back to back (pipelined)', Buffer.concat([frame('A'), frame('B')]), ['message:A', 'message:B']],
    ['a newline between blocks is not junk', Buffer.concat([frame('A'), Buffer.from('\r\n'), frame('B')]), ['message:A', 'message:B']],
    ['bytes before a block', Buffer.concat([Buffer.from('hello'), frame('A')]), ['junk:outside-frame', 'message:A']],
    ['a block cut off by another', Buffer.concat([Buffer.from([VT]), Buffer.from('cut'), frame('A')]), ['junk:unterminated-frame', 'message:A']],
    ['FS without CR', Buffer.concat([Buffer.from([VT, 0x41, FS, 0x41]), frame('B')]), ['junk:bad-end-block', 'message:B']],
    ['an empty block', frame(''), ['message:']],
  ])('%s', (_name, stream, expected) => {
    expect(summary(new MllpFrameDecoder(1024).push(stream))).toEqual(expected);
  });

  it('answers a block over the limit once, keeps its head, and reads the next block', () => {
    const big = `MSH|${'x'.repeat(5000)}`;
    const events = new MllpFrameDecoder(100).push(Buffer.concat([frame(big), frame('small')]));
    expect(summary(events)).toEqual(['oversized:100', 'message:small']);
    expect((events[0] as { head: Buffer }).head.toString('latin1')).toBe(big.slice(0, 100));
  });

  it('keeps at most OVERSIZED_HEAD_BYTES of an oversized block', () => {
    const events = new MllpFrameDecoder(OVERSIZED_HEAD_BYTES * 2).push(frame('y'.repeat(OVERSIZED_HEAD_BYTES * 3)));
    expect(summary(events)).toEqual([`oversized:${OVERSIZED_HEAD_BYTES}`]);
  });

  it('a block of exactly the limit is a message', () => {
    expect(summary(new MllpFrameDecoder(10).push(frame('0123456789')))).toEqual(['message:0123456789']);
  });

  it('decodes any split of valid blocks to the same messages', () => {
    fc.assert(
      fc.property(fc.array(body, { minLength: 1, maxLength: 8 }), fc.array(fc.nat(), { maxLength: 20 }), (messages, cuts) => {
        const stream = Buffer.concat(messages.map((m) => frame(m)));
        const expected = messages.map((m) => `message:${m.toString('latin1')}`);
        expect(summary(decodeIn(stream, cuts))).toEqual(expected);
      }),
    );
  });

  it('never throws on any bytes, and gives the same events however they are split', () => {
    const anyByte = fc.oneof(fc.constantFrom(VT, FS, CR, 0x0a, 0x41), fc.integer({ min: 0, max: 255 }));
    fc.assert(
      fc.property(fc.array(anyByte, { maxLength: 400 }), fc.array(fc.nat(), { maxLength: 20 }), fc.integer({ min: 1, max: 64 }), (bytes, cuts, max) => {
        const stream = Buffer.from(bytes);
        const whole = summary(new MllpFrameDecoder(max).push(stream));
        expect(summary(decodeIn(stream, cuts, max))).toEqual(whole);
      }),
    );
  });

  it('bounds what it holds: no message over the limit is ever returned', () => {
    fc.assert(
      fc.property(fc.array(body, { minLength: 1, maxLength: 5 }), fc.integer({ min: 1, max: 100 }), (messages, max) => {
        const events = new MllpFrameDecoder(max).push(Buffer.concat(messages.map((m) => frame(m))));
        expect(events).toHaveLength(messages.length);
        for (const [i, e] of events.entries()) expect(e.kind).toBe((messages[i]?.length ?? 0) > max ? 'oversized' : 'message');
      }),
    );
  });
});
