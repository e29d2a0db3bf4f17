import type { AuditEvent } from 'fhir/r4.js';
import { randomUUID } from 'node:crypto';
import type { AuditContext, AuditRequester, DecisionAuditDetails, LoginAuditDetails, RestAuditDetails } from '../audit/audit-event.js';
import { decisionAuditEvent, loginAuditEvent, restAuditEvent } from '../audit/audit-event.js';
import type { Principal } from '../auth/principal.js';
import { appendAuditEvents, appendEventsStatement, type AppendableEvent } from '../db/audit-queries.js';
import { inTransaction, runStatement, type Db, type Tx } from '../db/database.js';
import type { FinalStatement } from '../db/pipelined-transaction.js';
import { SharedTransactions, type BatchLimits } from './shared-transactions.js';

/** What every request carries into the services for its audit trail. */
export interface RequestMeta {
  requestId: string;
  clientAddress?: string | undefined;
  /** The reason stated for a safeguarding override (X-Override-Reason). */
  overrideReason?: string | undefined;
}

export interface AuditRecorderDeps {
  hubBaseUrl: string;
  clock: () => Date;
  /** Called after each commit that wrote audit rows, so the log is extended soon. */
  onAppended?: () => void;
  /** How reads share transactions (shared-transactions.ts); the default when undefined. */
  batches?: BatchLimits;
  /** How writes share transactions (sharedWrite); the default when undefined. */
  writeBatches?: BatchLimits;
}

export function requesterOf(p: Principal): AuditRequester {
  return {
    clientId: p.clientId,
    organisationCode: p.organisationCode,
    organisationSystem: p.organisationSystem,
    organisationType: p.organisationType,
    purposeOfUse: p.purposeOfUse,
  };
}

/**
 * Builds AuditEvents and writes them inside the caller's transaction. In a
 * transaction opened by `transaction`, the events are held until its work is
 * done and then written in one statement, still before the commit: they
 * commit with the work or not at all, and a failed write fails the request.
 * Anywhere else (a transaction opened elsewhere) each is written at once.
 */
export class AuditRecorder {
  /** Events waiting for the end of the work of a transaction this recorder opened. */
  private readonly pending = new WeakMap<object, AppendableEvent[]>();
  /** Statements to run after those events are written, just before the COMMIT. */
  private readonly closing = new WeakMap<object, FinalStatement[]>();
  /** The batches of read-only work on each database (shared), and of writes (sharedWrite). */
  private readonly batches = new WeakMap<Db, SharedTransactions>();
  private readonly writeBatches = new WeakMap<Db, SharedTransactions>();

  constructor(private readonly deps: AuditRecorderDeps) {}

  private async append(tx: Db | Tx, event: AuditEvent): Promise<void> {
    const held = this.pending.get(tx);
    if (held === undefined) await appendAuditEvents(tx, [withIdentity(event)]);
    else held.push(withIdentity(event));
  }

  private context(meta: RequestMeta, requester: AuditRequester): AuditContext {
    return {
      id: randomUUID(),
      recorded: this.deps.clock(),
      requestId: meta.requestId,
      hubBaseUrl: this.deps.hubBaseUrl,
      clientAddress: meta.clientAddress,
      requester,
    };
  }

  async rest(tx: Db | Tx, meta: RequestMeta, requester: AuditRequester, details: RestAuditDetails): Promise<AuditEvent> {
    const event = restAuditEvent(this.context(meta, requester), details);
    await this.append(tx, event);
    return event;
  }

  async decision(tx: Db | Tx, meta: RequestMeta, requester: AuditRequester, details: DecisionAuditDetails): Promise<AuditEvent> {
    const event = decisionAuditEvent(this.context(meta, requester), details);
    await this.append(tx, event);
    return event;
  }

  async login(tx: Db | Tx, meta: RequestMeta, requester: AuditRequester, details: LoginAuditDetails): Promise<AuditEvent> {
    const event = loginAuditEvent(this.context(meta, requester), details);
    await this.append(tx, event);
    return event;
  }

  /**
   * Runs a statement at the very end of a transaction this recorder opened:
   * after its events are written, sent with its COMMIT (elsewhere, at once).
   * For a statement that locks a row other requests also lock (a client's
   * denial count): the lock is then held for the commit alone, not for the
   * rest of the request.
   */
  async atClose(tx: Db | Tx, statement: FinalStatement): Promise<void> {
    const closing = this.closing.get(tx);
    if (closing === undefined) await runStatement(tx, statement.statement, statement.values);
    else closing.push(statement);
  }

  /**
   * The transaction every audited piece of work runs in: data and audit rows
   * commit together, then the sequencer is nudged to give them log places.
   */
  async transaction<T>(db: Db, work: (tx: Tx) => Promise<T>): Promise<T> {
    const held: AppendableEvent[] = [];
    const closing: FinalStatement[] = [];
    const result = await inTransaction(
      db,
      async (tx) => {
        this.pending.set(tx, held);
        this.closing.set(tx, closing);
        try {
          return await work(tx);
        } finally {
          this.pending.delete(tx);
          this.closing.delete(tx);
        }
      },
      // The events in one statement, then what was held for the close, sent with the COMMIT.
      () => [appendEventsStatement(held), ...inLockOrder(closing)],
    );
    this.deps.onAppended?.();
    return result;
  }

  /**
   * Read-only work, audited as by `transaction`, in a transaction it may share
   * with other requests' read-only work that came while it waited
   * (shared-transactions.ts). The work must write nothing but its AuditEvents
   * and what it holds for the close: another request's failure runs it again.
   */
  async shared<T>(db: Db, work: (tx: Tx) => Promise<T>): Promise<T> {
    return this.batchesOn(db).run(work);
  }

  /**
   * Work that writes, audited as by `transaction`, in a transaction it may
   * share with other such work that came while it waited (never with reads).
   * `key` names the identity the work locks first (lockIdentity's key), or
   * none if it locks none: no two works of one identity share a transaction.
   * The work must write only about that identity, or about what it creates
   * under a new id, so that what shares its transaction cannot change what it
   * reads; another request's failure runs it again, alone.
   */
  async sharedWrite<T>(db: Db, key: string | undefined, work: (tx: Tx) => Promise<T>): Promise<T> {
    return this.batchesOn(db, this.writeBatches, this.deps.writeBatches).run(work, key);
  }

  /** Read-only work on this database waiting for a slot. */
  queuedShared(db: Db): number {
    return this.batchesOn(db).queued;
  }

  /** Writes on this database waiting for a slot (sharedWrite). */
  queuedWrites(db: Db): number {
    return this.batchesOn(db, this.writeBatches, this.deps.writeBatches).queued;
  }

  private batchesOn(db: Db, kept = this.batches, limits = this.deps.batches): SharedTransactions {
    let batches = kept.get(db);
    if (batches === undefined) {
      batches = new SharedTransactions((alone) => this.transaction(db, alone), limits);
      kept.set(db, batches);
    }
    return batches;
  }
}

/**
 * The statements held for the close, those that lock a row in the order of
 * the row's key (stable, so one row's statements keep their order). Requests
 * sharing a transaction then take their clients' denial-window locks in one
 * order, and two shared transactions never wait on each other.
 */
function inLockOrder(closing: readonly FinalStatement[]): FinalStatement[] {
  const key = (s: FinalStatement): string => s.lock ?? '';
  return [...closing].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

function withIdentity(event: AuditEvent): AppendableEvent {
  if (event.id === undefined) throw new Error('audit event without id');
  return { ...event, id: event.id, recorded: event.recorded };
}
