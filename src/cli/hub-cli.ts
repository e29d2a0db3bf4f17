import { Command, CommanderError } from 'commander';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { signClientAssertion } from '../auth/client-assertion.js';
import { hubUrl, loadConfig, type Config } from '../config.js';
import { openDatabase, type Database } from '../db/database.js';
import { readDemoKeys, seedDemoWorld } from '../demo/seed.js';
import { demoClients, registeredScopes } from '../demo/world.js';
import { standingOf } from '../protocol/in-force.js';
import { generatePartyKeyPair } from '../protocol/signatures.js';
import { verifyAuditLog } from '../services/audit-verify.js';
import { AuditLogService } from '../services/audit-log-service.js';
import { readLogKey } from '../services/log-key.js';
import { rotateSigningKey } from '../services/signing-keys.js';
import { auditExport, auditVerifyBundle, printVerdict } from './audit-bundle.js';
import { pino } from 'pino';
import { loadProtocolFile, loadProtocols, prepareDemoPolicies, ProtocolFileError, publicKeyPath, readJwkFile, signProtocolFile } from '../services/protocol-store.js';
import { AuditRecorder } from '../services/audit-recorder.js';
import { DisclosureService } from '../services/disclosure-service.js';
import { runFollowUpJob } from '../services/follow-up-job.js';
import { loadSchedules } from '../services/schedule-store.js';
import { igLink } from './ig-link.js';
import { dbRoles } from './db-roles.js';

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
      : { kind: 'postgres', url: config.databaseUrl, migrationUrl: config.migrationDatabaseUrl },
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
        const { keptKeys } = await seedDemoWorld(database.db, config.dataDir);
        io.out(`demo world loaded; client keys in ${path.join(config.dataDir, 'demo')}`);
        if (keptKeys.length > 0) io.out(`already registered with other keys, kept: ${keptKeys.join(', ')}`);
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

  program
    .command('ig-link')
    .description("print a one-time sign-in link to the IG lead's page (/ig); it works once and expires in 15 minutes")
    .option('--user <label>', 'who signs in, as the audit log names them (ig-web:<label>); default ig-lead')
    .action(async (opts: unknown) => {
      exitCode = await igLink(io, opts, (work) => withDatabase(loadConfig(io.env), work));
    });

  const audit = program.command('audit').description('the audit log');
  audit
    .command('verify')
    .description('check the audit log and name the first bad index: with --bundle, a bundle offline (no database, no network); without, the stored log (hash chain, signed checkpoints, receipts)')
    .option('--bundle <file>', 'a bundle written by `hub audit export`')
    .option('--checkpoint <file>', 'a checkpoint note saved earlier (GET /audit/checkpoint): the log must have grown from it')
    .option('--key <key>', 'the log\'s verifier key you pinned (GET /audit/key), or a file holding it')
    .action(async (opts: { bundle?: string; checkpoint?: string; key?: string }) => {
      if (opts.bundle !== undefined) {
        exitCode = await auditVerifyBundle(io, opts);
        return;
      }
      if (opts.checkpoint !== undefined || opts.key !== undefined) {
        io.err('--checkpoint and --key go with --bundle: export a bundle first (hub audit export)');
        exitCode = 2;
        return;
      }
      const config = loadConfig(io.env);
      const key = await readLogKey(config);
      await withDatabase(config, async (database) => {
        const report = await verifyAuditLog(database.db, () => new Date(), key);
        if (!report.ok) {
          io.out(`audit log FAILED at index ${report.index}: ${report.problem}: ${report.detail}`);
          exitCode = 1;
          return;
        }
        io.out(`audit log verified: ${report.size} entries (hash chain), head ${report.head}`);
        if (key !== undefined) io.out(`log origin: ${key.name} (kept with the log key in ${config.auditLogKeyFile})`);
        if (key === undefined) {
          io.out(`warning: no log key at ${config.auditLogKeyFile}: signed checkpoints and receipts not checked`);
          return;
        }
        const log = new AuditLogService({ db: database.db, key, clock: () => new Date(), logger: pino({ level: 'silent' }) });
        const verdict = await log.verifyStored();
        printVerdict(io, verdict, 'stored log');
        if (!verdict.ok) exitCode = 1;
      });
    });
  audit
    .command('export')
    .description('write a bundle of log entries [from, to) with the signed checkpoints and the public key, signing a checkpoint first')
    .requiredOption('--out <file>', 'the bundle file to write (JSON Lines; not overwritten)')
    .option('--from <index>', 'first entry (default 0)')
    .option('--to <index>', 'one past the last entry (default: the end of the log)')
    .action(async (opts: unknown) => {
      const config = loadConfig(io.env);
      const key = await readLogKey(config);
      if (key === undefined) {
        io.err(`no log key at ${config.auditLogKeyFile} (AUDIT_LOG_KEY_FILE): run export where the hub runs`);
        exitCode = 1;
        return;
      }
      exitCode = await auditExport(io, opts, config, key, (work) => withDatabase(config, work));
    });

  program
    .command('db')
    .description('the PostgreSQL database')
    .command('roles')
    .description('create or update the owner role (migrations) and the application role (the hub), and their grants on this database; run as a superuser (DATABASE_ADMIN_URL, else DATABASE_URL)')
    .option('--owner <role>', 'the owner role (DATABASE_OWNER_ROLE, default hub_owner)')
    .option('--app <role>', 'the application role (DATABASE_APP_ROLE, default hub_app)')
    .option('--owner-password <password>', "the owner's password (DATABASE_OWNER_PASSWORD; prefer the environment)")
    .option('--app-password <password>', "the application role's password (DATABASE_APP_PASSWORD; prefer the environment)")
    .option('--admin-url <url>', 'a superuser URL to the hub database (DATABASE_ADMIN_URL, default DATABASE_URL)')
    .action(async (opts: Record<string, unknown>) => {
      exitCode = await dbRoles(io, opts);
    });

  program
    .command('keys')
    .description('the access-token signing keys in SIGNING_KEYS_DIR (default DATA_DIR/keys/access-token)')
    .command('rotate')
    .description('make a new current signing key; the old one stays in the JWKS, and verifies, until its tokens expire; running hubs take it up within a minute')
    .action(async () => {
      const config = loadConfig(io.env);
      const rotated = await rotateSigningKey(config.signingKeysDir, new Date());
      io.out(`new signing key ${rotated.kid} in ${config.signingKeysDir}`);
      for (const kid of rotated.kept) io.out(`kept until its tokens expire: ${kid}`);
      for (const kid of rotated.removed) io.out(`removed (its tokens have expired): ${kid}`);
    });

  program
    .command('followups')
    .description('follow-up work (README "Follow-up work")')
    .command('run')
    .description('run the follow-up job for a day: overdue doses, exception reports, moves, escalations; prints what it raised and closed')
    .requiredOption('--as-of <date>', 'the day to judge, YYYY-MM-DD (e.g. today)')
    .action(async (opts: unknown) => {
      exitCode = await followUpsRun(io, opts);
    });

  const protocol = program.command('protocol').description('information-sharing protocols: party keys, signatures, standing (policies/README.md)');
  protocol
    .command('keygen')
    .description("make a party's ES256 key pair: the private JWK to --out (mode 0600), the public key registered in --keys")
    .requiredOption('--party <code>', 'the party code, as in the protocol, e.g. R9M')
    .requiredOption('--out <file>', 'where to write the private key (never committed; not overwritten)')
    .option('--keys <dir>', 'the registered public keys (default: POLICIES_DIR/keys)')
    .action(async (opts: unknown) => {
      exitCode = await protocolKeygen(io, opts);
    });
  protocol
    .command('sign')
    .description("sign a protocol for one party; writes <name>.signatures/<party>.jws beside it")
    .requiredOption('--protocol <file>', 'the protocol YAML')
    .requiredOption('--party <code>', 'the signing party')
    .requiredOption('--key <file>', "the party's private JWK")
    .action(async (opts: unknown) => {
      exitCode = await protocolSign(io, opts);
    });
  protocol
    .command('verify')
    .description('check every party\'s signature (keys from <its dir>/keys) and the period; exit 0 in force, 1 not, 2 unreadable')
    .requiredOption('--protocol <file>', 'the protocol YAML')
    .option('--at <date>', 'judge the period on this day, YYYY-MM-DD (default: today)')
    .action(async (opts: unknown) => {
      exitCode = await protocolVerify(io, opts);
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
      scope: opts.scope ?? registeredScopes(client).join(' '),
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

const partyCode = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9.-]{0,63}$/, 'a party code of letters, digits, dots and hyphens');
const keygenOptions = z.strictObject({ party: partyCode, out: z.string().min(1), keys: z.string().min(1).optional() });
const signOptions = z.strictObject({ protocol: z.string().min(1), party: partyCode, key: z.string().min(1) });
const verifyOptions = z.strictObject({
  protocol: z.string().min(1),
  at: z.iso.date('a date, YYYY-MM-DD').optional(),
});

