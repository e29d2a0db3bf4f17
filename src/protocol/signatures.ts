import { base64url, CompactSign, compactVerify, decodeProtectedHeader, exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';
import type { SignatureCheck } from './protocol-schema.js';

// Each party signs a protocol's canonical bytes with a detached JWS: the
// compact serialisation with the payload part left empty (RFC 7515 Appendix F),
// so the signature file never carries a second, possibly different, copy of
// the document. The verifier puts base64url(canonical bytes) back in.
// See: https://www.rfc-editor.org/rfc/rfc7515#appendix-F

export const PROTOCOL_JWS_TYPE = 'protocol+jws';

export const SIGNATURE_ALGORITHMS = ['ES256', 'ES384', 'EdDSA', 'RS256'] as const;
export type SignatureAlgorithm = (typeof SIGNATURE_ALGORITHMS)[number];
const ACCEPTED = 'an ES256, ES384, EdDSA or RS256 key';

export interface PartyKeyPair {
  privateJwk: JWK;
  publicJwk: JWK;
}

/** JWK members that only a private (or symmetric) key has (RFC 7518 section 6). */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const;

/**
 * The algorithm a key signs with, decided by the key and never by a JWS header
 * (which an attacker writes). A key's own `alg`, when present, must be one we accept.
 */
export function algorithmOf(jwk: JWK): SignatureAlgorithm | undefined {
  if (jwk.alg !== undefined) return SIGNATURE_ALGORITHMS.find((a) => a === jwk.alg);
  switch (jwk.kty) {
    case 'EC':
      return jwk.crv === 'P-256' ? 'ES256' : jwk.crv === 'P-384' ? 'ES384' : undefined;
    case 'OKP':
      return jwk.crv === 'Ed25519' ? 'EdDSA' : undefined;
    case 'RSA':
      return 'RS256';
    default:
      return undefined;
  }
}

/** The public half of a JWK (private members removed). */
export function publicJwkOf(jwk: JWK): JWK {
  const copy: JWK = { ...jwk };
  for (const member of PRIVATE_MEMBERS) Reflect.deleteProperty(copy, member);
  return copy;
}

/** A new ES256 key pair for a party. The public key has no `kid`: its file name is the party code. */
export async function generatePartyKeyPair(): Promise<PartyKeyPair> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  return {
    privateJwk: { ...(await exportJWK(privateKey)), alg: 'ES256', use: 'sig' },
    publicJwk: { ...(await exportJWK(publicKey)), alg: 'ES256', use: 'sig' },
  };
}

/** Signs a protocol's canonical bytes for `party`: a detached compact JWS, `header..signature`. */
export async function signProtocol(canonical: Uint8Array, party: string, privateJwk: JWK): Promise<string> {
  const alg = algorithmOf(privateJwk);
  if (alg === undefined) throw new Error(`the key for ${party} is not ${ACCEPTED}`);
  const key = await importJWK(privateJwk, alg);
  const jws = await new CompactSign(canonical).setProtectedHeader({ alg, kid: party, typ: PROTOCOL_JWS_TYPE }).sign(key);
  const [header, , signature] = jws.split('.');
  return `${header ?? ''}..${signature ?? ''}`;
}

/** Checks one party's detached JWS over the canonical bytes. Never throws: every failure is a SignatureCheck. */
export async function verifyProtocolSignature(
  canonical: Uint8Array,
  jws: string | undefined,
  party: string,
  publicJwk: JWK | undefined,
): Promise<SignatureCheck> {
  const refuse = (problem: string): SignatureCheck => ({ party, valid: false, problem });
  if (jws === undefined) return refuse('no signature');
  if (publicJwk === undefined) return refuse('no public key registered');
  const parts = jws.trim().split('.');
  const [header = '', payload, signature = ''] = parts;
  if (parts.length !== 3 || payload !== '' || header === '' || signature === '') return refuse('not a detached JWS');
  let kid: unknown;
  let typ: unknown;
  try {
    ({ kid, typ } = decodeProtectedHeader(`${header}..${signature}`));
  } catch {
    return refuse('not a detached JWS');
  }
  if (kid !== party) return refuse(`signed by ${typeof kid === 'string' ? kid : 'no one (no kid)'}, not ${party}`);
  if (typ !== PROTOCOL_JWS_TYPE) return refuse(`not a protocol signature (typ ${typeof typ === 'string' ? typ : 'missing'})`);
  const alg = algorithmOf(publicJwk);
  if (alg === undefined) return refuse(`the registered public key is not ${ACCEPTED}`);
  try {
    // base64url decoders ignore the spare low bits of the last character, so
    // two spellings would carry one signature; accept only the canonical one.
    if (base64url.encode(base64url.decode(signature)) !== signature) return refuse('does not verify');
    const key = await importJWK(publicJwkOf(publicJwk), alg);
    await compactVerify(`${header}.${base64url.encode(canonical)}.${signature}`, key, { algorithms: [alg] });
    return { party, valid: true };
  } catch {
    return refuse('does not verify');
  }
}
