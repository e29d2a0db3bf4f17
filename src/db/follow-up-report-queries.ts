import { sql } from 'drizzle-orm';
import { HUB_ORGANISATION } from '../decision/decision-types.js';
import { rawRows, type Db, type Tx } from './database.js';
import type { RecordedRange } from './audit-search-queries.js';

// The IG lead's view of the follow-up work the hub raised: how much, for whom,
// how far it has got, and what has stalled. Counts only: no child in it.

export interface FollowUpReportRow {
  /** The month the work was raised (YYYY-MM, UTC). */
  month: string;
  kind: string;
  organisationCode: string;
  organisationName: string;
  status: string;
  businessStatus: string;
  tasks: number;
  /** Still `requested` (nobody has acted) and unchanged since before the stall bound. */
  stalled: number;
  /** Completed within 28 days of being raised. */
  completedWithin28Days: number;
}

export async function followUpReport(db: Db | Tx, range: RecordedRange, stalledBefore: Date): Promise<FollowUpReportRow[]> {
  const rows = await rawRows<{
    month: string;
    kind: string;
    owner: string;
    owner_name: string;
    status: string;
    business: string;
    tasks: number;
    stalled: number;
    completed_28: number;
  }>(
    db,
    sql`select to_char((t.content->>'authoredOn')::timestamptz at time zone 'UTC', 'YYYY-MM') as month,
        coalesce(t.content->'code'->'coding'->0->>'code', '') as kind,
        coalesce(t.content->'owner'->'identifier'->>'value', '') as owner,
        coalesce(o.name, '') as owner_name,
        t.content->>'status' as status,
        coalesce(t.content->'businessStatus'->'coding'->0->>'code', '') as business,
        count(*)::int as tasks,
        (count(*) filter (where t.content->>'status' = 'requested' and t.last_updated < ${stalledBefore.toISOString()}::timestamptz))::int as stalled,
        (count(*) filter (where t.content->>'status' = 'completed'
          and (t.content->'executionPeriod'->>'end')::timestamptz <= (t.content->>'authoredOn')::timestamptz + interval '28 days'))::int as completed_28
      from resource t
      left join organisation o on o.code = t.content->'owner'->'identifier'->>'value'
      where t.type = 'Task' and t.source_org = ${HUB_ORGANISATION}
        ${range.from === undefined ? sql`` : sql`and (t.content->>'authoredOn')::timestamptz >= ${range.from.toISOString()}::timestamptz`}
        ${range.to === undefined ? sql`` : sql`and (t.content->>'authoredOn')::timestamptz < ${range.to.toISOString()}::timestamptz`}
      group by 1, 2, 3, 4, 5, 6
      order by 1, 2, 3, 5, 6`,
  );
  return rows.map((r) => ({
    month: r.month,
    kind: r.kind,
    organisationCode: r.owner,
    organisationName: r.owner_name,
    status: r.status,
    businessStatus: r.business,
    tasks: r.tasks,
    stalled: r.stalled,
    completedWithin28Days: r.completed_28,
  }));
}
