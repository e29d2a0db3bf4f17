import { copyFile, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, type CliIo } from '../src/cli/hub-cli.js';
import { flipSignatureCharacter, repoProtocolFile } from './support/protocols.js';

// `hub protocol keygen | sign | verify` as a partner's IG lead would use them:
// each party makes a key, registers its public half and signs; anyone verifies.

const PARTIES = ['R9M', 'Y90001', 'Y90002', 'R9H', 'E09000999-EH', 'CC-OCEAN', 'CC-IOD'];

let root: string;
let policies: string;
let protocolFile: string;

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'hub-cli-protocol-'));
  policies = path.join(root, 'policies');
  await mkdir(policies);
  protocolFile = path.join(policies, 'early-years-isp.yaml');
  await copyFile(repoProtocolFile, protocolFile);
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function hub(args: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = { out: (l) => out.push(l), err: (l) => err.push(l), env: { POLICIES_DIR: policies }, fetch: (...a) => fetch(...a) };
  const code = await runCli(['node', 'hub', ...args], io);
  return { code, out, err };
}

function keyFile(party: string): string {
  return path.join(root, 'private', `${party}.jwk.json`);
}

describe('hub protocol', () => {
  it('keygen → sign for each party → verify: in force', async () => {
    for (const party of PARTIES) {
      // One party names the keys directory; the others take POLICIES_DIR/keys.
      const keys = party === 'R9M' ? ['--keys', path.join(policies, 'keys')] : [];
      const made = await hub(['protocol', 'keygen', '--party', party, '--out', keyFile(party), ...keys]);
      expect(made.code, made.err.join('\n')).toBe(0);
      expect(made.out.join('\n')).toContain(path.join(policies, 'keys', `${party}.public.jwk.json`));
    }
    expect(((await stat(keyFile('R9M'))).mode & 0o777).toString(8)).toBe('600');

    const unsigned = await hub(['protocol', 'verify', '--protocol', protocolFile, '--at', '2027-01-01']);
    expect(unsigned.code).toBe(1);
    expect(unsigned.out).toContain('R9M           INVALID: no signature');

    for (const party of PARTIES) {
      const signed = await hub(['protocol', 'sign', '--protocol', protocolFile, '--party', party, '--key', keyFile(party)]);
      expect(signed.code, signed.err.join('\n')).toBe(0);
      expect(signed.out).toEqual([`signed ${protocolFile} for ${party}: ${path.join(policies, 'early-years-isp.signatures', `${party}.jws`)}`]);
      expect(signed.err).toEqual([]);
    }

    const verified = await hub(['protocol', 'verify', '--protocol', protocolFile, '--at', '2027-01-01']);
    expect(verified.code).toBe(0);
    expect(verified.out[0]).toMatch(/^eastside-early-years-isp version 4 \(early-years-isp\.yaml\) sha256 [0-9a-f]{64}$/);
    expect(verified.out.slice(1)).toEqual([...PARTIES.map((p) => `${p.padEnd(12)}  valid`), 'in force']);
  });

  it('refuses to overwrite a private key, and warns when a key is not the registered one', async () => {
    const again = await hub(['protocol', 'keygen', '--party', 'R9M', '--out', keyFile('R9M')]);
    expect(again.code).toBe(1);
    expect(again.err.join('\n')).toMatch(/already exists/);

    const stray = path.join(root, 'stray.jwk.json');
    expect((await hub(['protocol', 'keygen', '--party', 'R9M', '--out', stray, '--keys', path.join(root, 'elsewhere')])).code).toBe(0);
    const signature = path.join(policies, 'early-years-isp.signatures', 'R9M.jws');
    const good = await readFile(signature, 'utf8');
    const mismatched = await hub(['protocol', 'sign', '--protocol', protocolFile, '--party', 'R9M', '--key', stray]);
    expect(mismatched.code).toBe(0);
    expect(mismatched.err).toEqual(['warning: against the registered key of R9M: does not verify']);
    await writeFile(signature, good);
  });

  it('names the party whose signature was tampered with (exit 1)', async () => {
    const signature = path.join(policies, 'early-years-isp.signatures', 'CC-OCEAN.jws');
    const good = await readFile(signature, 'utf8');
    await writeFile(signature, flipSignatureCharacter(good));
    try {
      const result = await hub(['protocol', 'verify', '--protocol', protocolFile, '--at', '2027-01-01']);
      expect(result.code).toBe(1);
      expect(result.out).toContain('CC-OCEAN      INVALID: does not verify');
      expect(result.out.at(-1)).toBe('NOT in force: signature of CC-OCEAN: does not verify');
    } finally {
      await writeFile(signature, good);
    }
  });

  it('names the date when judged outside the period (exit 1)', async () => {
    const after = await hub(['protocol', 'verify', '--protocol', protocolFile, '--at', '2029-01-01']);
    expect(after.code).toBe(1);
    expect(after.out.at(-1)).toBe('NOT in force: its period ended on 2028-12-31');
    const before = await hub(['protocol', 'verify', '--protocol', protocolFile, '--at', '2025-12-31']);
    expect(before.out.at(-1)).toBe('NOT in force: its period starts on 2026-01-01');
  });

  it('prints the issues with their paths for an unreadable protocol (exit 2)', async () => {
    const broken = path.join(policies, 'broken.yaml');
    await writeFile(broken, (await readFile(protocolFile, 'utf8')).replace('consent: objection-stops', 'consent: maybe'));
    const verify = await hub(['protocol', 'verify', '--protocol', broken]);
    expect(verify.code).toBe(2);
    expect(verify.err[0]).toBe('broken.yaml cannot be read as a protocol:');
    expect(verify.err[1]).toMatch(/^ {2}flows\.4\.consent: /);
    const sign = await hub(['protocol', 'sign', '--protocol', broken, '--party', 'R9M', '--key', keyFile('R9M')]);
    expect(sign.code).toBe(2);
    expect(sign.err.join('\n')).toMatch(/flows\.4\.consent/);
    await rm(broken);

    const syntax = path.join(policies, 'syntax.yaml');
    await writeFile(syntax, (await readFile(protocolFile, 'utf8')).replace('parties: [R9M,', 'parties: [R9M,,'));
    const unparsable = await hub(['protocol', 'verify', '--protocol', syntax]);
    expect(unparsable.code).toBe(2);
    expect(unparsable.err[1]).toMatch(/^ {2}parties\.0: Unexpected , in flow sequence at line 12/);
    await rm(syntax);

    expect((await hub(['protocol', 'verify', '--protocol', path.join(policies, 'missing.yaml')])).code).toBe(2);
  });

  it('refuses bad options: a party not in the protocol, a bad date, a code that is not a file name', async () => {
    const stranger = await hub(['protocol', 'sign', '--protocol', protocolFile, '--party', 'Z99999', '--key', keyFile('R9M')]);
    expect(stranger.code).toBe(1);
    expect(stranger.err.join('\n')).toMatch(/Z99999 is not a party/);
    const date = await hub(['protocol', 'verify', '--protocol', protocolFile, '--at', '2027-02-30']);
    expect(date.code).toBe(2);
    expect(date.err.join('\n')).toMatch(/--at/);
    const traversal = await hub(['protocol', 'keygen', '--party', '../R9M', '--out', path.join(root, 'x.jwk.json')]);
    expect(traversal.code).toBe(2);
    expect(traversal.err.join('\n')).toMatch(/--party: a party code/);
  });
});
