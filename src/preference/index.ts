/** The preference and distillation losses, each with its analytic gradient (docs/preference.md). */
export * from "./common.js";
export * from "./dpo.js";
export * from "./tdpo.js";
export * from "./tgdpo.js";
export * from "./cdpo.js";
export * from "./treg.js";
export * from "./aligndistil.js";
export * from "./intro.js";
export * from "./int.js";
export * from "./sstoken.js";
export * from "./rmt.js";
export * from "./laser.js";
export { PREFERENCE_LOSSES } from "./catalog.js";
