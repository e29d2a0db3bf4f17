import { exportJWK, generateKeyPair } from 'jose';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { isKeyName, logKeyFromJwk, type LogKey } from '../audit/signed-note.js';

// The log key signs checkpoints and receipts. It lives in a file beside the
// data (mode 0600), never in the database: whoever holds the database
// password can rewrite rows, but cannot sign for them.
//
// The log's origin (its name in every checkpoint, C2SP tlog-checkpoint) is
// chosen once, when the key is made, and kept in the same file: a log's
// identity must not move with the port or the public URL, or every checkpoint
// signed before the move stops verifying.
// See: https://c2sp.org/tlog-checkpoint#note-text

/** The log's name when none is configured: the hub's host and "/audit-log" (a key name: no spaces, no "+"). */
export function defaultLogOrigin(publicBaseUrl: string): string {
  const url = new URL(publicBaseUrl);
  return `${url.host}${url.pathname.replace(/\/+$/, '')}/audit-log`;
}

/** The key file: the private Ed25519 JWK, plus the log's origin (absent in files written before it was kept). */
const keyFile = z.looseObject({
  kty: z.unknown(),
  crv: z.unknown(),
  x: z.unknown(),
  d: z.unknown(),
  origin: z.string().refine(isKeyName, 'a key name: no spaces or "+"').optional(),
});

/** Where the log key is and what to call a log whose key is made now. */
export interface LogKeySettings {
  auditLogKeyFile: string;
  auditLogOrigin?: string | undefined;
  publicBaseUrl: string;
}

/** The origin a new log takes: AUDIT_LOG_ORIGIN, or one derived from the base URL at that moment. */
function newLogOrigin(settings: LogKeySettings): string {
  return settings.auditLogOrigin ?? defaultLogOrigin(settings.publicBaseUrl);
}

/**
 * Reads the Ed25519 log key and its origin, creating both first if there is no
 * key file. A key file from before origins were kept gets the origin the hub
 * used until now written into it, once.
 */
export async function loadOrCreateLogKey(settings: LogKeySettings): Promise<LogKey> {
  const file = settings.auditLogKeyFile;
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
    const jwk = { ...(await exportJWK(privateKey)), origin: newLogOrigin(settings) };
    await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
    try {
      await writeFile(file, `${JSON.stringify(jwk)}\n`, { mode: 0o600, flag: 'wx' });
    } catch (raced) {
      // Another process made it first: use theirs.
      if ((raced as NodeJS.ErrnoException).code !== 'EEXIST') throw raced;
    }
    text = await readFile(file, 'utf8');
  }
  const stored = keyFile.parse(JSON.parse(text));
  if (stored.origin === undefined) {
    const fixed = { ...stored, origin: newLogOrigin(settings) };
    const temporary = `${file}.${process.pid}.tmp`;
    await writeFile(temporary, `${JSON.stringify(fixed)}\n`, { mode: 0o600 });
    await rename(temporary, file);
    return logKeyFromJwk(fixed.origin, fixed);
  }
  return logKeyFromJwk(stored.origin, stored);
}

/**
 * Reads the log key, which must exist (the CLI uses the hub's; it never makes
 * a second one). Its origin is the one kept with it; only a key file from
 * before origins were kept falls back to the configured one.
 */
export async function readLogKey(settings: LogKeySettings): Promise<LogKey | undefined> {
  let text: string;
  try {
    text = await readFile(settings.auditLogKeyFile, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const stored = keyFile.parse(JSON.parse(text));
  return logKeyFromJwk(stored.origin ?? newLogOrigin(settings), stored);
}
