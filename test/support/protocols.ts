import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { JWK } from 'jose';
import type { LoadedProtocol } from '../../src/protocol/protocol-schema.js';
import { parseProtocolText } from '../../src/protocol/protocol-text.js';
import { generatePartyKeyPair } from '../../src/protocol/signatures.js';
import { loadProtocols, publicKeyPath, signaturePath, signProtocolFile } from '../../src/services/protocol-store.js';

// The repository's protocol, signed by freshly made party keys in a tmp dir,
// as the partners would sign it. Options break it in the ways tests need.

export const repoProtocolFile = path.resolve(import.meta.dirname, '..', '..', 'policies', 'early-years-isp.yaml');

export interface SignedProtocolOptions {
  /** Corrupt this party's signature (one character of its signature part changed). */
  tamper?: { party: string };
  /** Parties that do not sign. */
  omit?: string[];
  /** Change the YAML text before signing (an unreadable result is written unsigned). */
  yamlEdit?: (text: string) => string;
}

export interface SignedProtocolDir {
  dir: string;
  /** The protocol file inside `dir`. */
  file: string;
  /** Each party's private key, to sign again in a test. */
  privateKeys: ReadonlyMap<string, JWK>;
  cleanup(): Promise<void>;
}

export async function signedProtocolDir(options: SignedProtocolOptions = {}): Promise<SignedProtocolDir> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'hub-protocols-'));
  const cleanup = (): Promise<void> => rm(dir, { recursive: true, force: true });
  try {
    const original = await readFile(repoProtocolFile, 'utf8');
    const text = options.yamlEdit === undefined ? original : options.yamlEdit(original);
    const file = path.join(dir, path.basename(repoProtocolFile));
    await writeFile(file, text);
    const edited = parseProtocolText(text, path.basename(file));
    const parsedOriginal = parseProtocolText(original, path.basename(file));
    if (!parsedOriginal.ok) throw new Error(`${repoProtocolFile} does not parse`);
    const parties = edited.ok ? edited.document.parties : parsedOriginal.document.parties;

    const privateKeys = new Map<string, JWK>();
    await mkdir(path.join(dir, 'keys'));
    for (const party of parties) {
      const pair = await generatePartyKeyPair();
      privateKeys.set(party, pair.privateJwk);
      await writeFile(publicKeyPath(path.join(dir, 'keys'), party), `${JSON.stringify(pair.publicJwk)}\n`);
    }
    if (edited.ok) {
      for (const [party, key] of privateKeys) {
        if (options.omit?.includes(party) === true) continue;
        await signProtocolFile(file, party, key);
      }
    }
    if (options.tamper !== undefined) {
      const target = signaturePath(file, options.tamper.party);
      await writeFile(target, flipSignatureCharacter(await readFile(target, 'utf8')));
    }
    return { dir, file, privateKeys, cleanup };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

/** The loaded form of a signed copy of the repository's protocol (the tmp dir is gone afterwards). */
export async function loadedTestProtocols(options: SignedProtocolOptions = {}): Promise<LoadedProtocol[]> {
  const signed = await signedProtocolDir(options);
  try {
    return await loadProtocols(signed.dir);
  } finally {
    await signed.cleanup();
  }
}

/** Changes one character in the middle of a compact JWS's signature part. */
export function flipSignatureCharacter(jws: string): string {
  const text = jws.trim();
  const start = text.lastIndexOf('.') + 1;
  const at = start + Math.floor((text.length - start) / 2);
  const replacement = text[at] === 'A' ? 'B' : 'A';
  return `${text.slice(0, at)}${replacement}${text.slice(at + 1)}\n`;
}
