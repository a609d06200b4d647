/**
 * creditflow: fine-grained credit assignment for RL on language models.
 * The browser-safe library entry: the core plus every registered method.
 */
export * from "./core/index.js";
import "./methods/index.js";

// Reward helpers that produce method inputs (browser-safe).
export * as toolcalls from "./rewards/toolcalls.js";
export * as ranking from "./rewards/ranking.js";
export * as macro from "./rewards/macro.js";
export * as steps from "./rewards/steps.js";

// The preference and distillation losses with their gradients (browser-safe).
export * as preference from "./preference/index.js";
