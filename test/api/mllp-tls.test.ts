import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerMllpSender } from '../../src/db/mllp-sender-queries.js';
import { frame } from '../../src/mllp/frame-decoder.js';
import { certificateFingerprint } from '../../src/mllp/mllp-auth.js';
import { countRows, restEventsFor } from '../support/audit.js';
import { readFixture } from '../support/golden.js';
import { auditEventsDescribed, issueCertificate, msa, RawMllpPeer, sendWithStockClient, requestIdOf, testCertificateAuthority, type IssuedCertificate, type TestPki } from '../support/mllp.js';
import { startTestHub, type TestHub } from '../support/test-hub.js';

// HL7 v2 over MLLP with mutual TLS: the client certificate is the sender's
// credential, registered to a client by its SHA-256 fingerprint.

let t: TestHub;
let port: number;
let ca: TestPki;
let limehouse: IssuedCertificate;
let unregistered: IssuedCertificate;
let missedDose: string;

beforeAll(async () => {
  ca = testCertificateAuthority('Test MLLP CA');
  const server = issueCertificate(ca, 'hub.test', 'server');
  limehouse = issueCertificate(ca, 'limehouse-gp interface engine', 'client');
  unregistered = issueCertificate(ca, 'a certificate no client holds', 'client');
  t = await startTestHub({
    mllp: {
      host: '127.0.0.1',
      tls: { port: 0, cert: server.certPem, key: server.keyPem, ca: ca.pem },
      limits: { maxMessageBytes: 64 * 1024, idleTimeoutMs: 30_000, maxConnections: 10 },
    },
  });
  port = t.hub.mllp?.tls?.port ?? 0;
  await registerMllpSender(t.database.db, { clientId: 'limehouse-gp', kind: 'certificate', value: certificateFingerprint(limehouse.der) });
  // Registering an address for plain MLLP gives nothing on the TLS port.
  await registerMllpSender(t.database.db, { clientId: 'bowcommon-gp', kind: 'address', value: '127.0.0.1' });
  missedDose = await readFixture('hl7v2/missed-dose-na.hl7');
});
afterAll(async () => {
  await t.close();
});

const tlsAs = (cert: IssuedCertificate | undefined, trust = ca.pem) => ({
  ca: trust,
  ...(cert === undefined ? {} : { cert: cert.certPem, key: cert.keyPem }),
});

/** Connects and sends one block; resolves with the answers, or the error the handshake ended in. */
async function attempt(cert: IssuedCertificate | undefined, text: string): Promise<{ answers: string[] } | { error: string }> {
  try {
    const peer = await RawMllpPeer.connect(port, { tls: tlsAs(cert) });
    peer.write(frame(text));
    const answers = [...(await peer.answers(1))];
    peer.socket.destroy();
    // TLS 1.3: the server's verdict on the client certificate arrives after the client's handshake ends.
    return answers.length > 0 ? { answers } : { error: 'closed without an answer' };
  } catch (err) {
    return { error: String(err) };
  }
}

describe('MLLP listener (mutual TLS)', () => {
  it('takes a message from a stock HL7 client presenting a registered certificate', async () => {
    const answers = [await sendWithStockClient(port, missedDose, { ...tlsAs(limehouse), rejectUnauthorized: true })];
    expect(msa(answers[0] ?? '')).toEqual([['AA', 'Y90001-TEST-0001']]);
    const events = await restEventsFor(t.database.db, requestIdOf(answers[0] ?? ''));
    expect(events.some((e) => e.outcome === '0' && e.agent?.some((a) => a.who?.identifier?.value === 'limehouse-gp'))).toBe(true);
  });

  it('refuses TLS without a client certificate: no answer, nothing stored', async () => {
    const before = await countRows(t.database.db, 'message_receipt');
    const result = await attempt(undefined, missedDose.replace('Y90001-TEST-0001', 'Y90001-TLS-NOCERT'));
    expect(result).toHaveProperty('error');
    expect(await countRows(t.database.db, 'message_receipt')).toBe(before);
  });

  it('refuses a certificate from an authority the hub does not trust', async () => {
    const stranger = testCertificateAuthority('Another CA');
    const forged = issueCertificate(stranger, 'limehouse-gp interface engine', 'client');
    const before = await countRows(t.database.db, 'message_receipt');
    const result = await attempt(forged, missedDose.replace('Y90001-TEST-0001', 'Y90001-TLS-STRANGER'));
    expect(result).toHaveProperty('error');
    expect(await countRows(t.database.db, 'message_receipt')).toBe(before);
  });

  it('refuses a trusted certificate registered to no client: AR, closed, audited', async () => {
    const before = await countRows(t.database.db, 'message_receipt');
    const result = await attempt(unregistered, missedDose.replace('Y90001-TEST-0001', 'Y90001-TLS-UNKNOWN'));
    expect(result).toHaveProperty('answers');
    const [answer] = 'answers' in result ? result.answers : [];
    expect(msa(answer ?? '')).toEqual([['AR', 'Y90001-TLS-UNKNOWN']]);
    expect(answer).toMatch(/is not registered to any client/);
    expect(await countRows(t.database.db, 'message_receipt')).toBe(before);
    expect(await auditEventsDescribed(t.database.db, 'MLLP connection refused: the client certificate (SHA-256')).toHaveLength(1);
  });

  it('holds the certificate\'s client to its own organisation: MSH-4 of another is AR', async () => {
    const forged = missedDose.replace('Y90001-TEST-0001', 'Y90002-TLS-FORGED').replace('|EMISWEB|Y90001|', '|EMISWEB|Y90002|');
    const result = await attempt(limehouse, forged);
    const [answer] = 'answers' in result ? result.answers : [];
    expect(msa(answer ?? '')).toEqual([['AR', 'Y90002-TLS-FORGED']]);
  });
});
