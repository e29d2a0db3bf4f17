import type { Bundle } from 'fhir/r4.js';
import { sql } from 'drizzle-orm';
import { decodeProtectedHeader, generateKeyPair, SignJWT, type JSONWebKeySet } from 'jose';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RETIRED_KEY_SECONDS } from '../../src/auth/hub-keys.js';
import { runCli, type CliIo } from '../../src/cli/hub-cli.js';
import { rawRows } from '../../src/db/database.js';
import { createHub } from '../../src/hub.js';
import { openSigningKeys } from '../../src/services/signing-keys.js';
import { movableClock } from '../support/clock.js';
import { loadedTestProtocols } from '../support/protocols.js';
import { startTestHub, type TestHub } from '../support/test-hub.js';

// Finding 9 (second half): the access-token signing keys live in files
// outside the database, each with a kid; `hub keys rotate` makes a new current
// key and keeps the old one in the JWKS, verifying, until its tokens expire.

const START = new Date().toISOString();
const { clock, moveTo } = movableClock(START);
let dir: string;
let t: TestHub;

const kidOf = (token: string): string => decodeProtectedHeader(token).kid ?? '';
const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });
const jwksKids = async (): Promise<string[]> => ((await t.http.get('/.well-known/jwks.json')).body as JSONWebKeySet).keys.map((k) => k.kid ?? '');

async function hubCommand(args: string[]): Promise<{ code: number; out: string[] }> {
  const out: string[] = [];
  const io: CliIo = { out: (l) => out.push(l), err: (l) => out.push(l), env: { DATA_DIR: dir }, fetch: (...a) => fetch(...a) };
  return { code: await runCli(['node', 'hub', ...args], io), out };
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'hub-signing-keys-'));
  t = await startTestHub({ clock, signingKeysDir: path.join(dir, 'keys', 'access-token') });
});
afterAll(async () => {
  await t.close();
  await rm(dir, { recursive: true, force: true });
});

describe('signing keys outside the database', () => {
  it('keeps each key in a file of its own (mode 0600) named by its kid, and no private key in any table', async () => {
    const token = await t.token('ocean-cc', 'early-years-registration');
    const keysDir = path.join(dir, 'keys', 'access-token');
    const files = await readdir(keysDir);
    expect(files).toEqual([`${kidOf(token)}.jwk`]);
    expect(((await stat(path.join(keysDir, files[0] ?? ''))).mode & 0o777).toString(8)).toBe('600');
    const privateD = (JSON.parse(await readFile(path.join(keysDir, files[0] ?? ''), 'utf8')) as { d: string }).d;

    const [gone] = await rawRows<{ table: string | null }>(t.database.db, sql`select to_regclass('public.hub_key')::text as "table"`);
    expect(gone?.table).toBeNull();
    // Every row of every table, as text: the private scalar is nowhere, nor any JWK "d" member.
    const tables = await rawRows<{ schema: string; name: string }>(
      t.database.db,
      sql`select table_schema as schema, table_name as name from information_schema.tables where table_schema in ('public', 'drizzle') and table_type = 'BASE TABLE'`,
    );
    expect(tables.length).toBeGreaterThan(10);
    for (const { schema, name } of tables) {
      const rows = await rawRows<{ text: string | null }>(t.database.db, sql`select string_agg(x::text, ' ') as text from ${sql.identifier(schema)}.${sql.identifier(name)} x`);
      const text = rows[0]?.text ?? '';
      expect(text.includes(privateD), `${schema}.${name} holds the signing key`).toBe(false);
      expect(/"d"\s*:\s*"[A-Za-z0-9_-]{40,}"/.test(text), `${schema}.${name} holds a private JWK`).toBe(false);
    }
  });

  it('after `hub keys rotate` signs with a new kid, lists both keys, and still accepts the old key\'s tokens until they expire', async () => {
    const before = await t.token('ocean-cc', 'early-years-registration');
    const oldKid = kidOf(before);
    // An IG search page whose cursor was sealed before the rotation.
    const ig = await t.token('ig-console', 'audit');
    const page = await t.http.get('/fhir/AuditEvent?_count=1').set(bearer(ig));
    const next = (page.body as Bundle).link?.find((l) => l.relation === 'next')?.url.replace(t.baseUrl, '');
    expect(next).toBeDefined();

    const rotated = await hubCommand(['keys', 'rotate']);
    expect(rotated.code).toBe(0);
    const newKid = /new signing key ([0-9a-f-]+)/.exec(rotated.out.join('\n'))?.[1] ?? '';
    expect(newKid).not.toBe(oldKid);
    expect(rotated.out.join('\n')).toContain(`kept until its tokens expire: ${oldKid}`);
    await t.hub.keys.reload(); // a running hub does this every minute

    const after = await t.token('ocean-cc', 'early-years-registration');
    expect(kidOf(after)).toBe(newKid);
    expect(new Set(await jwksKids())).toEqual(new Set([oldKid, newKid]));
    expect((await t.http.get('/fhir/Patient').set(bearer(before))).status).toBe(200);
    expect((await t.http.get('/fhir/Patient').set(bearer(after))).status).toBe(200);
    expect((await t.http.get(next ?? '').set(bearer(ig))).status).toBe(200);

    // An attacker's own key, under the old kid or a new one, signs nothing the hub accepts.
    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    for (const kid of [oldKid, 'attacker-kid']) {
      const forged = await new SignJWT({ client_id: 'ocean-cc', scope: 'system/Patient.rs', purpose_of_use: 'early-years-registration', organisation: { code: 'OCEAN', system: 'urn:eastside:org', type: 'childrens-centre' } })
        .setProtectedHeader({ alg: 'ES256', kid, typ: 'at+jwt' })
        .setIssuer(t.baseUrl)
        .setAudience(`${t.baseUrl}/fhir`)
        .setSubject('ocean-cc')
        .setJti(`forged-${kid}`)
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(privateKey);
      expect((await t.http.get('/fhir/Patient').set(bearer(forged))).status).toBe(401);
    }

    // Once the old key's tokens have all expired it leaves the JWKS, and its token is refused.
    moveTo(new Date(Date.parse(START) + (RETIRED_KEY_SECONDS + 60) * 1000).toISOString());
    await t.hub.keys.reload();
    expect(await jwksKids()).toEqual([newKid]);
    expect((await t.http.get('/fhir/Patient').set(bearer(before))).status).toBe(401);
    moveTo(new Date().toISOString());
  }, 60_000);

  it('instances sharing the key directory accept each other\'s tokens, a rotation included', async () => {
    const other = await createHub({
      database: t.database,
      baseUrl: t.baseUrl,
      logger: pino({ level: 'silent' }),
      protocols: await loadedTestProtocols(),
      clock,
      signingKeys: await openSigningKeys(path.join(dir, 'keys', 'access-token'), clock),
    });
    try {
      expect((await request(other.app).get('/fhir/Patient').set(bearer(await t.token('ocean-cc', 'early-years-registration')))).status).toBe(200);
      const rotated = await hubCommand(['keys', 'rotate']);
      expect(rotated.code).toBe(0);
      await t.hub.keys.reload();
      const fresh = await t.token('ocean-cc', 'early-years-registration');
      // The other instance has not looked yet: the unknown kid makes it look.
      expect((await request(other.app).get('/fhir/Patient').set(bearer(fresh))).status).toBe(200);
    } finally {
      await other.close();
    }
  }, 60_000);
});
