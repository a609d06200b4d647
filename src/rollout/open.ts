/**
 * Opening a backend by name, and the small glue between tasks and backends.
 */
import type { Vocab } from "../tasks/types.js";
import type { GgufVocabSpec } from "./gguf-export.js";

/** The GGUF vocabulary of a task vocabulary (one symbol per id). */
export function policyVocab(v: Vocab & { symbols?: string }): GgufVocabSpec {
  const symbols = v.symbols !== undefined ? [...v.symbols] : Array.from({ length: v.size }, (_, id) => v.decode([id]));
  return { symbols, bos: v.bos, eos: v.eos, pad: v.pad };
}
