import { sql } from 'drizzle-orm';
import { pino } from 'pino';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawRows, type Database } from '../src/db/database.js';
import { secretHash } from '../src/db/ig-queries.js';
import { createHub } from '../src/hub.js';
import { IG_COOKIE } from '../src/http/ig-guard.js';
import { auditEventsFor } from './support/audit.js';
import { CliWorkspace, type CliRun } from './support/cli.js';

// `hub ig-link`: a one-time link to the IG lead's page, made on the hub's
// database, that a running hub turns into a session once, and never again.

let workspace: CliWorkspace;

beforeAll(async () => {
  workspace = await CliWorkspace.create('hub-ig-link-');
});
afterAll(async () => {
  await workspace.remove();
});

const hub = (args: string[], extraEnv: Record<string, string> = {}): Promise<CliRun> => workspace.hub(args, extraEnv);
const openSame = (): Promise<Database> => workspace.openSame();

const LINK = /^(https?:\/\/[^/]+)\/ig\/login\?token=([A-Za-z0-9_-]{43})$/;

describe('hub ig-link', () => {
  it('refuses a user label that is not one, before touching the database', async () => {
    const bad = await hub(['ig-link', '--user', 'IG Lead <script>']);
    expect(bad.code).toBe(2);
    expect(bad.err.join('\n')).toMatch(/^--user: /);
  });

  it('says nobody could sign in while no hub-operator organisation is registered', async () => {
    const none = await hub(['ig-link']);
    expect(none.code).toBe(1);
    expect(none.err.join('\n')).toMatch(/no hub-operator organisation/);
    expect(none.out).toEqual([]);
  }, 60_000);

  it('prints a link that works once, for 15 minutes, at PUBLIC_BASE_URL; only its hash is stored; the hub signs in with it once', async () => {
    expect((await hub(['seed-demo'])).code).toBe(0);
    const made = await hub(['ig-link', '--user', 'ig.lead@eastside']);
    expect(made.code).toBe(0);
    expect(made.out.join('\n')).toMatch(/works once and expires in 15 minutes/);
    const [, origin, token = ''] = LINK.exec(made.out.at(-1) ?? '') ?? [];
    expect(origin).toBe('http://localhost:8080');

    const published = await hub(['ig-link'], { PUBLIC_BASE_URL: 'https://hub.eastside.example/' });
    expect(published.code).toBe(0);
    expect(LINK.exec(published.out.at(-1) ?? '')?.[1]).toBe('https://hub.eastside.example');

    const database = await openSame();
    const running = await createHub({ database, baseUrl: 'http://localhost:8080', logger: pino({ level: 'silent' }), protocols: [] });
    try {
      const links = await rawRows<{ token_hash: string; user_label: string; used_at: unknown }>(database.db, sql`select token_hash, user_label, used_at from ig_login_link order by created`);
      expect(links.map((l) => l.user_label)).toEqual(['ig.lead@eastside', 'ig-lead']);
      expect(links[0]?.token_hash).toBe(secretHash(token));
      expect(JSON.stringify(links)).not.toContain(token);

      const first = await request(running.app).get(`/ig/login?token=${token}`).set('X-Request-Id', 'ig-link-first');
      expect(first.status).toBe(303);
      expect(first.headers['location']).toBe('/ig');
      const cookie = first.headers['set-cookie']?.[0] ?? '';
      expect(cookie).toMatch(new RegExp(`^${IG_COOKIE}=[A-Za-z0-9_-]{43}; Max-Age=28800; Path=/; Expires=[^;]+; HttpOnly; SameSite=Strict$`));
      const [login] = await auditEventsFor(database.db, 'ig-link-first');
      expect(login?.subtype?.[0]?.code).toBe('110122');
      expect(login?.outcome).toBe('0');
      expect(login?.agent?.[0]?.who?.identifier?.value).toBe('ig-web:ig.lead@eastside');
      expect(JSON.stringify(login)).not.toContain(token);

      const again = await request(running.app).get(`/ig/login?token=${token}`).set('X-Request-Id', 'ig-link-again');
      expect(again.status).toBe(401);
      expect(again.type).toBe('text/html');
      expect(again.text).toMatch(/ig-link/);
      expect(again.headers['set-cookie']).toBeUndefined();
      const [refused] = await auditEventsFor(database.db, 'ig-link-again');
      expect(refused?.outcome).toBe('4');
      expect(refused?.outcomeDesc).toMatch(/unknown, already used or expired/);
    } finally {
      await running.close();
      await database.close();
    }
  }, 120_000);
});
