import { sql } from 'drizzle-orm';
import { SNOMED, VACCINATION_PROCEDURE_EXTENSION } from '../adapters/codes.js';
import { HUB_ORGANISATION } from '../decision/decision-types.js';
import { FOLLOW_UP_SYSTEM } from '../followup/follow-up-task.js';
import { DISTRICT_PARAM } from '../fhir/resource-types.js';
import { rawRows, type Db, type Tx } from './database.js';

// Aggregate counts for the commissioners' figures, computed in the database.
// Only counts per group leave these queries: no content, no id, no person.

/** Inclusive dates, YYYY-MM-DD. */
export interface DateRange {
  start: string;
  end: string;
}

export interface MissedDoseCount {
  month: string;
  district: string;
  /** SNOMED CT vaccination procedure code, or null. */
  procedure: string | null;
  /** SNOMED CT reason the dose was not given, or null. */
  reason: string | null;
  count: number;
}

export interface FollowUpCount {
  month: string;
  district: string;
  kind: string;
  /**
   * SNOMED CT code of the dose the Task's focus is about, or null: the
   * vaccination procedure of a focus Immunization, the vaccine code of a focus
   * ImmunizationRecommendation (an overdue dose).
   */
  procedure: string | null;
  /** SNOMED CT reason a focus Immunization was not given, or null. */
  reason: string | null;
  opened: number;
  completedWithin28Days: number;
}

/** The subject's postcode district (index param address-district), the first in sort order; "unknown" without one. */
function districtOf(type: string): ReturnType<typeof sql> {
  return sql`coalesce((select min(d.value) from resource_reference p
      join resource_token d on d.type = 'Patient' and d.param = ${DISTRICT_PARAM} and d.id = split_part(p.target, '/', 2)
      where p.type = ${type} and p.id = r.id and p.param = 'patient'), 'unknown')`;
}

/** An Immunization's SNOMED CT vaccination procedure (UK Core extension) and not-done reason, and a recommendation's vaccine code. */
const PROCEDURE_PATH = '$.extension[*] ? (@.url == $u).valueCodeableConcept.coding[*] ? (@.system == $s).code';
const REASON_PATH = '$.statusReason.coding[*] ? (@.system == $s).code';
const RECOMMENDED_PATH = '$.recommendation[*].vaccineCode[*].coding[*] ? (@.system == $s).code';

function snomedVars(): ReturnType<typeof sql> {
  return sql`jsonb_build_object('u', ${VACCINATION_PROCEDURE_EXTENSION}::text, 's', ${SNOMED}::text)`;
}

/** Not-done Immunizations dated in the range, by month, district, procedure code and reason code. */
export async function missedDoseCounts(db: Db | Tx, range: DateRange): Promise<MissedDoseCount[]> {
  const [procedurePath, reasonPath, vars] = [PROCEDURE_PATH, REASON_PATH, snomedVars()];
  return rawRows<MissedDoseCount>(
    db,
    sql`with missed as (
      select left(r.content->>'occurrenceDateTime', 7) as month,
        ${districtOf('Immunization')} as district,
        jsonb_path_query_first(r.content, ${procedurePath}::jsonpath, ${vars}) #>> '{}' as procedure,
        jsonb_path_query_first(r.content, ${reasonPath}::jsonpath, ${vars}) #>> '{}' as reason
      from resource r
      where r.type = 'Immunization' and r.content->>'status' = 'not-done'
        and left(r.content->>'occurrenceDateTime', 10) between ${range.start} and ${range.end}
    )
    select month, district, procedure, reason, count(*)::int as count
    from missed group by month, district, procedure, reason order by month, district, procedure, reason`,
  );
}

/**
 * Follow-up Tasks the hub raised (first written by the hub, coded in the
 * follow-up system) with executionPeriod.start in the range: how many were
 * opened and how many completed within 28 days, by month, district, kind,
 * and the dose its focus is about (procedure and reason codes).
 * A Task a partner created is never counted, whatever it claims.
 */
export async function followUpCounts(db: Db | Tx, range: DateRange): Promise<FollowUpCount[]> {
  const kindPath = '$.code.coding[*] ? (@.system == $s).code';
  const stamp = /* ISO date-time or date */ '^\\d{4}-\\d{2}-\\d{2}';
  const vars = snomedVars();
  return rawRows<FollowUpCount>(
    db,
    sql`with task as (
      select left(r.content #>> '{executionPeriod,start}', 7) as month,
        ${districtOf('Task')} as district,
        jsonb_path_query_first(r.content, ${kindPath}::jsonpath, jsonb_build_object('s', ${FOLLOW_UP_SYSTEM}::text)) #>> '{}' as kind,
        case f.type
          when 'Immunization' then jsonb_path_query_first(f.content, ${PROCEDURE_PATH}::jsonpath, ${vars})
          when 'ImmunizationRecommendation' then jsonb_path_query_first(f.content, ${RECOMMENDED_PATH}::jsonpath, ${vars})
        end #>> '{}' as procedure,
        case when f.type = 'Immunization' then jsonb_path_query_first(f.content, ${REASON_PATH}::jsonpath, ${vars}) end #>> '{}' as reason,
        r.content->>'status' = 'completed'
          and coalesce(r.content #>> '{executionPeriod,end}', r.content->>'lastModified') ~ ${stamp}
          and r.content #>> '{executionPeriod,start}' ~ ${stamp}
          and (case when coalesce(r.content #>> '{executionPeriod,end}', r.content->>'lastModified') ~ ${stamp}
                 then coalesce(r.content #>> '{executionPeriod,end}', r.content->>'lastModified')::timestamptz end)
              <= (case when r.content #>> '{executionPeriod,start}' ~ ${stamp}
                 then (r.content #>> '{executionPeriod,start}')::timestamptz end) + interval '28 days' as completed
      from resource r
      left join resource f on f.type in ('Immunization', 'ImmunizationRecommendation')
        and f.type = split_part(r.content #>> '{focus,reference}', '/', 1) and f.id = split_part(r.content #>> '{focus,reference}', '/', 2)
      where r.type = 'Task' and r.source_orgs[1] = ${HUB_ORGANISATION}
        and left(r.content #>> '{executionPeriod,start}', 10) between ${range.start} and ${range.end}
    )
    select month, district, kind, procedure, reason, count(*)::int as opened, (count(*) filter (where completed))::int as "completedWithin28Days"
    from task where kind is not null
    group by month, district, kind, procedure, reason order by month, district, kind, procedure, reason`,
  );
}
