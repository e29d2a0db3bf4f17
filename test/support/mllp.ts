import type { AuditEvent } from 'fhir/r4.js';
import { sql } from 'drizzle-orm';
import net from 'node:net';
import tls from 'node:tls';
import forge from 'node-forge';
import Client, { Message } from 'node-hl7-client';
import { generateKeyPairSync } from 'node:crypto';
import { rawRows, type Db } from '../../src/db/database.js';
import { MllpFrameDecoder } from '../../src/mllp/frame-decoder.js';

// A raw MLLP peer for the listener's edge cases (the stock client is used for
// the ordinary path), and test certificates made with node-forge.

export class RawMllpPeer {
  readonly acks: string[] = [];
  readonly closed: Promise<void>;
  private readonly decoder = new MllpFrameDecoder(16 * 1024 * 1024);
  private waiters: (() => void)[] = [];

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      for (const event of this.decoder.push(chunk)) {
        this.acks.push(event.kind === 'message' ? event.payload.toString('utf8') : `(${event.kind})`);
      }
      this.wake();
    });
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) => socket.once('close', () => {
      this.wake();
      resolve();
    }));
  }

  /** Connects over plain TCP (optionally from another loopback address) or, with `tlsOptions`, TLS. */
  static async connect(port: number, options: { localAddress?: string; tls?: tls.ConnectionOptions } = {}): Promise<RawMllpPeer> {
    if (options.tls !== undefined) {
      const socket = tls.connect({ host: '127.0.0.1', port, ...options.tls });
      await new Promise<void>((resolve, reject) => {
        socket.once('secureConnect', resolve);
        socket.once('error', reject);
      });
      return new RawMllpPeer(socket);
    }
    const socket = net.connect({ host: '127.0.0.1', port, ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }) });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new RawMllpPeer(socket);
  }

  write(bytes: Buffer | string): void {
    this.socket.write(bytes);
  }

  /** Waits for the n-th answer (or the close, whichever first), then returns all answers so far. */
  async answers(n: number): Promise<string[]> {
    while (this.acks.length < n && !this.socket.destroyed && this.socket.readable) {
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
    return this.acks;
  }

  async close(): Promise<void> {
    this.socket.end();
    await this.closed;
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}

/** MSA-1 and MSA-2 of each ACK message in an answer. */
export function msa(answer: string): [string, string][] {
  return answer
    .split('\r')
    .filter((s) => s.startsWith('MSA|'))
    .map((s) => {
      const [, code = '', control = ''] = s.split('|');
      return [code, control];
    });
}

/** The request id the listener audited an answer under (an ACK's MSH-10 is the request id and the message's number). */
export function requestIdOf(answer: string): string {
  const control = answer.split('\r')[0]?.split('|')[9] ?? '';
  return control.replace(/-\d+$/, '');
}

export async function auditEventsDescribed(db: Db, prefix: string): Promise<AuditEvent[]> {
  const rows = await rawRows<{ event: AuditEvent | string }>(db, sql`select event from audit_event where event->>'outcomeDesc' like ${`${prefix}%`} order by seq`);
  return rows.map((r) => (typeof r.event === 'string' ? (JSON.parse(r.event) as AuditEvent) : r.event));
}

export interface TestPki {
  pem: string;
  key: forge.pki.rsa.PrivateKey;
  cert: forge.pki.Certificate;
}

export interface IssuedCertificate {
  certPem: string;
  keyPem: string;
  /** DER bytes of the certificate (what the hub fingerprints). */
  der: Buffer;
}

/** An RSA key from node's own generator (forge's pure-JS one is slow), as forge keys. */
function rsaKeys(): { privateKey: forge.pki.rsa.PrivateKey; publicKey: forge.pki.rsa.PublicKey; keyPem: string } {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keyPem = privateKey.export({ format: 'pem', type: 'pkcs1' }).toString();
  const forgeKey = forge.pki.privateKeyFromPem(keyPem);
  return { privateKey: forgeKey, publicKey: forge.pki.setRsaPublicKey(forgeKey.n, forgeKey.e), keyPem };
}

function certificate(subject: string, publicKey: forge.pki.rsa.PublicKey, serial: string): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  cert.serialNumber = serial;
  cert.validity.notBefore = new Date(Date.now() - 3_600_000);
  cert.validity.notAfter = new Date(Date.now() + 86_400_000);
  cert.setSubject([{ name: 'commonName', value: subject }]);
  return cert;
}

/** A certificate authority for one test file. */
export function testCertificateAuthority(name: string): TestPki {
  const keys = rsaKeys();
  const cert = certificate(name, keys.publicKey, '01');
  cert.setIssuer(cert.subject.attributes);
  cert.setExtensions([{ name: 'basicConstraints', cA: true }, { name: 'keyUsage', keyCertSign: true, cRLSign: true }]);
  cert.sign(keys.privateKey, forge.md.sha256.create());
  return { pem: forge.pki.certificateToPem(cert), key: keys.privateKey, cert };
}

let serial = 2;

/** A certificate the CA issues: for the hub (serverAuth, 127.0.0.1) or a client (clientAuth). */
export function issueCertificate(ca: TestPki, subject: string, use: 'server' | 'client'): IssuedCertificate {
  const keys = rsaKeys();
  serial += 1;
  const cert = certificate(subject, keys.publicKey, serial.toString(16).padStart(2, '0'));
  cert.setIssuer(ca.cert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
    { name: 'extKeyUsage', serverAuth: use === 'server', clientAuth: use === 'client' },
    ...(use === 'server' ? [{ name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }] }] : []),
  ]);
  cert.sign(ca.key, forge.md.sha256.create());
  const der = Buffer.from(forge.asn1.toDer(forge.pki.certificateToAsn1(cert)).getBytes(), 'binary');
  return { certPem: forge.pki.certificateToPem(cert), keyPem: keys.keyPem, der };
}

/** Sends one message with the stock HL7 client (node-hl7-client) and answers the ACK it was given. */
export async function sendWithStockClient(port: number, text: string, tlsOptions?: tls.ConnectionOptions): Promise<string> {
  const client = new Client({ host: '127.0.0.1', version: '2.5.1', ...(tlsOptions === undefined ? {} : { tls: tlsOptions }) });
  const answers: string[] = [];
  let received: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (received = resolve));
  const connection = client.createConnection({ port, waitAck: true } as Parameters<Client['createConnection']>[0], async (res) => {
    answers.push(res.getMessage().toString());
    received();
    await Promise.resolve();
  });
  await connection.sendMessage(new Message({ text }));
  await done;
  await connection.close();
  return answers[0] ?? '';
}
