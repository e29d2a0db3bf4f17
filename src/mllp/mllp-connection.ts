import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { AdapterIssue } from '../adapters/ingest-unit.js';
import { allows } from '../auth/scopes.js';
import type { Db } from '../db/database.js';
import { requesterOf, type AuditRecorder, type RequestMeta } from '../services/audit-recorder.js';
import { hl7Reject, hl7Timestamp, ingestHl7, type Hl7AnswerOptions } from '../services/hl7-ingest.js';
import type { IngestService } from '../services/ingest-service.js';
import { frame, MllpFrameDecoder, type JunkReason, type MllpEvent } from './frame-decoder.js';
import { identifySender, normaliseAddress, type MllpIdentity } from './mllp-auth.js';

// One MLLP connection: blocks in, one ACK block out per block, in the order
// they came, on the same socket. Messages take the same path as
// POST /ingest/hl7v2 (services/hl7-ingest.ts), as the client the connection
// authenticated as. Nothing a peer sends can throw out of here.

export interface MllpConnectionDeps {
  db: Db;
  audit: AuditRecorder;
  ingest: IngestService;
  clock: () => Date;
  logger: Logger;
}

export interface MllpLimits {
  /** The largest block (message or batch) read; a larger one is answered AR and discarded unread. */
  maxMessageBytes: number;
  /** A connection with nothing to read or answer for this long is closed. */
  idleTimeoutMs: number;
  /** Connections open at once (both listeners); one more is answered AR and closed. */
  maxConnections: number;
}

/** Blocks read ahead of their answers before the connection stops reading (pipelining, bounded). */
const MAX_PENDING = 32;

const JUNK: Record<JunkReason, string> = {
  'outside-frame': 'bytes outside an MLLP block were discarded (a block is VT 0x0B, the message, FS 0x1C, CR 0x0D)',
  'unterminated-frame': 'an MLLP block was cut off by the start (VT 0x0B) of another before its end (FS 0x1C CR 0x0D): it was discarded',
  'bad-end-block': 'an MLLP block ended with FS 0x1C not followed by CR 0x0D: it was discarded',
};

export class MllpConnection {
  readonly id = randomUUID();
  private readonly decoder: MllpFrameDecoder;
  private readonly address: string | undefined;
  private identity: MllpIdentity | undefined;
  private chain: Promise<void>;
  private pending = 0;
  private count = 0;
  private closing = false;

  constructor(
    private readonly deps: MllpConnectionDeps,
    private readonly socket: Socket,
    private readonly limits: MllpLimits,
    /** Why this connection is refused before it is identified (over the connection cap), if it is. */
    private readonly refusal: string | undefined,
  ) {
    this.decoder = new MllpFrameDecoder(limits.maxMessageBytes);
    this.address = normaliseAddress(socket.remoteAddress);
    this.chain = this.authenticate();
    socket.setTimeout(limits.idleTimeoutMs);
    socket.on('timeout', () => {
      if (this.pending > 0) return; // still answering: not idle
      deps.logger.info({ connection: this.id, idleMs: limits.idleTimeoutMs }, 'MLLP connection idle: closed');
      this.end();
    });
    socket.on('error', (err) => {
      deps.logger.debug({ connection: this.id, err }, 'MLLP socket error');
    });
    socket.on('data', (chunk: Buffer) => {
      if (this.closing) return;
      for (const event of this.decoder.push(chunk)) this.enqueue(event);
    });
  }

  /** Stops reading, answers what was read, then closes. */
  async close(): Promise<void> {
    this.closing = true;
    this.socket.pause();
    await this.chain;
    this.end();
  }

  private async authenticate(): Promise<void> {
    const meta = this.meta(`${this.id}-connect`);
    try {
      this.identity = this.refusal !== undefined ? { ok: false, reason: this.refusal } : await identifySender(this.deps.db, this.socket, this.id);
    } catch (err) {
      this.deps.logger.error({ err, connection: this.id }, 'MLLP: could not identify the sender');
      this.identity = { ok: false, reason: 'the hub could not check who is sending; try again later' };
    }
    const identity = this.identity;
    if (identity.ok) {
      this.deps.logger.info({ connection: this.id, client: identity.principal.clientId, via: identity.via, address: this.address }, 'MLLP connection');
      return;
    }
    this.deps.logger.warn({ connection: this.id, address: this.address, reason: identity.reason }, 'MLLP connection refused');
    // Audited as a failed login is (a refused token request): who tried, from where, and why not.
    await this.deps.audit
      .transaction(this.deps.db, (tx) => this.deps.audit.login(tx, meta, {}, { outcome: 'minor-failure', outcomeDesc: `MLLP connection refused: ${identity.reason}` }))
      .catch((err: unknown) => {
        this.deps.logger.error({ err, connection: this.id }, 'MLLP: could not audit a refused connection');
      });
  }

