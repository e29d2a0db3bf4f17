import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { base64url, CompactSign, exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { standingOf } from '../../src/protocol/in-force.js';
import type { LoadedProtocol } from '../../src/protocol/protocol-schema.js';
import { parseProtocolText } from '../../src/protocol/protocol-text.js';
import { generatePartyKeyPair, signProtocol, verifyProtocolSignature, type PartyKeyPair } from '../../src/protocol/signatures.js';
import { loadedTestProtocols, repoProtocolFile } from '../support/protocols.js';

// Detached JWS over the canonical bytes (RFC 7515 Appendix F), and what the
// signatures and the period make of a protocol's standing.

function canonicalOf(text: string): Uint8Array {
  const parsed = parseProtocolText(text, 'early-years-isp.yaml');
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  return parsed.canonical;
}

const text = readFileSync(repoProtocolFile, 'utf8');
const canonical = canonicalOf(text);
const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

let r9m: PartyKeyPair;
let other: PartyKeyPair;
let jws: string;

beforeAll(async () => {
  r9m = await generatePartyKeyPair();
  other = await generatePartyKeyPair();
  jws = await signProtocol(canonical, 'R9M', r9m.privateJwk);
});

type Inputs = [Uint8Array, string | undefined, JWK | undefined];

function encodeJson(value: unknown): string {
  return base64url.encode(JSON.stringify(value));
}

describe('signProtocol / verifyProtocolSignature', () => {
  it('signs a detached JWS (empty payload part) that verifies, with the party as kid', async () => {
    const [header, payload, signature] = jws.split('.');
    expect(payload).toBe('');
    expect(signature).toMatch(/^[A-Za-z0-9_-]{86}$/);
    expect(JSON.parse(new TextDecoder().decode(base64url.decode(header ?? '')))).toEqual({ alg: 'ES256', kid: 'R9M', typ: 'protocol+jws' });
    expect(r9m.publicJwk.kid).toBeUndefined();
    expect(r9m.publicJwk.d).toBeUndefined();
    expect(await verifyProtocolSignature(canonical, jws, 'R9M', r9m.publicJwk)).toEqual({ party: 'R9M', valid: true });
    expect(await verifyProtocolSignature(canonical, `${jws}\n`, 'R9M', r9m.publicJwk)).toEqual({ party: 'R9M', valid: true });
  });

  it.each<[string, () => Inputs | Promise<Inputs>, string]>([
    ['a changed document', () => [canonicalOf(text.replace('version: 4', 'version: 5')), jws, r9m.publicJwk], 'does not verify'],
    ['the wrong key', () => [canonical, jws, other.publicJwk], 'does not verify'],
    ['a signature by another party', async () => [canonical, await signProtocol(canonical, 'Y90001', r9m.privateJwk), r9m.publicJwk], 'signed by Y90001, not R9M'],
    ['a truncated signature', () => [canonical, jws.slice(0, -12), r9m.publicJwk], 'does not verify'],
    ['the header alone', () => [canonical, `${jws.split('.')[0] ?? ''}.`, r9m.publicJwk], 'not a detached JWS'],
    ['a JWS carrying its payload', () => [canonical, jws.replace('..', `.${base64url.encode(canonical)}.`), r9m.publicJwk], 'not a detached JWS'],
    ['text that is not a JWS', () => [canonical, 'signed, R9M', r9m.publicJwk], 'not a detached JWS'],
    ['a header that is not JSON', () => [canonical, `${base64url.encode('alg=ES256')}..${jws.split('.')[2] ?? ''}`, r9m.publicJwk], 'not a detached JWS'],
    ['alg none with no signature', () => [canonical, `${encodeJson({ alg: 'none', kid: 'R9M', typ: 'protocol+jws' })}..`, r9m.publicJwk], 'not a detached JWS'],
    ['no public key', () => [canonical, jws, undefined], 'no public key registered'],
    ['no signature', () => [canonical, undefined, r9m.publicJwk], 'no signature'],
    [
      'a JWS of another type',
      async () => {
        const key = await importJWK(r9m.privateJwk, 'ES256');
        const full = await new CompactSign(canonical).setProtectedHeader({ alg: 'ES256', kid: 'R9M', typ: 'JWT' }).sign(key);
        return [canonical, full.replace(/\.[^.]+\./, '..'), r9m.publicJwk];
      },
      'not a protocol signature (typ JWT)',
    ],
    [
      // Algorithm confusion: an HMAC "signature" keyed with the public key's bytes.
      'HS256 keyed with the public key (the alg comes from the key, not the header)',
      async () => {
        const secret = new TextEncoder().encode(JSON.stringify(r9m.publicJwk));
        const full = await new CompactSign(canonical).setProtectedHeader({ alg: 'HS256', kid: 'R9M', typ: 'protocol+jws' }).sign(secret);
        return [canonical, full.replace(/\.[^.]+\./, '..'), r9m.publicJwk];
      },
      'does not verify',
    ],
  ])('refuses %s', async (_name, make, problem) => {
    const [bytes, signature, key] = await make();
    expect(await verifyProtocolSignature(bytes, signature, 'R9M', key)).toEqual({ party: 'R9M', valid: false, problem });
  });

  it.each([
    ['ES384', 'ES384'],
    ['EdDSA (Ed25519)', 'Ed25519'],
    ['RS256', 'RS256'],
  ] as const)('verifies a %s key registered without alg (chosen from the key type)', async (_name, generate) => {
    const { privateKey, publicKey } = await generateKeyPair(generate, { extractable: true });
    const privateJwk = await exportJWK(privateKey);
    const publicJwk = await exportJWK(publicKey);
    const signature = await signProtocol(canonical, 'R9M', privateJwk);
    expect(await verifyProtocolSignature(canonical, signature, 'R9M', publicJwk)).toEqual({ party: 'R9M', valid: true });
  });

  it('refuses a key whose declared alg is not one accepted', async () => {
    const key: JWK = { ...r9m.publicJwk, alg: 'HS256' };
    expect(await verifyProtocolSignature(canonical, jws, 'R9M', key)).toMatchObject({ valid: false, problem: 'the registered public key is not an ES256, ES384, EdDSA or RS256 key' });
  });

  // Base64url decoders drop the spare bits of the last character; without a
  // canonical-encoding check, three of the 63 other last characters still verified.
  it('refuses every other last character of the signature', async () => {
    const last = jws.at(-1) ?? '';
    for (const c of BASE64URL.replace(last, '')) {
      expect((await verifyProtocolSignature(canonical, `${jws.slice(0, -1)}${c}`, 'R9M', r9m.publicJwk)).valid).toBe(false);
    }
  });

  it('never verifies a JWS with any one character changed (property)', async () => {
    const character = fc.oneof(fc.constantFrom(...Array.from(BASE64URL), '.', '=', '+', '/', ' '), fc.string({ minLength: 1, maxLength: 1, unit: 'binary' }));
    await fc.assert(
      fc.asyncProperty(fc.nat(), character, async (index, replacement) => {
        const at = index % jws.length;
        fc.pre(jws[at] !== replacement);
        const changed = `${jws.slice(0, at)}${replacement}${jws.slice(at + 1)}`;
        expect((await verifyProtocolSignature(canonical, changed, 'R9M', r9m.publicJwk)).valid).toBe(false);
      }),
      { numRuns: 300 },
    );
  });
});

describe('standingOf a loaded protocol', () => {
  let good: LoadedProtocol;
  beforeAll(async () => {
    const [loaded] = await loadedTestProtocols();
    if (loaded === undefined) throw new Error('no protocol loaded');
    good = loaded;
  });

  it('is in force with every signature good, from the first to the last day of its period', () => {
    expect(good.signatures.every((s) => s.valid)).toBe(true);
    expect(standingOf(good, new Date('2027-01-01T12:00:00Z'))).toEqual({ inForce: true });
    expect(standingOf(good, new Date('2026-01-01T00:00:00Z'))).toEqual({ inForce: true });
    expect(standingOf(good, new Date('2028-12-31T23:59:59.999Z'))).toEqual({ inForce: true });
  });

  it('is not in force with one bad signature, naming the party', async () => {
    const [tampered] = await loadedTestProtocols({ tamper: { party: 'R9H' } });
    expect(tampered?.signatures.filter((s) => !s.valid)).toEqual([{ party: 'R9H', valid: false, problem: 'does not verify' }]);
    expect(standingOf(tampered!, new Date('2027-01-01T12:00:00Z'))).toEqual({ inForce: false, reason: 'signature of R9H: does not verify' });
  });

  it('is not in force with a party unsigned, naming it', async () => {
    const [unsigned] = await loadedTestProtocols({ omit: ['CC-IOD'] });
    expect(standingOf(unsigned!, new Date('2027-01-01T12:00:00Z'))).toEqual({ inForce: false, reason: 'signature of CC-IOD: no signature' });
  });

  it('is not in force before or after its period, naming the date', () => {
    expect(standingOf(good, new Date('2025-12-31T23:59:59.999Z'))).toEqual({ inForce: false, reason: 'its period starts on 2026-01-01' });
    expect(standingOf(good, new Date('2029-01-01T00:00:00Z'))).toEqual({ inForce: false, reason: 'its period ended on 2028-12-31' });
  });

  it('is never in force at any instant outside its period (property)', () => {
    const start = Date.UTC(2026, 0, 1);
    const afterEnd = Date.UTC(2029, 0, 1);
    const outside = fc.date({ noInvalidDate: true }).filter((d) => d.getTime() < start || d.getTime() >= afterEnd);
    fc.assert(fc.property(outside, (now) => !standingOf(good, now).inForce));
    const inside = fc.date({ min: new Date(start), max: new Date(afterEnd - 1), noInvalidDate: true });
    fc.assert(fc.property(inside, (now) => standingOf(good, now).inForce));
  });
});
