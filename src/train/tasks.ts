/**
 * Task lookup for the trainer: the registered tasks by name, plus any `addition-<d>d` /
 * `addition-<d>d-u` variant (d-digit operands, padded or not) built with the tasks module's
 * own factory, for quick experiments and tiny tests (`addition-1d`).
 */
import type { Task } from "../tasks/types.js";
import { getTask, makeAdditionTask } from "../tasks/index.js";

export function resolveTask(name: string): Task {
  const m = /^addition-([1-7])d(-u)?$/.exec(name);
  if (!m) return getTask(name);
  try {
    return getTask(name);
  } catch {
    return makeAdditionTask({ digits: Number(m[1]), pad: m[2] === undefined });
  }
}