  private enqueue(event: MllpEvent): void {
    this.pending += 1;
    if (this.pending >= MAX_PENDING) this.socket.pause();
    this.chain = this.chain
      .then(() => this.answer(event))
      .catch((err: unknown) => {
        this.deps.logger.error({ err, connection: this.id }, 'MLLP: answering a block failed');
      })
      .finally(() => {
        this.pending -= 1;
        if (this.pending < MAX_PENDING && !this.closing) this.socket.resume();
      });
  }

  private async answer(event: MllpEvent): Promise<void> {
    if (this.socket.destroyed) return;
    this.count += 1;
    const requestId = `mllp-${this.id}-${this.count}`;
    const options: Hl7AnswerOptions = { now: hl7Timestamp(this.deps.clock()), ackControlIdPrefix: `${requestId}-`, senderRefused: 'AR' };
    const identity = this.identity;
    switch (event.kind) {
      case 'junk':
        this.reply(hl7Reject('', { code: 'structure', location: 'MLLP', diagnostics: JUNK[event.reason] }, options));
        return;
      case 'oversized': {
        const diagnostics = `the message is larger than ${event.limit} bytes (MLLP_MAX_MESSAGE_BYTES): it was discarded unread`;
        if (identity?.ok === true) await this.refuseAudited(requestId, identity, diagnostics);
        this.reply(hl7Reject(event.head.toString('utf8'), { code: 'invalid', location: 'MLLP', diagnostics }, options));
        return;
      }
      case 'message': {
        const text = event.payload.toString('utf8');
        if (identity?.ok !== true) {
          const reason = identity?.reason ?? 'the connection is not identified';
          this.reply(hl7Reject(text, { code: 'forbidden', location: 'MSH-4', diagnostics: reason }, options));
          this.end(); // one answer, then the connection goes: it may send nothing
          return;
        }
        await this.ingest(text, requestId, identity, options);
        return;
      }
      default: {
        const unknown: never = event;
        throw new Error(`unknown MLLP event ${JSON.stringify(unknown)}`);
      }
    }
  }

  private async ingest(text: string, requestId: string, identity: Extract<MllpIdentity, { ok: true }>, options: Hl7AnswerOptions): Promise<void> {
    const { principal } = identity;
    // The scope POST /ingest/hl7v2 requires of a token (guard: create on Immunization).
    if (!allows(principal.scopes, 'Immunization', 'c')) {
      const diagnostics = `the client ${principal.clientId} has no scope allowing c on Immunization (e.g. system/Immunization.c)`;
      await this.refuseAudited(requestId, identity, diagnostics);
      this.reply(hl7Reject(text, { code: 'forbidden', location: 'MSH-4', diagnostics }, options));
      return;
    }
    try {
      const { ack } = await ingestHl7(this.deps.ingest, principal, text, this.meta(requestId), options);
      this.reply(ack);
    } catch (err) {
      // Nothing was stored (each message commits alone, with its audit): AE asks the sender to send it again.
      this.deps.logger.error({ err, connection: this.id, requestId }, 'MLLP: ingest failed');
      const issue: AdapterIssue = { code: 'invalid', location: 'MLLP', diagnostics: 'the hub could not store the message now; send it again' };
      this.reply(hl7Reject(text, issue, options, 'AE'));
    }
  }

  private async refuseAudited(requestId: string, identity: Extract<MllpIdentity, { ok: true }>, diagnostics: string): Promise<void> {
    await this.deps.audit.transaction(this.deps.db, (tx) =>
      this.deps.audit.rest(tx, this.meta(requestId), requesterOf(identity.principal), { interaction: 'operation', outcome: 'minor-failure', outcomeDesc: diagnostics }),
    );
  }

  private reply(ack: string): void {
    if (!this.socket.destroyed && this.socket.writable) this.socket.write(frame(ack));
  }

  private end(): void {
    if (this.socket.destroyed) return;
    this.socket.end();
    // A peer that never reads what is left would hold the socket: it goes after a second.
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }

  private meta(requestId: string): RequestMeta {
    return { requestId, clientAddress: this.address };
  }
}
