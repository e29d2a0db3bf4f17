import { z } from 'zod';
import type { AuditRequester } from '../audit/audit-event.js';
import type { Db } from '../db/database.js';
import { createSession, endSession, findHubOperator, redeemLoginLink } from '../db/ig-queries.js';
import type { AuditRecorder, RequestMeta } from './audit-recorder.js';

// Sign-in to the IG lead's page (/ig): a one-time link (`hub ig-link`) is
// spent and becomes a session, in one transaction with its Login AuditEvent
// (DICOM 110114 / 110122). A refused link is audited too. Only hashes of the
// link and of the session id are stored (src/db/ig-queries.ts).

export interface IgSessionDeps {
  db: Db;
  audit: AuditRecorder;
  clock: () => Date;
}

/** The /ig page's client id in the audit log is `ig-web:<user>`, as src/http/ig-guard.ts admits it. */
const IG_WEB_CLIENT_PREFIX = 'ig-web';

/** A link's token as `hub ig-link` makes it: 32 random bytes, base64url. */
const linkToken = z.string().regex(/^[A-Za-z0-9_-]{20,100}$/);

export type SignIn =
  | { ok: true; user: string; sessionId: string; expires: Date }
  | { ok: false; reason: string };

/** Spends a one-time link and opens a session; the refusal says why without saying which case it was. */
export async function signIn(deps: IgSessionDeps, meta: RequestMeta, offered: unknown): Promise<SignIn> {
  return deps.audit.transaction(deps.db, async (tx): Promise<SignIn> => {
    const now = deps.clock();
    const operator = await findHubOperator(tx);
    const requester = (user?: string): AuditRequester => ({
      clientId: user === undefined ? IG_WEB_CLIENT_PREFIX : `${IG_WEB_CLIENT_PREFIX}:${user}`,
      ...(operator === undefined
        ? {}
        : { organisationCode: operator.code, organisationSystem: operator.system, organisationType: 'hub-operator' }),
      purposeOfUse: 'audit',
    });
    const refuse = async (reason: string): Promise<SignIn> => {
      await deps.audit.login(tx, meta, requester(), { outcome: 'minor-failure', outcomeDesc: `/ig sign-in refused: ${reason}` });
      return { ok: false, reason };
    };
    // Without an operator the session would admit nobody (ig-guard): keep the link unspent.
    if (operator === undefined) return refuse('no hub-operator organisation is registered');
    const token = linkToken.safeParse(offered);
    if (!token.success) return refuse('the sign-in link has no well-formed token');
    const user = await redeemLoginLink(tx, token.data, now);
    if (user === undefined) return refuse('the sign-in link is unknown, already used or expired');
    const session = await createSession(tx, user, now);
    await deps.audit.login(tx, meta, requester(user), { outcome: 'success', outcomeDesc: `/ig session opened for ${user} with a one-time link` });
    return { ok: true, user, sessionId: session.id, expires: session.expires };
  });
}

/** Ends the session the cookie names, if it is one (signing out twice is harmless). */
export async function signOut(deps: IgSessionDeps, sessionId: string | undefined): Promise<void> {
  if (sessionId === undefined) return;
  await endSession(deps.db, sessionId, deps.clock());
}
