import type { Parameters, Resource } from 'fhir/r4.js';
import { describe, expect, test } from 'vitest';
import { notificationBundle } from '../../src/fhir/subscription-notification.js';
import { endpointAllowed } from '../../src/fhir/subscription-request.js';
import { matchTopics, topicOfUrl } from '../../src/fhir/subscription-topics.js';

// The pure parts of subscriptions: which writes raise which events, which
// endpoints an allow-list admits, and the notification Bundle's shape.

const EXT = 'https://eastside.example/fhir/StructureDefinition';
const NOTICE = 'https://eastside.example/fhir/CodeSystem/notice-type';
const r = (resource: Record<string, unknown>): Resource => resource as unknown as Resource;

describe('matchTopics', () => {
  test.each([
    ['a Patient: a registration', r({ resourceType: 'Patient', id: 'p1' }), [{ topic: 'registration', focus: 'Patient/p1' }]],
    [
      'a pregnancy a birth ended: a birth for each baby, once',
      r({ resourceType: 'EpisodeOfCare', id: 'e1', extension: [{ url: `${EXT}/pregnancy-baby`, valueReference: { reference: 'Patient/b1' } }, { url: `${EXT}/pregnancy-baby`, valueReference: { reference: 'Patient/b2' } }] }),
      [
        { topic: 'birth', focus: 'Patient/b1', onceKey: 'birth|Patient/b1' },
        { topic: 'birth', focus: 'Patient/b2', onceKey: 'birth|Patient/b2' },
      ],
    ],
    ['an open pregnancy: nothing', r({ resourceType: 'EpisodeOfCare', id: 'e1', status: 'active' }), []],
    ['a dose not given: a missed dose, once', r({ resourceType: 'Immunization', id: 'i1', status: 'not-done' }), [{ topic: 'missed-dose', focus: 'Immunization/i1', onceKey: 'missed-dose|Immunization/i1' }]],
    ['a missed dose caught up: nothing', r({ resourceType: 'Immunization', id: 'i1', status: 'not-done', extension: [{ url: `${EXT}/missed-dose-caught-up`, valueDateTime: '2026-01-01' }] }), []],
    ['a dose given: nothing', r({ resourceType: 'Immunization', id: 'i1', status: 'completed' }), []],
    ['a Task with an owner: for that owner only', r({ resourceType: 'Task', id: 't1', owner: { identifier: { value: 'CC-OCEAN' } } }), [{ topic: 'follow-up-task', focus: 'Task/t1', audience: ['CC-OCEAN'] }]],
    ['a Task without an owner: nothing', r({ resourceType: 'Task', id: 't1' }), []],
    [
      'a notice: for its recipient only, once',
      r({ resourceType: 'Communication', id: 'c1', category: [{ coding: [{ system: NOTICE, code: 'consent-withdrawn' }] }], recipient: [{ identifier: { value: 'R9H' } }] }),
      [{ topic: 'withdrawal-notice', focus: 'Communication/c1', audience: ['R9H'], onceKey: 'notice|Communication/c1' }],
    ],
    ['another Communication: nothing', r({ resourceType: 'Communication', id: 'c1', recipient: [{ identifier: { value: 'R9H' } }] }), []],
    ['a Consent: nothing', r({ resourceType: 'Consent', id: 'k1' }), []],
  ])('%s', (_name, resource, events) => {
    expect(matchTopics(resource)).toEqual(events);
  });
});

describe('topicOfUrl', () => {
  test.each([
    ['https://hub.example/fhir/SubscriptionTopic/birth', 'birth'],
    ['https://hub.example/fhir/SubscriptionTopic/birth|1', 'birth'],
    ['https://hub.example/fhir/SubscriptionTopic/everything', undefined],
    ['https://other.example/fhir/SubscriptionTopic/birth', undefined],
    ['Patient?_id=1', undefined],
  ])('%s → %s', (url, topic) => {
    expect(topicOfUrl('https://hub.example/fhir', url)).toBe(topic);
  });
});

describe('endpointAllowed', () => {
  const prefixes = ['https://cc.example/hooks', 'http://127.0.0.1:9090/notifications'];
  test.each([
    ['https://cc.example/hooks', true],
    ['https://cc.example/hooks/ocean', true],
    ['http://127.0.0.1:9090/notifications', true],
    ['https://cc.example/hooksx', false],
    ['https://cc.example/other', false],
    ['http://cc.example/hooks', false], // another scheme
    ['https://cc.example:8443/hooks', false], // another port
    ['https://cc.example.evil.example/hooks', false],
    ['http://127.0.0.1:9091/notifications', false],
  ])('%s → %s', (endpoint, allowed) => {
    expect(endpointAllowed(endpoint, prefixes)).toBe(allowed);
  });
});

describe('notificationBundle', () => {
  const input = {
    fhirBase: 'https://hub.example/fhir',
    subscriptionId: 's1',
    topic: 'registration' as const,
    status: 'active',
    type: 'event-notification' as const,
    eventsSinceStart: 7,
    events: [{ number: 7, recorded: new Date('2026-11-22T10:00:00Z'), focus: 'Patient/p1', body: r({ resourceType: 'Patient', id: 'p1' }) }],
    bundleId: 'b1',
    now: new Date('2026-11-22T10:00:01Z'),
  };
  test.each([
    ['id-only: the URL, not the resource', 'id-only' as const, 2, false],
    ['full-resource: the resource as decided', 'full-resource' as const, 2, true],
    ['empty: the status alone', 'empty' as const, 1, false],
  ])('%s', (_name, content, entries, withResource) => {
    const bundle = notificationBundle({ ...input, content });
    expect(bundle.type).toBe('history');
    expect(bundle.entry).toHaveLength(entries);
    const status = bundle.entry?.[0]?.resource as Parameters;
    expect(status.parameter?.find((p) => p.name === 'events-since-subscription-start')?.valueString).toBe('7');
    const event = status.parameter?.find((p) => p.name === 'notification-event');
    expect(event?.part?.map((p) => p.name)).toEqual(content === 'empty' ? ['event-number', 'timestamp'] : ['event-number', 'timestamp', 'focus']);
    expect(bundle.entry?.[1]?.resource !== undefined).toBe(withResource);
  });
});
