/**
 * creditflow: fine-grained credit assignment for RL on language models.
 * The browser-safe library entry: the core plus every registered method.
 */
export * from "./core/index.js";
import "./methods/index.js";
