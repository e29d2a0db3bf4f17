import express, { Router } from 'express';
import type { HubKeys } from '../auth/hub-keys.js';
import type { RateLimitService } from '../services/rate-limit-service.js';
import { ASSERTION_ALGORITHMS, claimedClientId, requestToken, type TokenServiceDeps } from '../services/token-service.js';
import { withinLimit } from './rate-limit.js';
import { metaOf } from './request-context.js';

// SMART Backend Services discovery and token endpoint.
// See: https://hl7.org/fhir/smart-app-launch/conformance.html

export function wellKnownRouter(baseUrl: string, keys: HubKeys): Router {
  const router = Router();
  router.get('/.well-known/smart-configuration', (_req, res) => {
    res.json({
      issuer: baseUrl,
      jwks_uri: `${baseUrl}/.well-known/jwks.json`,
      token_endpoint: `${baseUrl}/auth/token`,
      token_endpoint_auth_methods_supported: ['private_key_jwt'],
      token_endpoint_auth_signing_alg_values_supported: [...ASSERTION_ALGORITHMS],
      grant_types_supported: ['client_credentials'],
      scopes_supported: ['system/*.cruds', 'system/*.rs'],
      capabilities: ['client-confidential-asymmetric', 'permission-v2'],
      // Not a SMART field: the hub asks every token request for a purpose of use.
      purpose_of_use_system: 'https://eastside.example/fhir/CodeSystem/purpose-of-use',
    });
  });
  router.get('/.well-known/jwks.json', (_req, res) => {
    res.json(keys.jwks);
  });
  return router;
}

export function tokenRouter(deps: TokenServiceDeps, rateLimits: RateLimitService): Router {
  const router = Router();
  const form = express.urlencoded({ extended: false, limit: '32kb', parameterLimit: 20 });
  router.post('/auth/token', form, async (req, res) => {
    const body: unknown = req.is('application/x-www-form-urlencoded') === false ? undefined : req.body;
    const meta = metaOf(req, res);
    // Every request counts, failed assertions too: per source address, and per
    // the client the assertion names (before its signature is checked, so forged
    // assertions in a client's name are bounded as well).
    if (!(await withinLimit(rateLimits, res, 'token-address', meta.clientAddress ?? 'unknown', meta, {}))) return;
    const claimed = claimedClientId(body);
    if (claimed !== undefined && !(await withinLimit(rateLimits, res, 'token-client', claimed, meta, { clientId: claimed }, { advertise: false }))) return;
    const result = await requestToken(deps, body, meta);
    // RFC 6749 section 5.1: token responses are never cached.
    res.setHeader('Pragma', 'no-cache');
    if (result.ok) {
      res.status(200).json(result.body);
      return;
    }
    res.status(result.status).json({ error: result.error, error_description: result.description });
  });
  return router;
}
