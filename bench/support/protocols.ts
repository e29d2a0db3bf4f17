import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { LoadedProtocol } from '../../src/protocol/protocol-schema.js';
import { loadProtocols, prepareDemoPolicies } from '../../src/services/protocol-store.js';

/**
 * The repo's protocols as the hub loads them, signed with throwaway party keys
 * as the demo does at first start (in a temporary directory, removed again).
 */
export async function loadDemoProtocols(): Promise<LoadedProtocol[]> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'eyhub-bench-'));
  try {
    return await loadProtocols(await prepareDemoPolicies(path.resolve(import.meta.dirname, '..', '..', 'policies'), dataDir));
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
}
