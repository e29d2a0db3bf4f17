import { chmod, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { JWK } from 'jose';
import { z } from 'zod';
import { compileFlows, type LoadedProtocol, type SignatureCheck } from '../protocol/protocol-schema.js';
import { parseProtocolText, type ProtocolIssue } from '../protocol/protocol-text.js';
import { generatePartyKeyPair, publicJwkOf, signProtocol, verifyProtocolSignature } from '../protocol/signatures.js';

// Protocols on disk (policies/README.md):
//   <dir>/<name>.yaml                    the protocol
//   <dir>/<name>.signatures/<PARTY>.jws  one detached JWS per party
//   <dir>/keys/<PARTY>.public.jwk.json   each party's registered public key
// Party codes are safe file names: the schema's `code` starts with a letter or
// digit and holds only letters, digits, dots and hyphens.

/** A protocol file the hub cannot read; `issues` carry dotted paths into the document. */
export class ProtocolFileError extends Error {
  override readonly name = 'ProtocolFileError';
  constructor(
    readonly file: string,
    readonly issues: readonly ProtocolIssue[],
  ) {
    super(`${file}: ${issues.map((i) => `${i.path === '' ? '(document)' : i.path}: ${i.message}`).join('; ')}`);
  }
}

const jwkSchema = z.looseObject({ kty: z.string().min(1) }).transform((jwk) => jwk as JWK);

export function signaturePath(file: string, party: string): string {
  return path.join(path.dirname(file), `${path.basename(file, '.yaml')}.signatures`, `${party}.jws`);
}

export function publicKeyPath(keysDir: string, party: string): string {
  return path.join(keysDir, `${party}.public.jwk.json`);
}

/** Reads a JWK file; undefined when the file does not exist. A file that is not a JWK throws. */
export async function readJwkFile(file: string): Promise<JWK | undefined> {
  const text = await readOptional(file);
  if (text === undefined) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(`${file} is not JSON`);
  }
  const parsed = jwkSchema.safeParse(json);
  if (!parsed.success) throw new Error(`${file} is not a JWK`);
  return parsed.data;
}

/** Every `*.yaml` protocol in `dir`, sorted by file name. A missing directory holds none. */
export async function loadProtocols(dir: string): Promise<LoadedProtocol[]> {
  const files = await yamlFiles(dir);
  const loaded: LoadedProtocol[] = [];
  for (const name of files) loaded.push(await loadProtocolFile(path.join(dir, name)));
  return loaded;
}

/**
 * One protocol file, its signatures beside it and the keys in `keysDir`
 * (default `<its dir>/keys`). Throws ProtocolFileError if the document is
 * unreadable: the hub must not start on a protocol it cannot read.
 */
export async function loadProtocolFile(file: string, keysDir = path.join(path.dirname(file), 'keys')): Promise<LoadedProtocol> {
  const source = path.basename(file);
  const text = await readFile(file, 'utf8');
  const parsed = parseProtocolText(text, source);
  if (!parsed.ok) throw new ProtocolFileError(source, parsed.issues);
  const { document, canonical, digest } = parsed;
  const signatures: SignatureCheck[] = [];
  for (const party of document.parties) {
    signatures.push(await checkParty(canonical, file, keysDir, party));
  }
  return {
    id: document.id,
    version: document.version,
    title: document.title,
    period: { start: document.period.start, end: document.period.end },
    reviewDate: document.reviewDate,
    parties: document.parties,
    flows: compileFlows(document),
    sources: document.sources,
    demographics: document.demographics,
    retention: { sharedRecords: document.retention.sharedRecords, auditLog: document.retention.auditLog },
    signatures,
    digest,
    source,
  };
}

async function checkParty(canonical: Uint8Array, file: string, keysDir: string, party: string): Promise<SignatureCheck> {
  const jws = await readOptional(signaturePath(file, party));
  let publicJwk: JWK | undefined;
  try {
    publicJwk = await readJwkFile(publicKeyPath(keysDir, party));
  } catch (err) {
    return { party, valid: false, problem: `public key unreadable: ${(err as Error).message}` };
  }
  return verifyProtocolSignature(canonical, jws, party, publicJwk);
}

