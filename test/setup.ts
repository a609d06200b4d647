/**
 * Loaded into every test process (`node --import ./dist/test/setup.js --test`, see package.json).
 *
 * fast-check runs from a fixed seed, so a test run, and CI on a clean clone, is reproducible: a
 * property that fails, fails again on rerun. `FC_SEED=random npm test` explores new cases (a
 * failure prints the seed and the path to replay it); `FC_SEED=N npm test` replays seed N. Why:
 * random seeds made CI fail on inputs no change had touched (a denormal reward that one summation
 * order rounds to 0 and another does not).
 */
import fc from "fast-check";

const requested = process.env.FC_SEED;
if (requested !== "random") {
  const seed = requested === undefined || requested === "" ? 0x5eed : Number(requested);
  if (!Number.isInteger(seed)) throw new Error(`FC_SEED must be an integer or "random", got ${JSON.stringify(requested)}`);
  fc.configureGlobal({ seed });
}
