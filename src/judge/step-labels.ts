/**
 * Per-step judgements for the LLM-in-the-loop methods beyond CAPO: TP-GRPO's thought labels and
 * GroundedPRM's step verdicts. The prompts are data files (prompts/<method>.md, shipped with the
 * package); each asks for one final machine-readable line, `LABELS: [...]` or `VERDICTS: [...]`,
 * with exactly one entry per step. The parsers read the last such line (after any <think> block);
 * an answer without it, or with the wrong count or an unknown entry, is malformed (null).
 */
import { readFileSync } from "node:fs";
import type { ChatMessage } from "./prompt.js";

export type StepJudgement = "tp-grpo" | "groundedprm" | "calm" | "sotopia";

/** The system prompt of a method, from prompts/<method>.md. */
export function stepPrompt(method: StepJudgement): string {
  return readFileSync(new URL(`../../../prompts/${method}.md`, import.meta.url), "utf8").trim();
}

const ANSWER_KEY: Record<StepJudgement, string> = { "tp-grpo": "LABELS", groundedprm: "VERDICTS", calm: "SUBGOALS", sotopia: "ATTRIBUTIONS" };

/**
 * The chat messages for one judgement of a rollout's steps. `extra` carries what a method adds:
 * tp-grpo the correctness; calm preset subgoals; sotopia the dimensions and episode scores.
 */
export function buildStepMessages(method: StepJudgement, problem: string, steps: readonly string[], correct?: boolean, extra: Record<string, unknown> = {}): ChatMessage[] {
  const lines = [`${method === "sotopia" ? "Goal and context" : method === "calm" ? "Task" : "Problem"}:\n${problem.trim()}`, ""];
  if (method === "tp-grpo") lines.push(`The final answer is ${correct ? "CORRECT" : "INCORRECT"}.`, "");
  if (method === "calm" && Array.isArray(extra.subgoals) && extra.subgoals.length > 0) lines.push(`Subgoals: ${JSON.stringify(extra.subgoals)}`, "");
  if (method === "sotopia") lines.push(`Episode scores: ${JSON.stringify(extra.scores ?? {})}`, `Dimensions: ${JSON.stringify(extra.dimensions ?? [])}`, "");
  const unit = method === "sotopia" ? "Utterance" : "Step";
  lines.push(`${method === "sotopia" ? "Conversation" : method === "calm" ? "Trajectory" : "Solution"} (${steps.length} ${unit.toLowerCase()}${steps.length === 1 ? "" : "s"}):`);
  steps.forEach((s, k) => lines.push(`${unit} ${k + 1}: ${s.trim()}`));
  lines.push("", `End with the ${ANSWER_KEY[method]} line: one entry per ${unit.toLowerCase()} (${steps.length}).`);
  return [
    { role: "system", content: stepPrompt(method) },
    { role: "user", content: lines.join("\n") },
  ];
}

function lastList(answer: string, key: string): string[] | null {
  const text = answer.replace(/<think>[\s\S]*?<\/think>/g, "");
  const matches = [...text.matchAll(new RegExp(`${key}\\s*:\\s*\\[([^\\]]*)\\]`, "gi"))];
  if (matches.length === 0) return null;
  const body = matches[matches.length - 1][1].trim();
  return body === "" ? [] : body.split(",").map((x) => x.trim().replace(/^["']|["']$/g, ""));
}

/** TP-GRPO labels (C/W for a correct response, M/U for an incorrect one), or null when malformed. */
export function parseThoughtLabels(answer: string, nSteps: number, correct: boolean): string[] | null {
  const items = lastList(answer, "LABELS");
  if (!items || items.length !== nSteps) return null;
  const allowed = correct ? ["C", "W"] : ["M", "U"];
  const labels = items.map((x) => x.toUpperCase());
  return labels.every((x) => allowed.includes(x)) ? labels : null;
}

/** GroundedPRM verdicts (+1, -1, 0), or null when malformed. */
export function parseVerdicts(answer: string, nSteps: number): number[] | null {
  const items = lastList(answer, "VERDICTS");
  if (!items || items.length !== nSteps) return null;
  const v = items.map((x) => Number(x.replace(/^\+/, "")));
  return v.every((x) => x === 1 || x === -1 || x === 0) ? v : null;
}

/** The JSON value after the last `KEY:` line (after any <think> block), or undefined. */
function lastJson(answer: string, key: string): unknown {
  const text = answer.replace(/<think>[\s\S]*?<\/think>/g, "");
  const matches = [...text.matchAll(new RegExp(`${key}\\s*:\\s*(.+)$`, "gim"))];
  if (matches.length === 0) return undefined;
  try {
    return JSON.parse(matches[matches.length - 1][1].trim()) as unknown;
  } catch {
    return undefined;
  }
}

/** CALM: per step, the subgoal names achieved there; null when malformed. */
export function parseSubgoals(answer: string, nSteps: number): string[][] | null {
  const v = lastJson(answer, "SUBGOALS");
  if (!Array.isArray(v) || v.length !== nSteps) return null;
  return v.every((x) => Array.isArray(x) && x.every((g) => typeof g === "string")) ? (v as string[][]) : null;
}

/** Sotopia: per dimension, an integer attribution in 0..3 per utterance; null when malformed. */
export function parseAttributions(answer: string, nSteps: number, dimensions: readonly string[]): Record<string, number[]> | null {
  const v = lastJson(answer, "ATTRIBUTIONS");
  if (typeof v !== "object" || v === null || Array.isArray(v)) return null;
  const out: Record<string, number[]> = {};
  for (const d of dimensions) {
    const a = (v as Record<string, unknown>)[d];
    if (!Array.isArray(a) || a.length !== nSteps || a.some((x) => !Number.isInteger(x) || (x as number) < 0 || (x as number) > 3)) return null;
    out[d] = a as number[];
  }
  return out;
}

