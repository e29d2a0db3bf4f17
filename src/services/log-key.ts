import { exportJWK, generateKeyPair } from 'jose';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { logKeyFromJwk, type LogKey } from '../audit/signed-note.js';

// The log key signs checkpoints and receipts. It lives in a file beside the
// data (mode 0600), never in the database: whoever holds the database
// password can rewrite rows, but cannot sign for them.

/** The log's name when none is configured: the hub's host and "/audit-log" (a key name: no spaces, no "+"). */
export function defaultLogOrigin(publicBaseUrl: string): string {
  const url = new URL(publicBaseUrl);
  return `${url.host}${url.pathname.replace(/\/+$/, '')}/audit-log`;
}

/** Reads the Ed25519 log key from `file`, creating one there first if there is none. */
export async function loadOrCreateLogKey(file: string, origin: string): Promise<LogKey> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
    const jwk = await exportJWK(privateKey);
    await mkdir(path.dirname(file), { recursive: true });
    try {
      await writeFile(file, `${JSON.stringify(jwk)}\n`, { mode: 0o600, flag: 'wx' });
    } catch (raced) {
      // Another process made it first: use theirs.
      if ((raced as NodeJS.ErrnoException).code !== 'EEXIST') throw raced;
    }
    text = await readFile(file, 'utf8');
  }
  return logKeyFromJwk(origin, JSON.parse(text) as Record<string, unknown>);
}

/** Reads the log key, which must exist (the CLI uses the hub's; it never makes a second one). */
export async function readLogKey(file: string, origin: string): Promise<LogKey | undefined> {
  try {
    return logKeyFromJwk(origin, JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
