/**
 * Token texts for the page: a task's character vocabulary (`--vocab TASK`; every task shares
 * one) or a tokenizer file (`--tokenizer FILE`): a Hugging Face tokenizer.json (`model.vocab`
 * plus `added_tokens`), a JSON object {token: id}, a JSON array of tokens, or plain text with
 * one token per line (id = line number - 1). Byte-level BPE markers are shown as what they
 * stand for: "Ġ" and "▁" as a space, "Ċ" as a newline.
 */
import { readFileSync } from "node:fs";
import { ConfigError, InputError } from "../core/errors.js";
import { SYMBOLS, getTask } from "../tasks/index.js";
import type { ViewVocab } from "./types.js";

/** Ids beyond this are refused: the table is sent to the browser as a dense array. */
const MAX_VOCAB = 1 << 22;

export function taskVocab(task: string): ViewVocab {
  getTask(task); // an unknown task name is a usage error listing the tasks
  return { source: `task vocabulary (${task})`, tokens: [...SYMBOLS] };
}

function display(token: string): string {
  return token.replace(/[Ġ▁]/g, " ").replace(/Ċ/g, "\n");
}

function fromMap(file: string, map: Record<string, unknown>, field: string, into: (string | null)[]): void {
  for (const [tok, id] of Object.entries(map)) {
    if (typeof id !== "number" || !Number.isInteger(id) || id < 0 || id >= MAX_VOCAB) {
      throw new InputError(file, 0, field ? `${field}.${tok}` : tok, `token id must be an integer in [0, ${MAX_VOCAB}), got ${JSON.stringify(id)}`);
    }
    into[id] = display(tok);
  }
}

export function tokenizerVocab(file: string): ViewVocab {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new ConfigError(`--tokenizer: cannot read '${file}' (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  const tokens: (string | null)[] = [];
  const t = text.trimStart();
  if (t.startsWith("{") || t.startsWith("[")) {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw new InputError(file, 0, "", `invalid JSON (${(e as Error).message})`);
    }
    if (Array.isArray(json)) {
      json.forEach((tok, id) => {
        if (typeof tok !== "string") throw new InputError(file, 0, `[${id}]`, "expected a string");
        tokens[id] = display(tok);
      });
    } else {
      const o = json as Record<string, unknown>;
      const model = o.model as Record<string, unknown> | undefined;
      if (model && typeof model.vocab === "object" && model.vocab !== null && !Array.isArray(model.vocab)) {
        fromMap(file, model.vocab as Record<string, unknown>, "model.vocab", tokens);
        if (Array.isArray(o.added_tokens)) {
          o.added_tokens.forEach((a: unknown, k: number) => {
            const at = a as Record<string, unknown>;
            if (typeof at?.content !== "string") throw new InputError(file, 0, `added_tokens[${k}].content`, "expected a string");
            fromMap(file, { [at.content]: at.id }, `added_tokens[${k}]`, tokens);
          });
        }
      } else if (model && Array.isArray(model.vocab)) {
        // Unigram (sentencepiece) tokenizer.json: [[piece, score], ...], id = position.
        (model.vocab as unknown[]).forEach((p, id) => {
          if (!Array.isArray(p) || typeof p[0] !== "string") throw new InputError(file, 0, `model.vocab[${id}]`, "expected [piece, score]");
          tokens[id] = display(p[0]);
        });
      } else {
        fromMap(file, o, "", tokens);
      }
    }
  } else {
    const lines = text.split("\n");
    if (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
    lines.forEach((l, id) => (tokens[id] = display(l.replace(/\r$/, ""))));
  }
  if (tokens.length === 0) throw new InputError(file, 0, "", "no tokens found");
  // Dense for JSON: holes become null.
  return { source: file, tokens: Array.from(tokens, (x) => x ?? null) };
}
