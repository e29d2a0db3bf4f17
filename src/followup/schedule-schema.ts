import { z } from 'zod';

// The routine immunisation schedule as data (policies/schedules/README.md).
// Parsed once at the boundary; the assessment (schedule.ts) trusts these types.

const isoDate = z.iso.date({ message: 'a date as YYYY-MM-DD' });
const kebabId = z.string().regex(/^[a-z0-9]+(-[a-z0-9]+)*$/, 'an id of lower-case letters, digits and hyphens');
/** A SNOMED CT concept id: 6 to 18 digits, no leading zero. See: https://confluence.ihtsdotools.org/display/DOCRELFMT/6.1+SCTID+Data+Type */
const sctid = z.string().regex(/^[1-9]\d{5,17}$/, 'a SNOMED CT concept id (digits, as a quoted string)');
const count = z.number().int().min(0).max(1200);

/** An age as years, months, weeks and days from the birth date (calendar months; see schedule.ts ageReachedOn). */
export const ageSchema = z
  .strictObject({ years: count.optional(), months: count.optional(), weeks: count.optional(), days: count.optional() })
  .refine((a) => a.years !== undefined || a.months !== undefined || a.weeks !== undefined || a.days !== undefined, {
    message: 'an age needs at least one of years, months, weeks, days',
  });

const dateRange = { onOrAfter: isoDate.optional(), before: isoDate.optional() };

/** Which children a dose applies to: by birth date, and/or by the day an age was reached. Both must hold if both are given. */
export const appliesToSchema = z
  .strictObject({
    born: z.strictObject(dateRange).optional(),
    reached: z.strictObject({ age: ageSchema, ...dateRange }).optional(),
  })
  .refine((a) => a.born !== undefined || a.reached !== undefined, { message: 'appliesTo needs born or reached (leave it out for every child)' });

export const groupCodeSchema = z.strictObject({
  code: sctid,
  display: z.string().min(1),
  /** The dose this code names, used when a record carries no dose number of its own. */
  dose: z.number().int().min(1).max(20).optional(),
});

export const antigenGroupSchema = z.strictObject({
  id: kebabId,
  display: z.string().min(1),
  codes: z.array(groupCodeSchema).min(1),
});

export const scheduledDoseSchema = z.strictObject({
  id: kebabId,
  group: kebabId,
  doseNumber: z.number().int().min(1).max(20),
  label: z.string().min(1),
  age: ageSchema,
  appliesTo: appliesToSchema.optional(),
  /** From this age a dose not yet given is no longer offered (rotavirus). */
  noLongerDueFrom: ageSchema.optional(),
  /** The procedure code to recommend; one of its group's codes. */
  vaccineCode: sctid,
});

export const scheduleSchema = z
  .strictObject({
    id: kebabId,
    version: z.number().int().min(1),
    title: z.string().min(1),
    effective: isoDate,
    reviewDate: isoDate,
    reviewedBy: z.strictObject({ organisation: z.string().min(1), role: z.string().min(1) }),
    source: z.array(z.strictObject({ title: z.string().min(1), url: z.url({ protocol: /^https$/ }) })).min(1),
    overdueAfterDays: z.number().int().min(0).max(365),
    groups: z.array(antigenGroupSchema).min(1),
    doses: z.array(scheduledDoseSchema).min(1),
  })
  .superRefine((s, ctx) => {
    const groupIds = new Map<string, number>();
    const codeOwner = new Map<string, string>();
    s.groups.forEach((g, i) => {
      if (groupIds.has(g.id)) ctx.addIssue({ code: 'custom', path: ['groups', i, 'id'], message: `group ${g.id} is listed twice` });
      groupIds.set(g.id, i);
      g.codes.forEach((c, j) => {
        const owner = codeOwner.get(c.code);
        if (owner !== undefined) ctx.addIssue({ code: 'custom', path: ['groups', i, 'codes', j, 'code'], message: `code ${c.code} already belongs to group ${owner}` });
        codeOwner.set(c.code, g.id);
      });
    });
    const doseIds = new Set<string>();
    s.doses.forEach((d, i) => {
      if (doseIds.has(d.id)) ctx.addIssue({ code: 'custom', path: ['doses', i, 'id'], message: `dose ${d.id} is listed twice` });
      doseIds.add(d.id);
      if (!groupIds.has(d.group)) ctx.addIssue({ code: 'custom', path: ['doses', i, 'group'], message: `no group ${d.group} in groups` });
      else if (codeOwner.get(d.vaccineCode) !== d.group) {
        ctx.addIssue({ code: 'custom', path: ['doses', i, 'vaccineCode'], message: `${d.vaccineCode} is not a code of group ${d.group}` });
      }
    });
  });

export type Age = z.infer<typeof ageSchema>;
export type AppliesTo = z.infer<typeof appliesToSchema>;
export type GroupCode = z.infer<typeof groupCodeSchema>;
export type AntigenGroup = z.infer<typeof antigenGroupSchema>;
export type ScheduledDose = z.infer<typeof scheduledDoseSchema>;
export type Schedule = z.infer<typeof scheduleSchema>;
