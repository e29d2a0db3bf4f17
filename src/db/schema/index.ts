export * from './organisations.js';
export * from './clients.js';
export * from './resources.js';
export * from './audit.js';
export * from './ingest.js';
export * from './alerts.js';
export * from './ig.js';
export * from './patient-sources.js';
