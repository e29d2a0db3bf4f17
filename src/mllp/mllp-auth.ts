import { createHash } from 'node:crypto';
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import type { Principal } from '../auth/principal.js';
import { parseScopeList } from '../auth/scopes.js';
import type { Db } from '../db/database.js';
import { findMllpSender } from '../db/mllp-sender-queries.js';
import type { RegisteredClient } from '../db/registry-queries.js';

// Who is sending: MLLP carries no token, so the connection is the credential.
// Mutual TLS: the client certificate (already verified against MLLP_TLS_CA_FILE
// by the TLS handshake) must be registered to a client by its SHA-256
// fingerprint. Plain TCP: the peer address must be on a client's allow-list,
// the weaker option (an address says where bytes come from, not who wrote them).

export type MllpIdentity =
  | { ok: true; principal: Principal; via: 'certificate' | 'address'; credential: string }
  | { ok: false; reason: string };

/** The SHA-256 fingerprint of a DER certificate as the registry keeps it: lower-case hex, no colons. */
export function certificateFingerprint(der: Uint8Array): string {
  return createHash('sha256').update(der).digest('hex');
}

/** An IPv4 peer on a dual-stack socket reads "::ffff:127.0.0.1": the allow-list holds "127.0.0.1". */
export function normaliseAddress(address: string | undefined): string | undefined {
  if (address === undefined) return undefined;
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  return (mapped?.[1] ?? address).toLowerCase();
}

/** Finds the registered client a connection authenticates as. */
export async function identifySender(db: Db, socket: Socket, connectionId: string): Promise<MllpIdentity> {
  if (socket instanceof TLSSocket) {
    if (!socket.authorized) return { ok: false, reason: `the client certificate was not accepted: ${String(socket.authorizationError ?? 'none sent')}` };
    const certificate = socket.getPeerCertificate();
    if (certificate.raw === undefined || certificate.raw.length === 0) return { ok: false, reason: 'no client certificate was sent' };
    const fingerprint = certificateFingerprint(certificate.raw);
    const client = await findMllpSender(db, 'certificate', fingerprint);
    if (client === undefined) return { ok: false, reason: `the client certificate (SHA-256 ${fingerprint}) is not registered to any client` };
    return { ok: true, principal: principalFor(client, connectionId), via: 'certificate', credential: fingerprint };
  }
  const address = normaliseAddress(socket.remoteAddress);
  if (address === undefined) return { ok: false, reason: 'the peer address is unknown' };
  const client = await findMllpSender(db, 'address', address);
  if (client === undefined) return { ok: false, reason: `plain MLLP from ${address} is not allowed: the address is on no client's allow-list (use mutual TLS)` };
  return { ok: true, principal: principalFor(client, connectionId), via: 'address', credential: address };
}

/**
 * The principal a token would give the client: its organisation, every scope registered for it, and its first
 * registered purpose of use (a token names one; ingest is judged on the sender, not the purpose).
 */
export function principalFor(client: RegisteredClient, connectionId: string): Principal {
  const scopes = parseScopeList(client.scopes.join(' '));
  if (!scopes.ok) throw new Error(`client ${client.id} has malformed registered scopes`);
  return {
    clientId: client.id,
    organisationCode: client.organisation.code,
    organisationSystem: client.organisation.system,
    organisationType: client.organisation.type,
    purposeOfUse: client.purposes[0] ?? 'direct-care',
    scopes: scopes.scopes,
    tokenId: `mllp:${connectionId}`,
  };
}
