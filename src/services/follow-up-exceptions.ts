import type { EpisodeOfCare, Observation, RelatedPerson } from 'fhir/r4.js';
import { HUB_IDS } from '../adapters/codes.js';
import { NHS_NUMBER_SYSTEM } from '../adapters/nhs-number.js';
import { currentOfType, currentWithIdentifierSystem } from '../db/follow-up-queries.js';
import { findByIdentifier, findReferring } from '../db/ingest-queries.js';
import {
  birthNotifiedSince,
  birthWithoutBookingSpecs,
  expectedDelivery,
  isOngoingPregnancy,
  isPregnancyEpisode,
  isPregnancyOverdue,
  pregnancyOverdueSpecs,
} from '../followup/follow-up-rules.js';
import { content, type FollowUpRunContext } from './follow-up-run.js';

// The job's exception reports (story step 11): a birth notified for a mother
// the hub has no booking for, and a pregnancy four weeks past its due date
// with no birth. Each is work for the maternity unit concerned and the health
// visitors, closed by the hub when the booking or the birth arrives.

const RELATED_PERSON_KEY_SYSTEM = `${HUB_IDS}/related-person-key`;

/** Births and pregnancies, in that order: the pregnancies read the births notified for each mother. */
export async function exceptionReports(ctx: FollowUpRunContext): Promise<void> {
  const birthsByMother = await births(ctx);
  await pregnancies(ctx, birthsByMother);
}

/** Births notified by a maternity unit for a mother with no pregnancy episode: an exception until a booking arrives. Returns birth dates by mother's NHS number. */
async function births(ctx: FollowUpRunContext): Promise<Map<string, string[]>> {
  const birthsByMother = new Map<string, string[]>();
  for (const row of await currentWithIdentifierSystem(ctx.tx, 'RelatedPerson', RELATED_PERSON_KEY_SYSTEM)) {
    const relation = content(row) as RelatedPerson;
    const baby = relation.patient.reference;
    const notifiedBy = ctx.maternity.filter((m) => (row.sourceOrgs ?? [row.sourceOrg]).includes(m.code));
    const motherNhs = relation.identifier?.find((i) => i.system === NHS_NUMBER_SYSTEM)?.value;
    const isMother = relation.identifier?.some((i) => i.system === RELATED_PERSON_KEY_SYSTEM && (i.value ?? '').endsWith(':MTH')) ?? false;
    if (baby === undefined || motherNhs === undefined || !isMother || notifiedBy.length === 0) continue;
    const born = (await ctx.patient(baby))?.birthDate;
    if (born !== undefined) birthsByMother.set(motherNhs, [...(birthsByMother.get(motherNhs) ?? []), born]);
    const mother = await findByIdentifier(ctx.tx, 'Patient', NHS_NUMBER_SYSTEM, motherNhs);
    const episodes = mother === undefined ? [] : await findReferring(ctx.tx, 'EpisodeOfCare', 'patient', `Patient/${mother.id}`);
    if (episodes.some((e) => isPregnancyEpisode(content(e) as EpisodeOfCare))) {
      await ctx.close({ focus: baby, kinds: ['birth-without-booking'] }, 'completed', 'booking-received', 'A booking for the mother has been received');
      continue;
    }
    await ctx.raise(birthWithoutBookingSpecs(baby, notifiedBy, ctx.healthVisitors, ctx.now()));
  }
  return birthsByMother;
}

/** Pregnancies four weeks past their due date with no birth: an exception until the birth (or a new due date) arrives. */
async function pregnancies(ctx: FollowUpRunContext, birthsByMother: ReadonlyMap<string, string[]>): Promise<void> {
  for (const row of await currentOfType(ctx.tx, 'EpisodeOfCare')) {
    const episode = content(row) as EpisodeOfCare;
    const mother = episode.patient.reference;
    if (!isPregnancyEpisode(episode) || mother === undefined) continue;
    const focus = `EpisodeOfCare/${row.id}`;
    const motherNhs = (await ctx.patient(mother))?.identifier?.find((i) => i.system === NHS_NUMBER_SYSTEM)?.value;
    const births = motherNhs === undefined ? [] : (birthsByMother.get(motherNhs) ?? []);
    if (!isOngoingPregnancy(episode) || birthNotifiedSince(episode, births)) {
      if (episode.status === 'finished' || births.length > 0) await ctx.close({ focus, kinds: ['pregnancy-overdue'] }, 'completed', 'birth-notified', 'The birth has been notified');
      continue;
    }
    const observations = (await findReferring(ctx.tx, 'Observation', 'subject', mother)).map((r) => content(r) as Observation);
    const edd = expectedDelivery(episode, observations);
    if (edd === undefined) continue;
    if (!isPregnancyOverdue(episode, edd, ctx.asOf)) {
      await ctx.close({ focus, kinds: ['pregnancy-overdue'] }, 'completed', 'booking-received', `A later booking gives the due date ${edd}`);
      continue;
    }
    const managing = episode.managingOrganization?.identifier?.value;
    const unit = ctx.maternity.find((m) => m.code === managing) ?? ctx.maternity.find((m) => (row.sourceOrgs ?? [row.sourceOrg]).includes(m.code));
    await ctx.raise(pregnancyOverdueSpecs(focus, mother, edd, unit, ctx.healthVisitors, ctx.now()));
  }
}
