import { Router, type NextFunction, type Request, type Response } from 'express';
import { problem } from '../fhir/operation-outcome.js';
import type { SubscriptionService } from '../services/subscription-service.js';
import { must, queryPairs } from './fhir-routes.js';
import { bodyErrors, guard, refuseAudited, type GuardDeps } from './guard.js';
import { jsonBody } from './json-body.js';
import { metaOf } from './request-context.js';
import { sendFhir } from './send.js';

// Topic-based subscriptions (R4 Subscriptions Backport IG): the hub's topics,
// a partner's own Subscriptions, $status and $events. Mounted under /fhir
// before the generic resource routes. See: https://hl7.org/fhir/uv/subscriptions-backport/

const JSON_TYPES = ['application/fhir+json', 'application/json'];

export function subscriptionRouter(deps: GuardDeps & { subscriptions: SubscriptionService; bodyLimit: string }): Router {
  const router = Router();
  const subs = deps.subscriptions;
  const parseJson = jsonBody(JSON_TYPES, deps.bodyLimit);
  // Authenticated only: the service checks the Subscription scope, so a refusal is audited with the interaction.
  const authenticated = (interaction: Parameters<typeof guard>[1]): ReturnType<typeof guard> => guard(deps, interaction, 'r', null);

  const requireJson = (req: Request, res: Response, next: NextFunction): void => {
    if (req.get('content-type') !== undefined && req.is(JSON_TYPES) !== false) {
      next();
      return;
    }
    refuseAudited(deps, req, res, 'create', problem(415, 'not-supported', 'send the Subscription as application/fhir+json', 'Content-Type')).catch(next);
  };

  // The topics' canonical URLs resolve here: definitions, no personal data, like the CapabilityStatement.
  router.get('/SubscriptionTopic', (_req, res) => {
    sendFhir(res, subs.topics());
  });
  router.get('/SubscriptionTopic/:id', (req, res) => {
    sendFhir(res, subs.topic(req.params['id']));
  });

  router.post('/Subscription', authenticated('create'), requireJson, parseJson, async (req, res) => {
    sendFhir(res, await subs.create(must(res), req.body as unknown, metaOf(req, res)));
  });
  router.get('/Subscription', authenticated('search-type'), async (req, res) => {
    sendFhir(res, await subs.search(must(res), metaOf(req, res)));
  });
  router.get('/Subscription/:id', authenticated('read'), async (req, res) => {
    sendFhir(res, await subs.read(must(res), String(req.params['id']), metaOf(req, res)));
  });
  router.delete('/Subscription/:id', authenticated('operation'), async (req, res) => {
    sendFhir(res, await subs.remove(must(res), String(req.params['id']), metaOf(req, res)));
  });
  router.get('/Subscription/:id/$status', authenticated('operation'), async (req, res) => {
    sendFhir(res, await subs.status(must(res), String(req.params['id']), metaOf(req, res)));
  });
  router.get('/Subscription/:id/$events', authenticated('operation'), async (req, res) => {
    sendFhir(res, await subs.events(must(res), String(req.params['id']), queryPairs(req), metaOf(req, res)));
  });
  router.use('/Subscription', bodyErrors(deps, deps.bodyLimit, () => 'create'));
  return router;
}
