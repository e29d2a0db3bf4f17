import fc from 'fast-check';

// Property tests explore new random cases on every local run. CI sets
// FC_SEED so that a landing never depends on the luck of the draw; a failure
// found locally prints its seed and path, and becomes a fixed regression case.
const seed = process.env['FC_SEED'];
if (seed !== undefined && seed !== '') {
  if (!/^-?\d+$/.test(seed)) throw new Error(`FC_SEED must be an integer, not ${seed}`);
  fc.configureGlobal({ seed: Number(seed) });
}
