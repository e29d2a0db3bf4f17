import type { AuditEvent } from 'fhir/r4.js';
import { randomUUID } from 'node:crypto';
import type { AuditContext, AuditRequester, DecisionAuditDetails, LoginAuditDetails, RestAuditDetails } from '../audit/audit-event.js';
import { decisionAuditEvent, loginAuditEvent, restAuditEvent } from '../audit/audit-event.js';
import type { Principal } from '../auth/principal.js';
import { appendAuditEvent } from '../db/audit-queries.js';
import { inTransaction, type Db, type Tx } from '../db/database.js';

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

/** Builds AuditEvents and writes them inside the caller's transaction. */
export class AuditRecorder {
  constructor(private readonly deps: AuditRecorderDeps) {}

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
    await appendAuditEvent(tx, withIdentity(event));
    return event;
  }

  async decision(tx: Db | Tx, meta: RequestMeta, requester: AuditRequester, details: DecisionAuditDetails): Promise<AuditEvent> {
    const event = decisionAuditEvent(this.context(meta, requester), details);
    await appendAuditEvent(tx, withIdentity(event));
    return event;
  }

  async login(tx: Db | Tx, meta: RequestMeta, requester: AuditRequester, details: LoginAuditDetails): Promise<AuditEvent> {
    const event = loginAuditEvent(this.context(meta, requester), details);
    await appendAuditEvent(tx, withIdentity(event));
    return event;
  }

  /**
   * The transaction every audited piece of work runs in: data and audit rows
   * commit together, then the sequencer is nudged to give them log places.
   */
  async transaction<T>(db: Db, work: (tx: Tx) => Promise<T>): Promise<T> {
    const result = await inTransaction(db, work);
    this.deps.onAppended?.();
    return result;
  }
}

function withIdentity(event: AuditEvent): AuditEvent & { id: string; recorded: string } {
  if (event.id === undefined) throw new Error('audit event without id');
  return { ...event, id: event.id, recorded: event.recorded };
}
