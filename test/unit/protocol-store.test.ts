import { copyFile, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { standingOf } from '../../src/protocol/in-force.js';
import { parseProtocolText } from '../../src/protocol/protocol-text.js';
import { loadProtocols, prepareDemoPolicies, ProtocolFileError, signProtocolFile } from '../../src/services/protocol-store.js';
import { repoProtocolFile, signedProtocolDir } from '../support/protocols.js';

// Protocols on disk: the YAML, a signature per party beside it, the parties' keys.

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

async function tmpDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function signed(options: Parameters<typeof signedProtocolDir>[0] = {}): Promise<Awaited<ReturnType<typeof signedProtocolDir>>> {
  const result = await signedProtocolDir(options);
  cleanups.push(() => result.cleanup());
  return result;
}

const during = new Date('2027-01-01T12:00:00Z');

describe('loadProtocols', () => {
  it('loads a signed protocol with every field filled and every signature valid', async () => {
    const { dir } = await signed();
    const [loaded, ...rest] = await loadProtocols(dir);
    expect(rest).toEqual([]);
    const parsed = parseProtocolText(await readFile(repoProtocolFile, 'utf8'), 'x');
    expect(loaded).toMatchObject({
      id: 'eastside-early-years-isp',
      version: 4,
      title: 'Eastside Early Years Information Sharing Protocol',
      period: { start: '2026-01-01', end: '2028-12-31' },
      reviewDate: '2027-06-30',
      parties: ['R9M', 'Y90001', 'Y90002', 'R9H', 'E09000999-EH', 'CC-OCEAN', 'CC-IOD'],
      digest: parsed.ok ? parsed.digest : 'unparsed',
      source: 'early-years-isp.yaml',
    });
    expect(loaded?.signatures.map((s) => [s.party, s.valid])).toEqual(loaded?.parties.map((p) => [p, true]));
    const flow = loaded?.flows.find((f) => f.id === 'missed-imms-to-childrens-centre');
    expect(flow?.items.map((i) => i.name)).toEqual(['child-registration', 'missed-immunisation']);
    expect(flow?.where?.source).toMatch(/^Immunization\.statusReason/);
    expect(standingOf(loaded!, during)).toEqual({ inForce: true });
  });

  it('reports a missing signature file and a missing key as invalid signatures, not errors', async () => {
    const { dir } = await signed({ omit: ['CC-IOD'] });
    await rm(path.join(dir, 'keys', 'R9M.public.jwk.json'));
    await writeFile(path.join(dir, 'keys', 'R9H.public.jwk.json'), 'not json');
    const [loaded] = await loadProtocols(dir);
    expect(loaded?.signatures.filter((s) => !s.valid)).toEqual([
      { party: 'R9M', valid: false, problem: 'no public key registered' },
      { party: 'R9H', valid: false, problem: expect.stringMatching(/^public key unreadable: .*R9H\.public\.jwk\.json is not JSON/) },
      { party: 'CC-IOD', valid: false, problem: 'no signature' },
    ]);
    expect(standingOf(loaded!, during).inForce).toBe(false);
  });

  it('refuses to load an unreadable protocol, naming the file and every issue path', async () => {
    const { dir } = await signed({ yamlEdit: (t) => t.replace('consent: objection-stops', 'consent: maybe').replace('reviewDate: 2027-06-30', 'reviewDate: mid-2027') });
    const refused = loadProtocols(dir);
    await expect(refused).rejects.toBeInstanceOf(ProtocolFileError);
    await expect(refused).rejects.toThrow(/^early-years-isp\.yaml: /);
    await expect(refused).rejects.toThrow(/reviewDate: a date as YYYY-MM-DD/);
    await expect(refused).rejects.toThrow(/flows\.4\.consent: /);
  });

  it('loads every *.yaml in name order, and nothing from a missing directory', async () => {
    const { dir, file } = await signed();
    await copyFile(file, path.join(dir, 'aa-copy.yaml'));
    await writeFile(path.join(dir, 'notes.txt'), 'not a protocol');
    const loaded = await loadProtocols(dir);
    expect(loaded.map((p) => p.source)).toEqual(['aa-copy.yaml', 'early-years-isp.yaml']);
    // The copy's signatures are looked for beside it, under its own name.
    expect(loaded[0]?.signatures.every((s) => s.problem === 'no signature')).toBe(true);
    expect(await loadProtocols(path.join(dir, 'nowhere'))).toEqual([]);
  });

  it('signs only for a party to the protocol', async () => {
    const { file, privateKeys } = await signed();
    await expect(signProtocolFile(file, 'Z99999', privateKeys.get('R9M')!)).rejects.toThrow(/Z99999 is not a party to early-years-isp\.yaml/);
  });
});

describe('prepareDemoPolicies', () => {
  async function snapshot(dataDir: string): Promise<Record<string, string>> {
    const files: Record<string, string> = {};
    for (const entry of await readdir(dataDir, { recursive: true, withFileTypes: true })) {
      if (!entry.isFile() || entry.parentPath.includes(`${path.sep}pglite`)) continue;
      const file = path.join(entry.parentPath, entry.name);
      files[path.relative(dataDir, file)] = await readFile(file, 'utf8');
    }
    return files;
  }

  it('signs a copy at first start, then leaves keys and signatures as they are; re-signs when the source changes', async () => {
    const sourceDir = await tmpDir('hub-policies-src-');
    const dataDir = await tmpDir('hub-data-');
    const source = path.join(sourceDir, 'early-years-isp.yaml');
    const original = await readFile(repoProtocolFile, 'utf8');
    await writeFile(source, original);

    const policiesDir = await prepareDemoPolicies(sourceDir, dataDir);
    expect(policiesDir).toBe(path.join(dataDir, 'policies'));
    const [first] = await loadProtocols(policiesDir);
    expect(standingOf(first!, during)).toEqual({ inForce: true });
    const keyFile = path.join(dataDir, 'demo', 'parties', 'R9M.jwk.json');
    expect(((await stat(keyFile)).mode & 0o777).toString(8)).toBe('600');
    expect(((await stat(path.dirname(keyFile))).mode & 0o777).toString(8)).toBe('700');
    const before = await snapshot(dataDir);
    expect(Object.keys(before).filter((f) => f.endsWith('.jws'))).toHaveLength(7);
    expect(Object.keys(before).filter((f) => f.startsWith(path.join('demo', 'parties')))).toHaveLength(7);

    // ECDSA signatures differ each time they are made: equal files were not re-signed.
    await prepareDemoPolicies(sourceDir, dataDir);
    expect(await snapshot(dataDir)).toEqual(before);

    // A comment is not signed: the copy follows the text, the signatures stay.
    await writeFile(source, `# reviewed\n${original}`);
    await prepareDemoPolicies(sourceDir, dataDir);
    const commented = await snapshot(dataDir);
    expect(commented[path.join('policies', 'early-years-isp.yaml')]).toMatch(/^# reviewed\n/);
    for (const [file, text] of Object.entries(before)) if (!file.endsWith('.yaml')) expect(commented[file]).toBe(text);

    // A new version: new signatures by the same keys.
    await writeFile(source, original.replace('version: 4', 'version: 5'));
    await prepareDemoPolicies(sourceDir, dataDir);
    const after = await snapshot(dataDir);
    for (const [file, text] of Object.entries(before)) {
      if (file.endsWith('.jws')) expect(after[file]).not.toBe(text);
      if (file.includes('.jwk.json')) expect(after[file]).toBe(text);
    }
    const [changed] = await loadProtocols(policiesDir);
    expect(changed?.version).toBe(5);
    expect(standingOf(changed!, during)).toEqual({ inForce: true });

    // Gone from the source, gone from the demo.
    await rm(source);
    await prepareDemoPolicies(sourceDir, dataDir);
    expect(await loadProtocols(policiesDir)).toEqual([]);
  });

  it('refuses an unreadable source protocol, naming it', async () => {
    const sourceDir = await tmpDir('hub-policies-src-');
    const dataDir = await tmpDir('hub-data-');
    await writeFile(path.join(sourceDir, 'broken.yaml'), (await readFile(repoProtocolFile, 'utf8')).replace('version: 4', 'version: four'));
    await expect(prepareDemoPolicies(sourceDir, dataDir)).rejects.toThrow(/^broken\.yaml: version: /);
  });
});