/** Signs a protocol file for one of its parties; writes `<name>.signatures/<party>.jws` and returns its path. */
export async function signProtocolFile(file: string, party: string, privateJwk: JWK): Promise<string> {
  const parsed = parseProtocolText(await readFile(file, 'utf8'), path.basename(file));
  if (!parsed.ok) throw new ProtocolFileError(path.basename(file), parsed.issues);
  if (!parsed.document.parties.includes(party)) {
    throw new Error(`${party} is not a party to ${path.basename(file)} (parties: ${parsed.document.parties.join(', ')})`);
  }
  const target = signaturePath(file, party);
  await mkdir(path.dirname(target), { recursive: true });
  await writeAtomically(target, `${await signProtocol(parsed.canonical, party, privateJwk)}\n`);
  return target;
}

/**
 * The demo signs its own protocols at first start: copies each `*.yaml` of
 * `sourceDir` into `<dataDir>/policies`, gives each party a private key in
 * `<dataDir>/demo/parties` (created once, kept across restarts), registers the
 * public keys and signs for every party whose signature does not already
 * verify. An unchanged protocol keeps its signatures. Returns the policies directory.
 */
export async function prepareDemoPolicies(sourceDir: string, dataDir: string): Promise<string> {
  const target = path.join(dataDir, 'policies');
  const keysDir = path.join(target, 'keys');
  await mkdir(keysDir, { recursive: true });
  const names = await yamlFiles(sourceDir);
  // A protocol removed from the source is no longer the demo's: drop its copy.
  for (const stale of (await yamlFiles(target)).filter((n) => !names.includes(n))) await rm(path.join(target, stale), { force: true });

  for (const name of names) {
    const text = await readFile(path.join(sourceDir, name), 'utf8');
    const parsed = parseProtocolText(text, name);
    if (!parsed.ok) throw new ProtocolFileError(name, parsed.issues);
    const copy = path.join(target, name);
    if ((await readOptional(copy)) !== text) await writeAtomically(copy, text);
    for (const party of parsed.document.parties) {
      const privateJwk = await demoPartyKey(dataDir, party);
      const publicJwk = publicJwkOf(privateJwk);
      const keyFile = publicKeyPath(keysDir, party);
      const keyText = `${JSON.stringify(publicJwk, null, 2)}\n`;
      if ((await readOptional(keyFile)) !== keyText) await writeAtomically(keyFile, keyText);
      const current = await checkParty(parsed.canonical, copy, keysDir, party);
      if (!current.valid) await signProtocolFile(copy, party, privateJwk);
    }
  }
  return target;
}

export function demoPartyKeyPath(dataDir: string, party: string): string {
  return path.join(dataDir, 'demo', 'parties', `${party}.jwk.json`);
}

async function demoPartyKey(dataDir: string, party: string): Promise<JWK> {
  const file = demoPartyKeyPath(dataDir, party);
  const existing = await readJwkFile(file);
  if (existing !== undefined) return existing;
  const { privateJwk } = await generatePartyKeyPair();
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  await writeFile(file, `${JSON.stringify(privateJwk, null, 2)}\n`, { mode: 0o600, flag: 'wx' }).catch((err: unknown) => {
    // Another process wrote it first: use theirs.
    if ((err as { code?: string }).code !== 'EEXIST') throw err;
  });
  await chmod(file, 0o600);
  const written = await readJwkFile(file);
  if (written === undefined) throw new Error(`${file} vanished`);
  return written;
}

async function yamlFiles(dir: string): Promise<string[]> {
  try {
    const entries = await readdir(dir, { withFileTypes: true });
    return entries.filter((e) => e.isFile() && e.name.endsWith('.yaml')).map((e) => e.name).sort();
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOENT') return [];
    throw err;
  }
}

async function readOptional(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Write-then-rename, so a hub starting at the same moment reads the old file or the new one, never half. */
async function writeAtomically(file: string, text: string): Promise<void> {
  const temporary = `${file}.${String(process.pid)}.${Date.now().toString(36)}.tmp`;
  await writeFile(temporary, text);
  await rename(temporary, file);
}
