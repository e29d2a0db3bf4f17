import type { Communication, EpisodeOfCare, Immunization, Resource, Task } from 'fhir/r4.js';
import { HUB_EXTENSIONS } from '../adapters/codes.js';
import { CAUGHT_UP_EXTENSION as CAUGHT_UP } from './resource-edits.js';
import { SYSTEMS } from './systems.js';

// The hub's subscription topics, and which stored writes each one matches.
// In R4 there is no SubscriptionTopic resource: the Backport IG lets a server
// name its topics by canonical URL; the hub serves each one there as R5
// SubscriptionTopic JSON. See: https://hl7.org/fhir/uv/subscriptions-backport/topics.html
// Pure: who is told is decided later, for each subscriber, when a notification is sent.

export const TOPIC_IDS = ['registration', 'birth', 'missed-dose', 'follow-up-task', 'withdrawal-notice'] as const;
export type TopicId = (typeof TOPIC_IDS)[number];

interface TopicDefinition {
  title: string;
  description: string;
  resource: string;
  interactions: readonly ('create' | 'update')[];
  /** What the trigger reads, in FHIRPath, for people (the hub evaluates it in matchTopics). */
  criteria: string;
}

const PREGNANCY_BABY = `${HUB_EXTENSIONS}/pregnancy-baby`;

export const TOPICS: Readonly<Record<TopicId, TopicDefinition>> = {
  registration: {
    title: "New or changed registration for a children's centre",
    description: "A Patient the hub holds was added or changed (a booking, a birth, a practice's update): a children's centre may register the family.",
    resource: 'Patient',
    interactions: ['create', 'update'],
    criteria: 'Patient',
  },
  birth: {
    title: 'A birth, for health visiting',
    description: "A birth notification ended a mother's pregnancy: the focus is the baby's Patient. Once per baby.",
    resource: 'Patient',
    interactions: ['create', 'update'],
    criteria: `EpisodeOfCare.extension('${PREGNANCY_BABY}').value`,
  },
  'missed-dose': {
    title: 'A missed immunisation dose',
    description: 'A practice recorded a dose not given (Immunization.status not-done). Once per record.',
    resource: 'Immunization',
    interactions: ['create', 'update'],
    criteria: `Immunization.where(status = 'not-done' and extension('${CAUGHT_UP}').empty())`,
  },
  'follow-up-task': {
    title: 'Follow-up work for its owner',
    description: 'A follow-up Task the hub raised, or a change to it, for the organisation that owns it.',
    resource: 'Task',
    interactions: ['create', 'update'],
    criteria: 'Task.where(owner.identifier.exists())',
  },
  'withdrawal-notice': {
    title: 'A withdrawal notice for its recipient',
    description: 'The hub told an organisation that a consent it received data under was withdrawn (or narrowed). Once per notice.',
    resource: 'Communication',
    interactions: ['create'],
    criteria: `Communication.where(category.coding.system = '${SYSTEMS.noticeType}')`,
  },
};

export function isTopicId(id: string): id is TopicId {
  return (TOPIC_IDS as readonly string[]).includes(id);
}

/** The canonical URL of a topic, under the hub's FHIR base. */
export function topicUrl(fhirBase: string, topic: TopicId): string {
  return `${fhirBase}/SubscriptionTopic/${topic}`;
}

/** The topic a canonical names (with or without a |version), if it is one of the hub's. */
export function topicOfUrl(fhirBase: string, url: string): TopicId | undefined {
  const bare = url.split('|')[0] ?? '';
  const prefix = `${fhirBase}/SubscriptionTopic/`;
  if (!bare.startsWith(prefix)) return undefined;
  const id = bare.slice(prefix.length);
  return isTopicId(id) ? id : undefined;
}

/** A topic as R5 SubscriptionTopic JSON. See: https://hl7.org/fhir/R5/subscriptiontopic.html */
export function topicResource(fhirBase: string, topic: TopicId): Record<string, unknown> {
  const t = TOPICS[topic];
  return {
    resourceType: 'SubscriptionTopic',
    id: topic,
    url: topicUrl(fhirBase, topic),
    version: '1',
    title: t.title,
    status: 'active',
    description: t.description,
    resourceTrigger: [
      {
        description: t.description,
        resource: `http://hl7.org/fhir/StructureDefinition/${t.resource}`,
        supportedInteraction: t.interactions,
        fhirPathCriteria: t.criteria,
      },
    ],
    notificationShape: [{ resource: `http://hl7.org/fhir/StructureDefinition/${t.resource}` }],
  };
}

/** One event a write raises: on a topic, about a record, for some organisations only (addressed topics) or any. */
export interface TopicEvent {
  topic: TopicId;
  /** "Type/id" of the record the notification is about. */
  focus: string;
  /** Organisation codes the event can be for at all (the owner, the recipient); undefined: any subscriber, as decided. */
  audience?: readonly string[];
  /** Set for events that happen once per record: a later write of it adds no event. */
  onceKey?: string;
}

/** The events a stored version raises. `resource` is the version as stored (never an answer). */
export function matchTopics(resource: Resource): TopicEvent[] {
  const id = resource.id ?? '';
  switch (resource.resourceType) {
    case 'Patient':
      return [{ topic: 'registration', focus: `Patient/${id}` }];
    case 'EpisodeOfCare':
      return ((resource as EpisodeOfCare).extension ?? [])
        .filter((e) => e.url === PREGNANCY_BABY && e.valueReference?.reference?.startsWith('Patient/') === true)
        .map((e) => {
          const baby = e.valueReference?.reference ?? '';
          return { topic: 'birth', focus: baby, onceKey: `birth|${baby}` };
        });
    case 'Immunization': {
      const dose = resource as Immunization;
      if (dose.status !== 'not-done' || (dose.extension ?? []).some((e) => e.url === CAUGHT_UP)) return [];
      return [{ topic: 'missed-dose', focus: `Immunization/${id}`, onceKey: `missed-dose|Immunization/${id}` }];
    }
    case 'Task': {
      const owner = (resource as Task).owner?.identifier?.value;
      return owner === undefined ? [] : [{ topic: 'follow-up-task', focus: `Task/${id}`, audience: [owner] }];
    }
    case 'Communication': {
      const notice = resource as Communication;
      if (!(notice.category ?? []).some((c) => (c.coding ?? []).some((k) => k.system === SYSTEMS.noticeType))) return [];
      const recipients = (notice.recipient ?? []).flatMap((r) => (r.identifier?.value === undefined ? [] : [r.identifier.value]));
      return [{ topic: 'withdrawal-notice', focus: `Communication/${id}`, audience: recipients, onceKey: `notice|Communication/${id}` }];
    }
    default:
      return [];
  }
}
