import type { FhirResource } from 'fhir/r4.js';
import { CAF_QUESTIONNAIRE } from '../adapters/caf-questionnaire.js';
import { MEASURES } from '../figures/measures.js';
import type { Db } from '../db/database.js';
import { lockCriteria, readCurrent, writeVersion } from '../db/resource-queries.js';
import { contentForRules, seal } from '../db/undisclosed.js';
import { sameContent } from '../fhir/resource-edits.js';
import { HUB_ORGANISATION } from '../decision/decision-types.js';
import type { AuditRecorder } from './audit-recorder.js';

/** The organisation code the hub writes its own definitional resources under (the decision reads it too). */
export { HUB_ORGANISATION };

/** Resources the hub ships: the canonical CAF Questionnaire that assessments answer, and the commissioners' Measures. */
const DEFINITIONS: readonly FhirResource[] = [CAF_QUESTIONNAIRE, ...MEASURES];

/**
 * Stores the hub's definitional resources, as a new version only when the
 * shipped content changed (so restarts add nothing). Audited like any write.
 */
export async function installDefinitions(db: Db, audit: AuditRecorder, clock: () => Date): Promise<void> {
  for (const definition of DEFINITIONS) {
    const id = definition.id ?? '';
    await audit.transaction(db, async (tx) => {
      // Instances starting together install once: the first holds the lock, the others then find it stored.
      await lockCriteria(tx, `definition:${definition.resourceType}/${id}`);
      const current = await readCurrent(tx, definition.resourceType, id, true);
      // Compared with what ships, to store a new version only when it changed.
      if (current !== undefined && sameContent(contentForRules(current.content) as FhirResource, definition)) return;
      const now = clock();
      const versionId = (current?.versionId ?? 0) + 1;
      const content = { ...definition, meta: { versionId: String(versionId), lastUpdated: now.toISOString() } } as FhirResource;
      await writeVersion(tx, { type: definition.resourceType, id, versionId, lastUpdated: now, sourceOrg: HUB_ORGANISATION, content: seal(content) });
      await audit.rest(tx, { requestId: `install-${definition.resourceType}-${id}` }, { organisationCode: HUB_ORGANISATION }, {
        interaction: versionId === 1 ? 'create' : 'update',
        outcome: 'success',
        outcomeDesc: 'hub definitional resource installed',
        resources: [`${definition.resourceType}/${id}/_history/${versionId}`],
      });
    });
  }
}
