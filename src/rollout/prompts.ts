/**
 * Prompts for `creditflow rollout`: a task's own generator, or a JSONL file of
 * {"id", "tokens"} or {"id", "text"} rows (optional "answer" for the task's verifier).
 * Text is tokenized by the given tokenizer (the task vocabulary, or the GGUF's own); a server
 * backend has no tokenizer here, so text prompts are refused for it.
 */
import { InputError } from "../core/errors.js";

export interface RolloutPrompt {
  id: string;
  tokens: number[];
  text?: string;
  /** What the task's verifier needs, when known. */
  answer?: unknown;
}

/** Parses a prompts JSONL file; every bad line is an InputError naming the file, line and field. */
export function parsePromptsJsonl(text: string, file: string, tokenize: ((text: string) => number[]) | null, vocabSize: number | null): RolloutPrompt[] {
  const out: RolloutPrompt[] = [];
  const seen = new Set<string>();
  text.split("\n").forEach((raw, k) => {
    const line = k + 1;
    if (raw.trim() === "") return;
    let row: unknown;
    try {
      row = JSON.parse(raw);
    } catch (e) {
      throw new InputError(file, line, "", `invalid JSON (${(e as Error).message})`);
    }
    if (typeof row !== "object" || row === null || Array.isArray(row)) throw new InputError(file, line, "", "expected a JSON object");
    const r = row as Record<string, unknown>;
    if (typeof r.id !== "string" || r.id === "") throw new InputError(file, line, "id", "must be a non-empty string");
    if (seen.has(r.id)) throw new InputError(file, line, "id", `duplicate id '${r.id}'`);
    seen.add(r.id);
    let tokens: number[];
    if (r.tokens !== undefined) {
      if (!Array.isArray(r.tokens) || r.tokens.length === 0) throw new InputError(file, line, "tokens", "must be a non-empty array of token ids");
      r.tokens.forEach((t, j) => {
        if (typeof t !== "number" || !Number.isInteger(t) || t < 0 || (vocabSize !== null && t >= vocabSize)) throw new InputError(file, line, `tokens[${j}]`, `${JSON.stringify(t)} is not a token id${vocabSize !== null ? ` in [0, ${vocabSize})` : ""}`);
      });
      tokens = r.tokens as number[];
    } else if (typeof r.text === "string") {
      if (!tokenize) throw new InputError(file, line, "text", "text prompts need a tokenizer: use --task or a gguf model, or tokenize on the server (vLLM: POST /tokenize) and give \"tokens\"");
      try {
        tokens = tokenize(r.text);
      } catch (e) {
        throw new InputError(file, line, "text", (e as Error).message);
      }
      if (tokens.length === 0) throw new InputError(file, line, "text", "tokenizes to no tokens");
    } else throw new InputError(file, line, "", "needs \"tokens\" (token ids) or \"text\"");
    const p: RolloutPrompt = { id: r.id, tokens };
    if (typeof r.text === "string") p.text = r.text;
    if (r.answer !== undefined) p.answer = r.answer;
    out.push(p);
  });
  if (out.length === 0) throw new InputError(file, 0, "", "no prompts");
  return out;
}
