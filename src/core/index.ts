/**
 * creditflow core: the rollout data model and the shared maths. No runtime dependency and no
 * Node built-in, so it runs in browsers as well as Node.
 */
export * from "./batch.js";
export * from "./errors.js";
export * from "./rows.js";
export * from "./schema.js";
export * from "./registry.js";
export * from "./rewards.js";
export * from "./stats.js";
export * from "./whiten.js";
export * from "./returns.js";
export * from "./segments.js";
export * from "./entropy.js";
export * from "./trie.js";
export * from "./random.js";
