import { z } from 'zod';
import type { SystemScope } from './scopes.js';

/** Who is calling, as established by a verified access token. */
export interface Principal {
  clientId: string;
  organisationCode: string;
  organisationSystem: string;
  organisationType: string;
  purposeOfUse: string;
  scopes: readonly SystemScope[];
  tokenId: string;
}

/** The claims the hub puts in (and requires of) its access tokens. */
export const accessTokenClaims = z.object({
  sub: z.string().min(1),
  client_id: z.string().min(1),
  jti: z.string().min(1),
  scope: z.string().min(1),
  purpose_of_use: z.string().min(1),
  organisation: z.object({ code: z.string().min(1), system: z.string().min(1), type: z.string().min(1) }),
});
export type AccessTokenClaims = z.infer<typeof accessTokenClaims>;
