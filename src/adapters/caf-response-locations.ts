import type { AdapterIssue } from './ingest-unit.js';

// Where a QuestionnaireResponse said each field of the CAF JSON shape it is read
// into, so that a fault the shared CAF schema finds ("assessment.parentsCarers[0].nhsNumber")
// is reported where the sender can find it ("QuestionnaireResponse.item[8].item[2]")
// and, for an item, under the item's linkId ("parent-carer.nhs-number").

export const QR = 'QuestionnaireResponse';

interface Place {
  location: string;
  linkId?: string | undefined;
}

/** Export paths → where the response said them; the longest known prefix wins. */
export class Locations {
  private readonly map = new Map<string, Place>();

  set(exportPath: string, location: string, linkId?: string): void {
    this.map.set(exportPath, { location, linkId });
  }

  of(exportPath: string): Place {
    let best: string | undefined;
    for (const key of this.map.keys()) {
      const boundary = exportPath.charAt(key.length);
      if (exportPath.startsWith(key) && (boundary === '' || boundary === '.' || boundary === '[') && key.length > (best?.length ?? -1)) best = key;
    }
    return best === undefined ? { location: QR } : (this.map.get(best) ?? { location: QR });
  }

  /** A schema issue (located in the export) moved to the response, naming the item it is about. */
  relocate(issue: AdapterIssue): AdapterIssue {
    const { location, linkId } = this.of(issue.location);
    const named = linkId === undefined || issue.diagnostics.startsWith(`${linkId}:`) ? issue.diagnostics : `${linkId}: ${issue.diagnostics}`;
    return { ...issue, diagnostics: named, location };
  }
}
