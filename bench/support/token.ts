import type { JWK } from 'jose';
import { z } from 'zod';
import { signClientAssertion } from '../../src/auth/client-assertion.js';

// An access token fetched the way a partner system fetches one: a signed
// client assertion posted to the hub's real token endpoint.
// See: https://hl7.org/fhir/smart-app-launch/backend-services.html

const tokenResponse = z.object({ access_token: z.string().min(1), expires_in: z.number() });

export interface TokenRequest {
  baseUrl: string;
  clientId: string;
  privateJwk: JWK;
  scope: string;
  purpose: string;
}

export async function requestAccessToken(request: TokenRequest): Promise<string> {
  const tokenUrl = `${request.baseUrl}/auth/token`;
  const body = new URLSearchParams({
    grant_type: 'client_credentials',
    client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    client_assertion: await signClientAssertion(request.privateJwk, request.clientId, tokenUrl),
    scope: request.scope,
    purpose_of_use: request.purpose,
  });
  const res = await fetch(tokenUrl, { method: 'POST', body, signal: AbortSignal.timeout(10_000) });
  const json: unknown = await res.json();
  if (res.status !== 200) throw new Error(`token refused (${res.status}): ${JSON.stringify(json)}`);
  return tokenResponse.parse(json).access_token;
}
