/**
 * Task lookup for the trainer: the registered tasks by name, plus `addition-<d>d` (addition
 * with d-digit operands, built with the tasks module's own factory) so a small default run can
 * use an easier variant than the registered 3-digit `addition`.
 */
import type { Task } from "../tasks/types.js";
import { getTask, makeAdditionTask } from "../tasks/index.js";

export function resolveTask(name: string): Task {
  const m = /^addition-([1-7])d$/.exec(name);
  if (m) return makeAdditionTask({ digits: Number(m[1]) });
  return getTask(name);
}
