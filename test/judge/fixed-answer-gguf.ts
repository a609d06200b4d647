/**
 * A real GGUF judge for tests: a tiny llama-layout model, written by the exporter, whose greedy
 * answer to any prompt is a fixed text, then the end-of-sequence token.
 *
 * How: the vocabulary is the specials, every ASCII character (so any ASCII prompt tokenizes, one
 * byte per token: the GPT-2 vocabulary has no merges) and the answer's pieces as multi-character
 * tokens, which a prompt can never produce. Attention and feed-forward outputs are zero, so the
 * hidden state is the current token's embedding: piece k embeds as the one-hot e(k+1), every
 * other token as e(0). The output matrix maps e(0) to the first piece and e(k+1) to piece k+1
 * (after the last piece, to eos): a chain that starts wherever the prompt ends. The winning logit
 * is 10*sqrt(d) against 0 for every other token, so sampling at any usual temperature gives the
 * same text too.
 */
import { policyToGguf, type GgufVocabSpec } from "../../src/rollout/gguf-export.js";
import type { ModelConfig } from "../../src/train/policy/model.js";

export const PAD = 0, BOS = 1, EOS = 2;

/** A ChatML template in Jinja, as Qwen-style GGUFs carry it. */
export const CHATML_TEMPLATE =
  "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

export interface FixedAnswerModel {
  bytes: Uint8Array;
  /** The token ids of the answer's pieces. */
  pieceIds: number[];
}

/** The GGUF bytes of a model that answers `pieces.join("")`; each piece is one token (two characters or more). */
export function fixedAnswerGguf(pieces: readonly string[], opts: { chatTemplate?: string; contextLength?: number } = {}): FixedAnswerModel {
  const ascii = Array.from({ length: 128 }, (_, c) => String.fromCharCode(c));
  const extra = opts.chatTemplate === undefined ? [] : ["<|im_start|>", "<|im_end|>"];
  for (const p of pieces) if ([...p].length < 2 || pieces.indexOf(p) !== pieces.lastIndexOf(p) || extra.includes(p)) throw new Error(`piece '${p}' must be distinct and at least two characters`);
  const symbols = ["<pad>", "<s>", "</s>", ...ascii, ...extra, ...pieces];
  const first = symbols.length - pieces.length;
  const V = symbols.length;
  const d = Math.max(8, Math.ceil((pieces.length + 1) / 8) * 8);
  const ff = 8;
  const config: ModelConfig = { vocabSize: V, dModel: d, nLayers: 1, nHeads: 2, dFF: ff, maxSeqLen: opts.contextLength ?? 4096, tieEmbeddings: false, normEps: 1e-5, ropeTheta: 10000 };
  const w = new Map<string, Float32Array>();
  const embd = new Float32Array(V * d);
  for (let t = 0; t < V; t++) embd[t * d + (t >= first ? t - first + 1 : 0)] = 1;
  w.set("token_embd.weight", embd);
  w.set("blk.0.attn_norm.weight", new Float32Array(d).fill(1));
  for (const m of ["attn_q", "attn_k", "attn_v", "attn_output"]) w.set(`blk.0.${m}.weight`, new Float32Array(d * d));
  w.set("blk.0.ffn_norm.weight", new Float32Array(d).fill(1));
  w.set("blk.0.ffn_gate.weight", new Float32Array(d * ff));
  w.set("blk.0.ffn_up.weight", new Float32Array(d * ff));
  w.set("blk.0.ffn_down.weight", new Float32Array(ff * d));
  w.set("output_norm.weight", new Float32Array(d).fill(1));
  // [in = d][out = V]: hidden dimension j votes for the token that follows.
  const out = new Float32Array(d * V);
  out[0 * V + first] = 10;
  for (let k = 0; k < pieces.length; k++) out[(k + 1) * V + (k + 1 < pieces.length ? first + k + 1 : EOS)] = 10;
  w.set("output.weight", out);
  const vocab: GgufVocabSpec = { symbols, bos: BOS, eos: EOS, pad: PAD, ...(opts.chatTemplate === undefined ? {} : { chatTemplate: opts.chatTemplate }) };
  return { bytes: policyToGguf(config, w, vocab, "creditflow-fixed-judge"), pieceIds: pieces.map((_, k) => first + k) };
}
