import { z } from 'zod';
import { loadConfig } from '../config.js';
import type { Database } from '../db/database.js';
import { createLoginLink, findHubOperator, LOGIN_LINK_MS } from '../db/ig-queries.js';

// `hub ig-link [--user LABEL]`: a one-time sign-in link to the IG lead's page
// (/ig). Whoever can run the hub command on the hub's database can sign in;
// an organisation's own OpenID Connect provider would replace this (README).

export interface IgLinkIo {
  out: (line: string) => void;
  err: (line: string) => void;
  env: Record<string, string | undefined>;
}

/** Opens the hub's database for the work, and closes it after (hub-cli's withDatabase). */
export type OpenDatabase = <T>(work: (database: Database) => Promise<T>) => Promise<T>;

const igLinkOptions = z.strictObject({
  // It becomes the audit log's client id, ig-web:<user>.
  user: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/, 'letters, digits, dots, hyphens, underscores and @, at most 64').default('ig-lead'),
});

export async function igLink(io: IgLinkIo, opts: unknown, open: OpenDatabase, now: Date = new Date()): Promise<number> {
  const parsed = igLinkOptions.safeParse(opts);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) io.err(`--${issue.path.map(String).join('.')}: ${issue.message}`);
    return 2;
  }
  const { user } = parsed.data;
  const base = loadConfig(io.env).publicBaseUrl;
  return open(async (database) => {
    await database.migrate();
    if ((await findHubOperator(database.db)) === undefined) {
      io.err('no hub-operator organisation is registered, so nobody can sign in to /ig: run `hub seed-demo` or register the operator first');
      return 1;
    }
    const link = await createLoginLink(database.db, user, now);
    io.out(`sign-in link to the IG lead's page for ${user}: it works once and expires in ${LOGIN_LINK_MS / 60_000} minutes (${link.expires.toISOString()})`);
    io.out(`${base}/ig/login?${new URLSearchParams({ token: link.token }).toString()}`);
    return 0;
  });
}
