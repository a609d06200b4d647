/**
 * Per-step judgements for the LLM-in-the-loop methods beyond CAPO: TP-GRPO's thought labels and
 * GroundedPRM's step verdicts. The prompts are data files (prompts/<method>.md, shipped with the
 * package); each asks for one final machine-readable line, `LABELS: [...]` or `VERDICTS: [...]`,
 * with exactly one entry per step. The parsers read the last such line (after any <think> block);
 * an answer without it, or with the wrong count or an unknown entry, is malformed (null).
 */
import { readFileSync } from "node:fs";
import type { ChatMessage } from "./prompt.js";

export type StepJudgement = "tp-grpo" | "groundedprm";

/** The system prompt of a method, from prompts/<method>.md. */
export function stepPrompt(method: StepJudgement): string {
  return readFileSync(new URL(`../../../prompts/${method}.md`, import.meta.url), "utf8").trim();
}

export function buildStepMessages(method: StepJudgement, problem: string, steps: readonly string[], correct?: boolean): ChatMessage[] {
  const lines = [`Problem:\n${problem.trim()}`, ""];
  if (method === "tp-grpo") lines.push(`The final answer is ${correct ? "CORRECT" : "INCORRECT"}.`, "");
  lines.push(`Solution (${steps.length} step${steps.length === 1 ? "" : "s"}):`);
  steps.forEach((s, k) => lines.push(`Step ${k + 1}: ${s.trim()}`));
  lines.push("", `End with the ${method === "tp-grpo" ? "LABELS" : "VERDICTS"} line: one entry per step (${steps.length}).`);
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
