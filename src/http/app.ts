import express, { type Express } from 'express';
import { trustProxySetting } from './trusted-proxies.js';
import helmet from 'helmet';
import type { Logger } from 'pino';
import { problem } from '../fhir/operation-outcome.js';
import type { AuditLogService } from '../services/audit-log-service.js';
import type { FhirService } from '../services/fhir-service.js';
import type { FiguresService } from '../services/figures-service.js';
import type { IngestService } from '../services/ingest-service.js';
import type { SubscriptionService } from '../services/subscription-service.js';
import type { LoadedProtocol } from '../protocol/protocol-schema.js';
import type { TokenServiceDeps } from '../services/token-service.js';
import { alertRouter } from './alert-routes.js';
import { auditRouter } from './audit-routes.js';
import { tileRouter } from './tile-routes.js';
import { tokenRouter, wellKnownRouter } from './auth-routes.js';
import { errorHandler } from './error-handler.js';
import { fhirRouter } from './fhir-routes.js';
import { figuresRouter } from './figures-routes.js';
import { sendIgProblem } from './ig-error-page.js';
import { igRouter } from './ig-routes.js';
import { ingestRouter } from './ingest-routes.js';
import { patientLabelRouter } from './patient-label-routes.js';
import { reportRouter } from './report-routes.js';
import { subscriptionRouter } from './subscription-routes.js';
import type { GuardDeps } from './guard.js';
import type { ServerLifecycle } from './graceful-shutdown.js';
import { healthRouter } from './health-routes.js';
import type { Readiness } from '../services/readiness.js';
import { requestBounds } from './request-bounds.js';
import { requestContext } from './request-context.js';

export interface AppDeps extends GuardDeps {
  baseUrl: string;
  bodyLimit: string;
  logger: Logger;
  fhir: FhirService;
  /** The commissioners' figures (MeasureReport). */
  figures: FiguresService;
  ingest: IngestService;
  /** Partners' topic-based Subscriptions (R4 Subscriptions Backport IG). */
  subscriptions: SubscriptionService;
  token: TokenServiceDeps;
  auditLog: AuditLogService;
  /** The protocols, for the demographics precedence a lifted label recomposes a Patient by. */
  protocols: readonly LoadedProtocol[];
  /** Proxies whose X-Forwarded-For gives the client address (TRUST_PROXY); none when absent. */
  trustProxy?: readonly string[] | undefined;
  /** Shutdown state: answers say `Connection: close` once stopping. */
  lifecycle: ServerLifecycle;
  /** /readyz's checks. */
  readiness: () => Promise<Readiness>;
  /** The in-flight cap's middleware (503 beyond it). */
  inFlightCap: (req: express.Request, res: express.Response, next: express.NextFunction) => void;
}

export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');
  app.set('trust proxy', trustProxySetting(deps.trustProxy ?? []));
  app.use(helmet());
  app.use(requestContext(deps.logger));
  app.use((_req, res, next) => {
    // Anything the hub answers may carry personal data: never stored by caches.
    res.setHeader('Cache-Control', 'no-store');
    next();
  });
  app.use(deps.lifecycle.middleware);
  // Probes first: never refused by the in-flight cap or the rate limits.
  app.use(healthRouter(deps.readiness));
  app.use(deps.inFlightCap);
  app.use(requestBounds());
  app.use(wellKnownRouter(deps.baseUrl, deps.keys));
  app.use(tokenRouter(deps.token, deps.rateLimits));
  // Ingest first: /fhir/$process-message is an operation, not a resource type.
  app.use(ingestRouter(deps));
  app.use('/fhir', figuresRouter(deps));
  app.use('/fhir', subscriptionRouter(deps));
  app.use('/fhir', fhirRouter(deps));
  // The IG lead's: the verifiable log, reports, alerts, and the /ig page.
  app.use(auditRouter(deps));
  // The same log for any tlog-tiles client: public hashes, no entries.
  app.use(tileRouter(deps));
  app.use(reportRouter(deps));
  app.use(alertRouter(deps));
  app.use(patientLabelRouter(deps));
  app.use(igRouter(deps));
  app.get('/', (_req, res) => {
    res.json({ name: 'Early Years Sharing Hub', fhir: `${deps.baseUrl}/fhir`, smart: `${deps.baseUrl}/.well-known/smart-configuration` });
  });
  app.use((req, res) => {
    sendIgProblem(req, res, problem(404, 'not-found', `${req.method} ${req.path} is not a route of this hub`), {
      title: 'Page not found',
      message: `There is no page at ${req.path} on this hub.`,
      next: 'Check the address, or start again from the information governance page.',
    });
  });
  app.use(errorHandler(deps.logger));
  return app;
}