/** Parses a command's options; on failure says why and returns undefined (exit 2). */
function options<T>(io: CliIo, schema: z.ZodType<T>, opts: unknown): T | undefined {
  const parsed = schema.safeParse(opts);
  if (parsed.success) return parsed.data;
  for (const issue of parsed.error.issues) io.err(`--${issue.path.map(String).join('.')}: ${issue.message}`);
  return undefined;
}

async function protocolKeygen(io: CliIo, opts: unknown): Promise<number> {
  const o = options(io, keygenOptions, opts);
  if (o === undefined) return 2;
  const keysDir = o.keys ?? path.join(loadConfig(io.env).policiesDir, 'keys');
  const pair = await generatePartyKeyPair();
  await mkdir(path.dirname(path.resolve(o.out)), { recursive: true, mode: 0o700 });
  try {
    await writeFile(o.out, `${JSON.stringify(pair.privateJwk, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as { code?: string }).code !== 'EEXIST') throw err;
    io.err(`${o.out} already exists: not overwriting a private key`);
    return 1;
  }
  const publicFile = publicKeyPath(keysDir, o.party);
  await mkdir(keysDir, { recursive: true });
  await writeFile(publicFile, `${JSON.stringify(pair.publicJwk, null, 2)}\n`);
  io.out(`private key for ${o.party}: ${o.out} (keep it secret)`);
  io.out(`public key registered: ${publicFile}`);
  return 0;
}

async function protocolSign(io: CliIo, opts: unknown): Promise<number> {
  const o = options(io, signOptions, opts);
  if (o === undefined) return 2;
  const privateJwk = await readJwkFile(o.key).catch((err: unknown) => err as Error);
  if (privateJwk === undefined || privateJwk instanceof Error || privateJwk.d === undefined) {
    io.err(`${o.key}: ${privateJwk === undefined ? 'no such file' : privateJwk instanceof Error ? privateJwk.message : 'not a private key'}`);
    return 2;
  }
  let written: string;
  try {
    written = await signProtocolFile(o.protocol, o.party, privateJwk);
  } catch (err) {
    if (!(err instanceof ProtocolFileError)) throw err;
    printIssues(io, err);
    return 2;
  }
  io.out(`signed ${o.protocol} for ${o.party}: ${written}`);
  // The signature counts only against the key registered for the party.
  const check = (await loadProtocolFile(o.protocol)).signatures.find((s) => s.party === o.party);
  if (check !== undefined && !check.valid) io.err(`warning: against the registered key of ${o.party}: ${check.problem ?? 'does not verify'}`);
  return 0;
}

async function protocolVerify(io: CliIo, opts: unknown): Promise<number> {
  const o = options(io, verifyOptions, opts);
  if (o === undefined) return 2;
  const loaded = await loadProtocolFile(o.protocol).catch((err: unknown) => {
    if (err instanceof ProtocolFileError) return err;
    if ((err as { code?: string }).code === 'ENOENT') return new ProtocolFileError(o.protocol, [{ path: '', message: 'no such file' }]);
    throw err;
  });
  if (loaded instanceof ProtocolFileError) {
    printIssues(io, loaded);
    return 2;
  }
  io.out(`${loaded.id} version ${loaded.version} (${loaded.source}) sha256 ${loaded.digest}`);
  const width = Math.max(...loaded.signatures.map((s) => s.party.length));
  for (const s of loaded.signatures) io.out(`${s.party.padEnd(width)}  ${s.valid ? 'valid' : `INVALID: ${s.problem ?? 'does not verify'}`}`);
  const standing = standingOf(loaded, o.at === undefined ? new Date() : new Date(`${o.at}T00:00:00Z`));
  io.out(standing.inForce ? 'in force' : `NOT in force: ${standing.reason}`);
  return standing.inForce ? 0 : 1;
}

const followUpsOptions = z.strictObject({ asOf: z.iso.date('a date, YYYY-MM-DD') });

async function followUpsRun(io: CliIo, opts: unknown): Promise<number> {
  const parsed = followUpsOptions.safeParse(opts);
  if (!parsed.success) {
    // Named as typed (--as-of), not as commander stores it.
    for (const issue of parsed.error.issues) io.err(`--${issue.path.map(String).join('.').replace('asOf', 'as-of')}: ${issue.message}`);
    return 2;
  }
  const o = parsed.data;
  const config = loadConfig(io.env);
  const policiesDir = config.demo ? await prepareDemoPolicies(config.policiesDir, config.dataDir) : config.policiesDir;
  const protocols = await loadProtocols(policiesDir);
  const schedules = (await loadSchedules(config.schedulesDir)).map((s) => s.schedule);
  const clock = (): Date => new Date();
  return withDatabase(config, async (database) => {
    const deps = {
      db: database.db,
      audit: new AuditRecorder({ hubBaseUrl: config.publicBaseUrl, clock }),
      clock,
      protocols,
      disclosure: new DisclosureService({ protocols, clock }),
      escalateAfterDays: config.followUps.escalateAfterDays,
      schedules,
    };
    const run = await runFollowUpJob(deps, o.asOf, { requestId: `hub-followups-run-${o.asOf}` });
    if (!run.ran) {
      io.out(`follow-up job as of ${o.asOf}: another instance is running it; nothing done`);
      return 1;
    }
    for (const line of run.lines) io.out(line);
    io.out(`follow-up job as of ${o.asOf}: ${run.raised.length} raised, ${run.closed.length} closed, ${run.escalated.length} escalated`);
    return 0;
  });
}

function printIssues(io: CliIo, err: ProtocolFileError): void {
  io.err(`${err.file} cannot be read as a protocol:`);
  for (const issue of err.issues) io.err(`  ${issue.path === '' ? '(document)' : issue.path}: ${issue.message}`);
}
