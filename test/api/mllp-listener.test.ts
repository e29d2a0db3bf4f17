import type { Immunization } from 'fhir/r4.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerMllpSender } from '../../src/db/mllp-sender-queries.js';
import { frame } from '../../src/mllp/frame-decoder.js';
import { countRows, restEventsFor, storedResources } from '../support/audit.js';
import { readFixture } from '../support/golden.js';
import { auditEventsDescribed, msa, sendWithStockClient, RawMllpPeer, requestIdOf } from '../support/mllp.js';
import { startTestHub, type TestHub } from '../support/test-hub.js';

// HL7 v2 over plain MLLP from an allow-listed address: the stock client for the
// ordinary path, raw sockets for pipelining, split blocks, junk, sizes and refusals.

const MAX_BYTES = 16 * 1024;
let t: TestHub;
let port: number;
let missedDose: string;

/** The fixture under another control id (MSH-10), so each test sends a message of its own. */
const withControlId = (text: string, id: string): string => text.replace('Y90001-TEST-0001', id);

beforeAll(async () => {
  t = await startTestHub({ mllp: { host: '127.0.0.1', port: 0, limits: { maxMessageBytes: MAX_BYTES, idleTimeoutMs: 30_000, maxConnections: 20 } } });
  port = t.hub.mllp?.plain?.port ?? 0;
  await registerMllpSender(t.database.db, { clientId: 'limehouse-gp', kind: 'address', value: '127.0.0.1' });
  missedDose = await readFixture('hl7v2/missed-dose-na.hl7');
});
afterAll(async () => {
  await t.close();
});

/** Sends each text as one block on a fresh connection and returns the answers. */
async function exchange(...texts: string[]): Promise<string[]> {
  const peer = await RawMllpPeer.connect(port);
  peer.write(Buffer.concat(texts.map((text) => frame(text))));
  const answers = await peer.answers(texts.length);
  await peer.close();
  return answers;
}

