import { Command, CommanderError } from 'commander';
import path from 'node:path';
import { z } from 'zod';
import { signClientAssertion } from '../auth/client-assertion.js';
import { hubUrl, loadConfig, type Config } from '../config.js';
import { openDatabase, type Database } from '../db/database.js';
import { readDemoKeys, seedDemoWorld } from '../demo/seed.js';
import { demoClients } from '../demo/world.js';
import { verifyAuditLog } from '../services/audit-verify.js';

// The hub command: `npm run hub -- <command>`.

export interface CliIo {
  out: (line: string) => void;
  err: (line: string) => void;
  env: Record<string, string | undefined>;
  fetch: typeof fetch;
}

const defaultIo: CliIo = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  env: process.env,
  fetch: (...args) => fetch(...args),
};

async function withDatabase<T>(config: Config, work: (database: Database) => Promise<T>): Promise<T> {
  const database = await openDatabase(
    config.databaseUrl === undefined
      ? { kind: 'pglite', dataDir: path.join(config.dataDir, 'pglite') }
      : { kind: 'postgres', url: config.databaseUrl },
  );
  try {
    return await work(database);
  } finally {
    await database.close();
  }
}

export async function runCli(argv: readonly string[], io: CliIo = defaultIo): Promise<number> {
  let exitCode = 0;
  const program = new Command('hub')
    .description('Early Years Sharing Hub command line')
    .exitOverride()
    .configureOutput({ writeOut: (s) => { io.out(s.trimEnd()); }, writeErr: (s) => { io.err(s.trimEnd()); } });

  program
    .command('migrate')
    .description('apply the SQL migrations in migrations/ to the database (DATABASE_URL, or PGlite in DATA_DIR)')
    .action(async () => {
      await withDatabase(loadConfig(io.env), async (database) => {
        await database.migrate();
        io.out(`migrated (${database.engine})`);
      });
    });

  program
    .command('seed-demo')
    .description('load the demo organisations and client systems, creating client keys in DATA_DIR/demo')
    .action(async () => {
      const config = loadConfig(io.env);
      await withDatabase(config, async (database) => {
        await database.migrate();
        await seedDemoWorld(database.db, config.dataDir);
        io.out(`demo world loaded; client keys in ${path.join(config.dataDir, 'demo')}`);
      });
    });

  program
    .command('token')
    .description("get an access token from the running hub's token endpoint for a demo client; prints it as the last line")
    .requiredOption('--client <id>', 'demo client id, e.g. ocean-cc')
    .requiredOption('--purpose <code>', 'purpose of use, e.g. early-years-registration')
    .option('--scope <scopes>', "space-separated SMART scopes (default: all the client's registered scopes)")
    .action(async (opts: { client: string; purpose: string; scope?: string }) => {
      exitCode = await token(io, opts);
    });

  const audit = program.command('audit').description('the audit log');
  audit
    .command('verify')
    .description('check every audit entry against its hash and the hash chain; names the first bad index')
    .action(async () => {
      const config = loadConfig(io.env);
      await withDatabase(config, async (database) => {
        const report = await verifyAuditLog(database.db, () => new Date());
        if (report.ok) {
          io.out(`audit log verified: ${report.size} entries, head ${report.head}`);
        } else {
          io.out(`audit log FAILED at index ${report.index}: ${report.problem}: ${report.detail}`);
          exitCode = 1;
        }
      });
    });

  try {
    await program.parseAsync([...argv]);
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    io.err(`hub: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
  return exitCode;
}

const tokenResponse = z.object({ access_token: z.string(), scope: z.string(), expires_in: z.number() });
const oauthError = z.object({ error: z.string(), error_description: z.string().optional() });
const smartConfiguration = z.object({ token_endpoint: z.url() });

async function token(io: CliIo, opts: { client: string; purpose: string; scope?: string }): Promise<number> {
  const client = demoClients.find((c) => c.id === opts.client);
  if (client === undefined) {
    io.err(`unknown demo client ${opts.client}; one of: ${demoClients.map((c) => c.id).join(', ')}`);
    return 2;
  }
  const dataDir = z.string().default('./data').parse(io.env['DATA_DIR']);
  const base = hubUrl(io.env);
  const keys = await readDemoKeys(dataDir, client.id).catch(() => undefined);
  if (keys === undefined) {
    io.err(`no key for ${client.id} in ${path.join(dataDir, 'demo')}: start the hub once with npm start`);
    return 1;
  }
  // The assertion's audience is the token endpoint the hub announces.
  const discovery = smartConfiguration.parse(await (await io.fetch(`${base}/.well-known/smart-configuration`)).json());
  const assertion = await signClientAssertion(keys.privateJwk, client.id, discovery.token_endpoint);
  const response = await io.fetch(`${base}/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: assertion,
      scope: opts.scope ?? client.scopes.join(' '),
      purpose_of_use: opts.purpose,
    }),
  });
  const body: unknown = await response.json();
  if (!response.ok) {
    const e = oauthError.safeParse(body);
    io.err(`token refused (${response.status}): ${e.success ? `${e.data.error}: ${e.data.error_description ?? ''}` : 'unexpected answer'}`);
    return 1;
  }
  const granted = tokenResponse.parse(body);
  io.err(`granted ${granted.scope} for ${opts.purpose}, expires in ${granted.expires_in}s`);
  io.out(granted.access_token);
  return 0;
}
