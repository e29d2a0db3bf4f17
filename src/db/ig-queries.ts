import { and, eq, gt, isNull, sql } from 'drizzle-orm';
import { createHash, randomBytes } from 'node:crypto';
import type { Db, Tx } from './database.js';
import { igLoginLinks, igSessions, organisations } from './schema/index.js';

// Sign-in for the /ig page: a one-time link (`hub ig-link`) becomes a session
// cookie. Only SHA-256 hashes of the secrets are stored, so a copy of the
// database signs nobody in.

/** A one-time link lives this long unused. */
export const LOGIN_LINK_MS = 15 * 60_000;
/** A session lives this long (a working day), then the IG lead asks for a new link. */
export const SESSION_MS = 8 * 3_600_000;

export function secretHash(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

function newSecret(): string {
  return randomBytes(32).toString('base64url');
}

/** Makes a one-time sign-in token for `userLabel`; returns the token (shown once). */
export async function createLoginLink(db: Db | Tx, userLabel: string, now: Date): Promise<{ token: string; expires: Date }> {
  const token = newSecret();
  const expires = new Date(now.getTime() + LOGIN_LINK_MS);
  await db.insert(igLoginLinks).values({ tokenHash: secretHash(token), userLabel, created: now, expires });
  return { token, expires };
}

/**
 * Spends a one-time token: answers who it was for, or undefined when it is
 * unknown, spent or expired. A token is spent by its first use, whatever follows.
 */
export async function redeemLoginLink(tx: Db | Tx, token: string, now: Date): Promise<string | undefined> {
  const [row] = await tx
    .update(igLoginLinks)
    .set({ usedAt: now })
    .where(and(eq(igLoginLinks.tokenHash, secretHash(token)), isNull(igLoginLinks.usedAt), gt(igLoginLinks.expires, now)))
    .returning({ userLabel: igLoginLinks.userLabel });
  return row?.userLabel;
}

/** Opens a session; returns the cookie value (shown once). */
export async function createSession(tx: Db | Tx, userLabel: string, now: Date): Promise<{ id: string; expires: Date }> {
  const id = newSecret();
  const expires = new Date(now.getTime() + SESSION_MS);
  await tx.insert(igSessions).values({ idHash: secretHash(id), userLabel, created: now, expires });
  return { id, expires };
}

/** The signed-in user of a live session, or undefined. */
export async function findSession(db: Db | Tx, id: string, now: Date): Promise<{ userLabel: string; idHash: string } | undefined> {
  const idHash = secretHash(id);
  const [row] = await db
    .select({ userLabel: igSessions.userLabel })
    .from(igSessions)
    .where(and(eq(igSessions.idHash, idHash), gt(igSessions.expires, now)))
    .limit(1);
  return row === undefined ? undefined : { userLabel: row.userLabel, idHash };
}

/** Ends a session (sign out): it simply expires now. */
export async function endSession(db: Db | Tx, id: string, now: Date): Promise<void> {
  await db.update(igSessions).set({ expires: now }).where(eq(igSessions.idHash, secretHash(id)));
}

/** The organisation that operates the hub (type hub-operator), whose IG lead signs in to /ig. */
export async function findHubOperator(db: Db | Tx): Promise<{ code: string; system: string } | undefined> {
  const [row] = await db
    .select({ code: organisations.code, system: organisations.system })
    .from(organisations)
    .where(eq(organisations.type, 'hub-operator'))
    .orderBy(sql`${organisations.code}`)
    .limit(1);
  return row;
}