describe('MLLP listener (plain TCP, address allow-list)', () => {
  it('takes a message from a stock HL7 client, answers AA with MSA-2 = MSH-10, stores it and audits it', async () => {
    const answers = [await sendWithStockClient(port, missedDose)];

    expect(msa(answers[0] ?? '')).toEqual([['AA', 'Y90001-TEST-0001']]);
    const immunizations = await storedResources<Immunization>(t.database.db, 'Immunization');
    expect(immunizations.map((i) => i.status)).toEqual(['not-done']);
    // The sender's own event (the hub's follow-up work for the missed dose is audited under the same request).
    const events = await restEventsFor(t.database.db, requestIdOf(answers[0] ?? ''));
    const own = events.find((e) => e.agent?.some((a) => a.who?.identifier?.value === 'limehouse-gp'));
    expect(own?.outcome).toBe('0');
    expect(own?.outcomeDesc).toMatch(/vxu-v04 hl7v2:Y90001:Y90001-TEST-0001/);
  });

  it('answers a re-sent message with the same acknowledgment and stores nothing twice', async () => {
    const rows = { history: await countRows(t.database.db, 'resource_history'), receipts: await countRows(t.database.db, 'message_receipt') };
    const [again] = await exchange(missedDose);
    expect(msa(again ?? '')).toEqual([['AA', 'Y90001-TEST-0001']]);
    expect(await countRows(t.database.db, 'resource_history')).toBe(rows.history);
    expect(await countRows(t.database.db, 'message_receipt')).toBe(rows.receipts);
    const [event] = await restEventsFor(t.database.db, requestIdOf(again ?? ''));
    expect(event?.outcomeDesc).toMatch(/already received; nothing changed/);
  });

  it('answers pipelined messages one ACK each, in the order sent', async () => {
    const ids = ['Y90001-MLLP-P1', 'Y90001-MLLP-P2', 'Y90001-MLLP-P3'];
    const answers = await exchange(...ids.map((id) => withControlId(missedDose, id)));
    expect(answers.map((a) => msa(a))).toEqual(ids.map((id) => [['AA', id]]));
  });

  it('reads a message split across many TCP writes, the framing bytes included', async () => {
    const bytes = frame(withControlId(missedDose, 'Y90001-MLLP-SPLIT'));
    const peer = await RawMllpPeer.connect(port);
    peer.socket.setNoDelay(true);
    for (const [from, to] of [[0, 1], [1, 40], [40, bytes.length - 1], [bytes.length - 1, bytes.length]] as const) {
      peer.write(bytes.subarray(from, to));
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const [answer] = await peer.answers(1);
    await peer.close();
    expect(msa(answer ?? '')).toEqual([['AA', 'Y90001-MLLP-SPLIT']]);
  });

  it('answers each message of a batch (FHS/BHS) in one answer, as POST /ingest/hl7v2 does', async () => {
    const [answer] = await exchange(await readFixture('hl7v2/batch-fhs-bhs.hl7'));
    expect(msa(answer ?? '')).toEqual([['AA', 'Y90001-TEST-0005'], ['AA', 'Y90001-TEST-0006']]);
  });

  it('answers junk between blocks with an AR and keeps the connection', async () => {
    const peer = await RawMllpPeer.connect(port);
    peer.write('GET / HTTP/1.1\r\n\r\n');
    peer.write(frame(withControlId(missedDose, 'Y90001-MLLP-AFTER-JUNK')));
    const answers = await peer.answers(2);
    await peer.close();
    expect(msa(answers[0] ?? '')).toEqual([['AR', '']]);
    expect(answers[0]).toMatch(/outside an MLLP block/);
    expect(msa(answers[1] ?? '')).toEqual([['AA', 'Y90001-MLLP-AFTER-JUNK']]);
  });

  it('refuses a message over MLLP_MAX_MESSAGE_BYTES with an AR naming its MSH-10, audits it, and reads on', async () => {
    const receipts = await countRows(t.database.db, 'message_receipt');
    const big = `${withControlId(missedDose, 'Y90001-MLLP-BIG').trimEnd()}\rNTE|1||${'x'.repeat(MAX_BYTES)}\r`;
    const answers = await exchange(big, withControlId(missedDose, 'Y90001-MLLP-AFTER-BIG'));
    expect(msa(answers[0] ?? '')).toEqual([['AR', 'Y90001-MLLP-BIG']]);
    expect(answers[0]).toMatch(new RegExp(`larger than ${MAX_BYTES} bytes`));
    expect(msa(answers[1] ?? '')).toEqual([['AA', 'Y90001-MLLP-AFTER-BIG']]);
    const [event] = await restEventsFor(t.database.db, requestIdOf(answers[0] ?? ''));
    expect(event?.outcome).toBe('4');
    // Only the message after it was received.
    expect(await countRows(t.database.db, 'message_receipt')).toBe(receipts + 1);
  });

  it('refuses a message whose MSH-4 is another organisation: AR, audited, nothing stored', async () => {
    const before = await countRows(t.database.db, 'resource_history');
    const forged = withControlId(missedDose, 'Y90002-MLLP-FORGED').replace('|EMISWEB|Y90001|', '|EMISWEB|Y90002|');
    const [answer] = await exchange(forged);
    expect(msa(answer ?? '')).toEqual([['AR', 'Y90002-MLLP-FORGED']]);
    expect(answer).toMatch(/sent by Y90002, but the client limehouse-gp acts for Y90001/);
    expect(await countRows(t.database.db, 'resource_history')).toBe(before);
    const [event] = await restEventsFor(t.database.db, requestIdOf(answer ?? ''));
    expect(event?.outcome).toBe('4');
    expect(event?.outcomeDesc).toMatch(/refused/);
  });

  it('refuses plain MLLP from an address on no allow-list: AR, connection closed, audited', async () => {
    const before = await countRows(t.database.db, 'resource_history');
    const peer = await RawMllpPeer.connect(port, { localAddress: '127.0.0.3' });
    peer.write(frame(withControlId(missedDose, 'Y90001-MLLP-STRANGER')));
    const [answer] = await peer.answers(1);
    await peer.closed;
    expect(msa(answer ?? '')).toEqual([['AR', 'Y90001-MLLP-STRANGER']]);
    expect(answer).toMatch(/127\.0\.0\.3 is not allowed/);
    expect(await countRows(t.database.db, 'resource_history')).toBe(before);
    const refused = await auditEventsDescribed(t.database.db, 'MLLP connection refused: plain MLLP from 127.0.0.3');
    expect(refused).toHaveLength(1);
    expect(refused[0]?.outcome).toBe('4');
  });
});

describe('MLLP listener limits', () => {
  let small: TestHub;
  let smallPort: number;
  beforeAll(async () => {
    small = await startTestHub({ mllp: { host: '127.0.0.1', port: 0, limits: { maxMessageBytes: MAX_BYTES, idleTimeoutMs: 500, maxConnections: 2 } } });
    smallPort = small.hub.mllp?.plain?.port ?? 0;
    await registerMllpSender(small.database.db, { clientId: 'limehouse-gp', kind: 'address', value: '127.0.0.1' });
  });
  afterAll(async () => {
    await small.close();
  });

  it('closes a connection idle for MLLP_IDLE_TIMEOUT_SECONDS', async () => {
    const peer = await RawMllpPeer.connect(smallPort);
    await peer.closed;
    expect(peer.acks).toEqual([]);
  });

  it('answers a connection over MLLP_MAX_CONNECTIONS with an AR and closes it', async () => {
    const open = [await RawMllpPeer.connect(smallPort), await RawMllpPeer.connect(smallPort)];
    // Keep the two admitted connections busy so that the idle timeout does not free a place.
    for (const peer of open) peer.write(frame(withControlId(missedDose, `Y90001-MLLP-CAP-${open.indexOf(peer)}`)));
    await Promise.all(open.map((p) => p.answers(1)));
    const extra = await RawMllpPeer.connect(smallPort);
    extra.write(frame(withControlId(missedDose, 'Y90001-MLLP-CAP-EXTRA')));
    const [answer] = await extra.answers(1);
    await extra.closed;
    expect(msa(answer ?? '')).toEqual([['AR', 'Y90001-MLLP-CAP-EXTRA']]);
    expect(answer).toMatch(/at most 2 MLLP connections/);
    await Promise.all(open.map((p) => p.close()));
  });
});
